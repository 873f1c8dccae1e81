/*
 * vrouterd plugin ABI: outbound modules (kind VR_KIND_OUTBOUND).
 *
 * An outbound decides how a flow leaves the gateway. For TCP it produces a
 * connected socket; the core then relays bytes with splice(2) and writes any
 * bytes it already read from the client (while sniffing) first. For UDP it
 * carries datagrams of one association (one client mapping) both ways.
 */
#ifndef VROUTER_VR_OUTBOUND_H
#define VROUTER_VR_OUTBOUND_H

#include <vrouter/vr_host.h>

/* Mandatory (the loader refuses the module without them): create, destroy,
 * tcp_connect, tcp_cancel. udp_open, udp_send, udp_close: all three or none. */
struct vr_outbound_ops {
    uint32_t size; /* sizeof(struct vr_outbound_ops) as the module was built */

    /* One instance per config block (per generation, per worker). Reads its
     * settings through host->cfg_*; on failure returns a negative errno after
     * freeing everything it made (destroy is not called for it). */
    int (*create)(struct vr_instance *inst, const struct vr_host *host, void **state);
    void (*destroy)(void *state);

    /* Start connecting flow->dst (or flow->domain). Returns 0 and sets
     * *pending when cb will be called later, or a negative errno when it
     * failed at once (cb is then never called; since 1.1 say why with
     * host->connect_fail_reason(flow, ...) before returning, rather than
     * deferring the failure to cb through a 0 ms timer). flow stays valid
     * until cb runs or tcp_cancel is called. The module enforces its own
     * timeouts. */
    int (*tcp_connect)(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                       void **pending);
    /* Abandon a pending connect: cb will not be called; resources freed. */
    void (*tcp_cancel)(void *state, void *pending);

    /* The UDP datagram path; all three may be NULL for a TCP-only outbound.
     * udp_open creates an association for a flow (one client mapping); cb
     * receives every datagram coming back, with the remote it came from.
     * udp_send may be called right after udp_open; an association that is
     * not ready yet queues or drops (and counts) what it cannot send. */
    int (*udp_open)(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg,
                    void **assoc);
    int (*udp_send)(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen,
                    const uint8_t *data, size_t len);
    void (*udp_close)(void *state, void *assoc);
};

#endif
