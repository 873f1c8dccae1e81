/* The kernel fast path (issue 15): how an outbound's flows leave when the
 * kernel forwards them instead of vrouterd. The outbound's module says it
 * (ABI 1.1 outbound op kernel_plan, from the config block alone): the
 * packet's routing mark, the interface it leaves through, the source it
 * gets, or the members of a composite. The modules that have one:
 *   - direct: routing_mark, bind_interface, bind_address;
 *   - wireguard-bind: its interface, source_address (else the interface's
 *     address: masquerade; the peer knows the tunnel address only);
 *   - ecmp without health_check, not round-robin: its members and weights,
 *     a multipath route over the members' interfaces, each member's source
 *     on its interface (members must leave through an interface).
 * Here that becomes marks, SNAT lines and policy routes. A module without
 * kernel_plan (not loaded, or a 1.0 module), or combinations the kernel
 * would get wrong, keep the flows captured (the reason is given for
 * --explain).
 *
 * Marks and tables: a flow of outbound #i (0-based in the config) that needs
 * a policy route or SNAT carries packet mark VR_OFFLOAD_MARK_BASE + i (the
 * nftables installer restores it on later packets from the flow's conntrack
 * mark, which names its rule: core/config/vr_offload.c); its policy route is table
 * VR_OFFLOAD_TABLE_BASE + i, installed by the policy-routing installer
 * (host->route_plan_routes). */
#ifndef VR_OFFLOAD_OUTBOUND_H
#define VR_OFFLOAD_OUTBOUND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <vrouter/vr_host.h>

#include "vr_config.h"

#define VR_OFFLOAD_MARK_BASE VR_FASTPATH_CT_BASE /* "vr" << 16 */
#define VR_OFFLOAD_MARK_PLAIN 0x7672ffffu /* conntrack mark of a rule past the 65,533rd (no counter of its own) */
#define VR_OFFLOAD_MARK_MASK VR_FASTPATH_CT_MASK /* every forwarded flow's conntrack mark is BASE under it */
#define VR_OFFLOAD_TABLE_BASE 7600u
#define VR_OFFLOAD_MAX_HOPS 16

/* One way out: an interface ("" for direct's plain routing) and the source
 * the flow gets there (none: masquerade on an interface, unchanged without). */
struct vr_offload_hop {
    char dev[16];
    int weight;
    bool has_src4, has_src6;
    uint8_t src4[4], src6[16];
};

struct vr_offload_out {
    uint32_t mark;    /* the packet's mark (routing_mark or ours), kept in conntrack; 0: none */
    bool ours;        /* mark is VR_OFFLOAD_MARK_BASE + index: SNAT lines and maybe a route select it */
    bool route;       /* a policy route (table VR_OFFLOAD_TABLE_BASE + index) over hops' interfaces */
    bool v4_only;     /* IPv6 flows stay captured: Linux has no IPv6 multipath route of interfaces
                       * without gateways */
    size_t n_hops;
    struct vr_offload_hop hops[VR_OFFLOAD_MAX_HOPS];
};

/* 0 with *o filled when the kernel can do outbound #idx's flows; -1 with
 * *why (static text, or text in why_buf) when they must be captured. */
int vr_offload_outbound(const struct vr_config *cfg, int idx, struct vr_offload_out *o, const char **why,
                        char *why_buf, size_t why_len);

/* True when a conntrack mark is one the fast path gives the flows it
 * forwards (this generation's or an earlier one's). */
bool vr_offload_is_flow_mark(uint32_t mark);

/* The policy-routing installer block (the first), or NULL. */
const struct vr_block_cfg *vr_offload_router(const struct vr_config *cfg);

/* The policy routes the fast path needs, one line per outbound:
 * "table <T> mark 0x<M> [family 4] dev <if> weight <w> [dev <if> weight <w> ...]"
 * ("family 4": an IPv4 route only, see v4_only).
 * *out is malloc'd, or NULL when none is needed. 0 or -ENOMEM. */
int vr_offload_routes(const struct vr_config *cfg, char **out);

/* --explain: how outbound #idx's forwarded flows leave (", source A",
 * ", out of IF (policy route table T, mark M)", ", with mark M ..."). */
void vr_offload_describe(const struct vr_config *cfg, int idx, FILE *out);

/* The nat chain `fastpath_snat` (postrouting) for every outbound that
 * changes the source, by the packet mark a forwarded connection's first
 * packet carries (nat sees only that one); written to f. */
void vr_offload_put_snat(const struct vr_config *cfg, FILE *f);

#endif
