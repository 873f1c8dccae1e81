#include "vr_sniff.h"

#include <stdio.h>
#include <string.h>

#include "vr_generation.h"
#include "vr_log.h"

int vr_sniff_run(const struct vr_generation *g, const struct vr_listener_cfg *l, const uint8_t *data, size_t len,
                 struct vr_sniff_out *out)
{
    bool waiting = false;
    for (int i = 0; i < l->n_sniff; i++) {
        struct vr_instance *inst = vr_generation_sniffer(g, l->sniff[i]);
        if (inst == NULL || vr_instance_sniffer(inst)->sniff == NULL)
            continue;
        memset(out, 0, sizeof(*out));
        out->size = sizeof(*out);
        int r = vr_instance_sniffer(inst)->sniff(inst->state, data, len, out);
        if (r == VR_SNIFF_FOUND) {
            out->domain[sizeof(out->domain) - 1] = '\0';
            out->protocol[sizeof(out->protocol) - 1] = '\0';
            out->alpn[sizeof(out->alpn) - 1] = '\0';
            if (out->protocol[0] == '\0')
                snprintf(out->protocol, sizeof(out->protocol), "%s", vr_instance_sniffer(inst)->protocol);
            return VR_SNIFF_DONE_FOUND;
        }
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
