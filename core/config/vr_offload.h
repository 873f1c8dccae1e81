/* The kernel fast path (issue 15): vrouterd's first-match rule list compiled
 * into nftables, so that flows decided by address and port alone never
 * enter userspace, with the userspace result.
 *
 * For a flow captured to a listener, the first rule whose address and port
 * keys match it (vr_rule_address_matches) decides in the kernel what
 * userspace would decide:
 *   - a rule with domain or protocol keys COULD match (only a sniff tells),
 *     so the flow is captured: that is how a domain rule before an address
 *     rule keeps the overlapped part of the address rule in userspace;
 *   - a rule with action reject / drop: nft `reject` (TCP reset, ICMP port
 *     unreachable) / `drop`;
 *   - a rule (or final) whose outbound is `direct` without bind_address or
 *     bind_interface: the capture does not take the flow, the kernel
 *     forwards it (plain routing, as direct's connect would leave); with a
 *     routing_mark the packet gets that mark first, so the operator's policy
 *     rule for the mark routes it as it routes direct's marked socket;
 *   - anything else (another outbound, `offload = false`, daemon.offload
 *     false) is captured by TPROXY as before.
 * A rule whose `inbound` does not name the listener never matches its flows.
 * This is exact because a flow decided in the kernel has, as its first
 * address-matching rule, a rule without sniff keys, which is then also its
 * first fully matching rule in userspace; a captured flow is routed by the
 * whole list in userspace as before. */
#ifndef VR_OFFLOAD_H
#define VR_OFFLOAD_H

#include <stdio.h>

#include "vr_config.h"

enum vr_offload_verdict { VR_OFFLOAD_CAPTURE, VR_OFFLOAD_FORWARD, VR_OFFLOAD_REJECT, VR_OFFLOAD_DROP };

/* What the kernel does with a flow whose first address-matching rule is r
 * (NULL: none, the final outbound). For capture, *why says why. */
enum vr_offload_verdict vr_offload_verdict_of(const struct vr_config *cfg, const struct vr_rule *r, const char **why);

/* A forwarded flow's mark: its direct outbound's routing_mark, or 0. */
uint32_t vr_offload_forward_mark(const struct vr_config *cfg, const struct vr_rule *r);

/* The fast path for flows captured to listener (tag): nftables table-body
 * text, named sets and a chain `fastpath` (verdicts accept = forwarded by
 * the kernel, reject, drop, return = captured), and for offload =
 * "stateless" rules the chains fastpath_notrack, fastpath_notrack_reply and
 * fastpath_untracked (vr_offload.c put_stateless). *out is malloc'd, or NULL
 * when daemon.offload is off or nothing can be decided in the kernel (the
 * chain would return everything). 0 or -ENOMEM. */
int vr_offload_nft(const struct vr_config *cfg, const char *listener, char **out);

/* The name of the nftables installer block capturing to listener, or NULL:
 * without one there is no fast path for that listener. */
const struct vr_block_cfg *vr_offload_installer(const struct vr_config *cfg, const char *listener);

/* offload = "stateless" (a forwarded rule's flows untracked, notrack at raw
 * priority; docs/INSTALLERS.md): records a FILE:LINE error in cfg->errs for
 * every stateless rule the kernel cannot forward without conntrack (domain
 * or protocol keys, action dns, an outbound that is not plain direct, no
 * nftables installer with interfaces). Needs the outbound modules loaded
 * (their kernel_plan). 0 or -1. */
int vr_offload_check_stateless(struct vr_config *cfg);

/* --explain: whether the flow takes the kernel fast path, and why (or
 * which earlier rule forces a sniff). */
void vr_offload_explain(const struct vr_config *cfg, const struct vr_match_input *in, FILE *out);

#endif
