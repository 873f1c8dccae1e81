#include "vr_sniff.h"

#include <stdio.h>
#include <string.h>

#include "vr_generation.h"
#include "vr_log.h"

static int finish_found(const struct vr_instance *inst, struct vr_sniff_out *out)
{
    out->domain[sizeof(out->domain) - 1] = '\0';
    out->protocol[sizeof(out->protocol) - 1] = '\0';
    out->alpn[sizeof(out->alpn) - 1] = '\0';
    if (out->protocol[0] == '\0')
        snprintf(out->protocol, sizeof(out->protocol), "%s", vr_instance_sniffer(inst)->protocol);
    return VR_SNIFF_DONE_FOUND;
}

/* A sniffer built before ABI 1.0's networks field meant "TCP" by default. */
static bool takes(const struct vr_sniffer_ops *ops, uint32_t network)
{
    return ops->networks == 0 ? network == VR_NET_TCP : (ops->networks & network) != 0;
}

int vr_sniff_run(const struct vr_generation *g, const struct vr_listener_cfg *l, const uint8_t *data, size_t len,
                 struct vr_sniff_out *out)
{
    bool waiting = false;
    for (int i = 0; i < l->n_sniff; i++) {
        struct vr_instance *inst = vr_generation_sniffer(g, l->sniff[i]);
        if (inst == NULL || vr_instance_sniffer(inst)->sniff == NULL || !takes(vr_instance_sniffer(inst), VR_NET_TCP))
            continue;
        memset(out, 0, sizeof(*out));
        out->size = sizeof(*out);
        int r = vr_instance_sniffer(inst)->sniff(inst->state, data, len, out);
        if (r == VR_SNIFF_FOUND)
            return finish_found(inst, out);
        if (r == VR_SNIFF_MORE)
            waiting = true;
        else if (r == VR_SNIFF_INVALID)
            vr_debug("sniffer %s: malformed first bytes (%zu bytes)", l->sniff[i], len);
    }
    memset(out, 0, sizeof(*out));
    if (waiting && len < VR_SNIFF_MAX_BYTES)
        return VR_SNIFF_WAIT;
    return VR_SNIFF_DONE_UNKNOWN;
}

static bool datagram_sniffer(const struct vr_instance *inst)
{
    return inst && vr_instance_sniffer(inst)->sniff_datagrams && takes(vr_instance_sniffer(inst), VR_NET_UDP);
}

bool vr_sniff_any_datagram(const struct vr_generation *g, const struct vr_listener_cfg *l)
{
    for (int i = 0; i < l->n_sniff; i++)
        if (datagram_sniffer(vr_generation_sniffer(g, l->sniff[i])))
            return true;
    return false;
}

int vr_sniff_run_datagrams(const struct vr_generation *g, const struct vr_listener_cfg *l, const struct iovec *dgrams,
                           size_t n, struct vr_sniff_out *out)
{
    bool waiting = false;
    for (int i = 0; i < l->n_sniff; i++) {
        struct vr_instance *inst = vr_generation_sniffer(g, l->sniff[i]);
        if (!datagram_sniffer(inst))
            continue;
        memset(out, 0, sizeof(*out));
        out->size = sizeof(*out);
        int r = vr_instance_sniffer(inst)->sniff_datagrams(inst->state, dgrams, n, out);
        if (r == VR_SNIFF_FOUND)
            return finish_found(inst, out);
        if (r == VR_SNIFF_MORE)
            waiting = true;
        else if (r == VR_SNIFF_INVALID)
            vr_debug("sniffer %s: malformed first datagrams (%zu)", l->sniff[i], n);
    }
    memset(out, 0, sizeof(*out));
    if (waiting && n < VR_SNIFF_MAX_DATAGRAMS)
        return VR_SNIFF_WAIT;
    return VR_SNIFF_DONE_UNKNOWN;
}
