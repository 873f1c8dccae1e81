#include "vr_sniff.h"

#include <stdio.h>
#include <string.h>

#include "vr_config.h"
#include "vr_generation.h"
#include "vr_log.h"

static int finish_found(const struct vr_sniffer_ops *ops, struct vr_sniff_out *out)
{
    out->domain[sizeof(out->domain) - 1] = '\0';
    out->protocol[sizeof(out->protocol) - 1] = '\0';
    out->alpn[sizeof(out->alpn) - 1] = '\0';
    if (out->protocol[0] == '\0')
        snprintf(out->protocol, sizeof(out->protocol), "%s", ops->protocol);
    return VR_SNIFF_DONE_FOUND;
}

/* A sniffer built before ABI 1.0's networks field meant "TCP" by default. */
static bool takes(const struct vr_sniffer_ops *ops, uint32_t network)
{
    return ops->networks == 0 ? network == VR_NET_TCP : (ops->networks & network) != 0;
}

_Static_assert(VR_SNIFF_SET_MAX >= VR_MAX_SNIFFERS, "a sniff set holds every sniffer of a listener");

void vr_sniff_set_tcp(const struct vr_gen_set *g, const struct vr_listener_cfg *l, struct vr_sniff_set *set)
{
    set->n = 0;
    for (int i = 0; i < l->n_sniff && set->n < VR_SNIFF_SET_MAX; i++) {
        struct vr_instance *inst = vr_gen_set_sniffer(g, l->sniff[i]);
        if (inst == NULL || vr_instance_sniffer(inst)->sniff == NULL || !takes(vr_instance_sniffer(inst), VR_NET_TCP))
            continue;
        set->ops[set->n] = vr_instance_sniffer(inst);
        set->state[set->n] = inst->state;
        set->name[set->n] = l->sniff[i];
        set->n++;
    }
}

/* sniff_wake is a 1.1 field: a module built for 1.0 has a shorter table. */
typedef int (*vr_sniff_wake_fn)(void *state, const uint8_t *data, size_t seen, size_t len, uint64_t *mark);
static vr_sniff_wake_fn wake_of(const struct vr_sniffer_ops *ops)
{
    return VR_HAS(ops, sniff_wake) ? ops->sniff_wake : NULL;
}

/* One run. A sniffer with sniff_wake promised prefix consistency, so once it
 * said NOT_MINE or INVALID it is marked in *settled and not asked again;
 * a 1.0 sniffer is asked every run. examined adds len per sniffer asked. */
static int run_set(const struct vr_sniff_set *set, const uint8_t *data, size_t len, struct vr_sniff_out *out,
                   uint32_t *settled, uint64_t *examined)
{
    bool waiting = false;
    for (int i = 0; i < set->n; i++) {
        if (settled && (*settled & (1u << i)))
            continue;
        if (examined)
            *examined += len;
        memset(out, 0, sizeof(*out));
        out->size = sizeof(*out);
        int r = set->ops[i]->sniff(set->state[i], data, len, out);
        if (r == VR_SNIFF_FOUND)
            return finish_found(set->ops[i], out);
        if (r == VR_SNIFF_MORE) {
            waiting = true;
            continue;
        }
        if (settled && wake_of(set->ops[i]))
            *settled |= 1u << i;
        if (r == VR_SNIFF_INVALID)
            vr_debug("sniffer %s: malformed first bytes (%zu bytes)", set->name[i], len);
    }
    memset(out, 0, sizeof(*out));
    if (waiting && len < VR_SNIFF_MAX_BYTES)
        return VR_SNIFF_WAIT;
    return VR_SNIFF_DONE_UNKNOWN;
}

int vr_sniff_set_run(const struct vr_sniff_set *set, const uint8_t *data, size_t len, struct vr_sniff_out *out)
{
    return run_set(set, data, len, out, NULL, NULL);
}

int vr_sniff_run(const struct vr_gen_set *g, const struct vr_listener_cfg *l, const uint8_t *data, size_t len,
                 struct vr_sniff_out *out)
{
    struct vr_sniff_set set;
    vr_sniff_set_tcp(g, l, &set);
    return vr_sniff_set_run(&set, data, len, out);
}

/* ---- the stream driver (see vr_sniff.h for why and when it runs) */

void vr_sniff_stream_init(struct vr_sniff_stream *st)
{
    memset(st, 0, sizeof(*st));
    st->eager_reads = VR_SNIFF_EAGER_READS;
}

static int stream_run(const struct vr_sniff_set *set, struct vr_sniff_stream *st, const uint8_t *data, size_t len,
                      struct vr_sniff_out *out)
{
    st->last_run = len;
    st->runs++;
    return run_set(set, data, len, out, &st->settled, &st->run_bytes);
}

int vr_sniff_stream_feed(const struct vr_sniff_set *set, struct vr_sniff_stream *st, const uint8_t *data, size_t len,
                         struct vr_sniff_out *out)
{
    bool run = len >= VR_SNIFF_MAX_BYTES;
    bool blind = false; /* an undecided sniffer that cannot tell us when to look */
    for (int i = 0; i < set->n; i++) {
        if (st->settled & (1u << i))
            continue;
        vr_sniff_wake_fn wake = wake_of(set->ops[i]);
        if (wake == NULL) {
            blind = true;
            continue;
        }
        /* Every wake sees every byte once, even when a run is already due,
         * so each one's mark stays in step with the stream. */
        st->wake_bytes += len - st->seen;
        if (wake(set->state[i], data, st->seen, len, &st->mark[i]))
            run = true;
    }
    st->seen = len;
    /* Sniffers that cannot say when to look: on each of the first reads (a
     * head in a few segments is not delayed), then each time the buffer grew
     * by half (a geometric series: under 3x the bytes in all). */
    if (blind && (++st->reads <= st->eager_reads || len - st->last_run >= st->last_run / 2))
        run = true;
    if (!run) {
        memset(out, 0, sizeof(*out));
        return VR_SNIFF_WAIT;
    }
    return stream_run(set, st, data, len, out);
}

int vr_sniff_stream_settle(const struct vr_sniff_set *set, struct vr_sniff_stream *st, const uint8_t *data,
                           size_t len, struct vr_sniff_out *out)
{
    return stream_run(set, st, data, len, out);
}

static bool datagram_sniffer(const struct vr_instance *inst)
{
    return inst && vr_instance_sniffer(inst)->sniff_datagrams && takes(vr_instance_sniffer(inst), VR_NET_UDP);
}

bool vr_sniff_any_datagram(const struct vr_gen_set *g, const struct vr_listener_cfg *l)
{
    for (int i = 0; i < l->n_sniff; i++)
        if (datagram_sniffer(vr_gen_set_sniffer(g, l->sniff[i])))
            return true;
    return false;
}

int vr_sniff_run_datagrams(const struct vr_gen_set *g, const struct vr_listener_cfg *l, const struct iovec *dgrams,
                           size_t n, struct vr_sniff_out *out)
{
    bool waiting = false;
    for (int i = 0; i < l->n_sniff; i++) {
        struct vr_instance *inst = vr_gen_set_sniffer(g, l->sniff[i]);
        if (!datagram_sniffer(inst))
            continue;
        memset(out, 0, sizeof(*out));
        out->size = sizeof(*out);
        int r = vr_instance_sniffer(inst)->sniff_datagrams(inst->state, dgrams, n, out);
        if (r == VR_SNIFF_FOUND)
            return finish_found(vr_instance_sniffer(inst), out);
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
