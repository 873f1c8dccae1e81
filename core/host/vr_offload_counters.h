/* The kernel fast path's per-rule counters (issue 15): the nft counters of
 * the chain each installer compiled in (installer op rule_counters), summed
 * per rule over the installers and the chain's lines (per family, TCP/UDP).
 * Lines that capture ("return") are not counted: those flows are counted by
 * vrouterd itself (rule hits).
 *
 * What nft counts: every packet of an offloaded UDP flow, and the first
 * packet (SYN) of an offloaded TCP connection, whose later segments are
 * accepted by conntrack before the chain. */
#ifndef VR_OFFLOAD_COUNTERS_H
#define VR_OFFLOAD_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>

#include "vr_generation.h"

struct vr_rule_offload_count {
    uint64_t packets, bytes;
};

/* Fills out[0 .. rules.n] (final last) for generation g, zeroed first. True
 * when an installer of g reported a fast path chain. Main thread; each call
 * lists the chains (one nft netlink dump per installer). */
bool vr_offload_counters(const struct vr_generation *g, struct vr_rule_offload_count *out);

/* SIGUSR1: one "stats: kernel fast path: rule #N: P packets, B bytes" line
 * per rule whose kernel lines counted something. */
void vr_offload_counters_log(const struct vr_generation *g);

#endif
