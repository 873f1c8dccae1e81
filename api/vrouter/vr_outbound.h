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

/* How an outbound's flows can leave without the module, forwarded by the
 * kernel (the fast path, issue 15; 1.1, see kernel_plan). The host zeroes it
 * and sets size; the module fills in what applies. */
struct vr_kernel_plan {
    uint32_t size;           /* set by the host */
    uint32_t mark;           /* the packet's routing mark (SO_MARK of the module's socket); 0: none */
    char interface[16];      /* the interface it leaves through (SO_BINDTODEVICE); "": the routing table's */
    int has_src4, has_src6;  /* a source address the flow gets (bind), per family */
    uint8_t src4[4], src6[16];
    /* A composite outbound: its members (tags of other outbounds, pointing
     * into the config, which outlives the call) with their weights; the
     * host asks each member for its own plan. */
    int n_members;           /* 0..16 */
    const char *members[16];
    int weights[16];         /* 1..256 */
    const char *why;         /* when kernel_plan refuses: why, static text */
};

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

    /* ---- 1.1, appended after udp_close; optional: the host tests
     * VR_HAS(ops, kernel_plan). How this outbound's flows are done by the
     * kernel fast path: from the config block alone (read with host->cfg_*;
     * no instance exists, none is created), fill *plan and return 0, or
     * return -EOPNOTSUPP with plan->why when the kernel cannot do what the
     * module does (the flows stay captured). Keys read here are not
     * validated here: create reports bad values. Main thread, at compile
     * time (start, reload, --plan, --explain, the conntrack log). */
    int (*kernel_plan)(const struct vr_host *host, const struct vr_cfg *cfg, struct vr_kernel_plan *plan);
};

#endif
