/* The XDP source allow-list on the capture interfaces (config: xdp = {...},
 * config/vr_xdp_config.h; program: bpf/xdp_allow.bpf.c). One per process,
 * applied with each config generation from the main thread.
 *
 * The program is attached through netlink, not a bpf_link: it stays on the
 * interface if vrouterd is killed, so the capture interfaces are not left
 * open while the daemon restarts, and it is found again by its name
 * ("vrouterd_xdp") and replaced atomically (XDP_FLAGS_REPLACE) at the next
 * start, or removed when the new config has no xdp group. A clean exit
 * (SIGTERM) removes it. */
#ifndef VR_XDP_H
#define VR_XDP_H

#include <stdbool.h>
#include <stdint.h>

#include "vr_xdp_config.h"

/* The kernel's name of the program: how a stale one is recognised. */
#define VR_XDP_PROG_NAME "vrouterd_xdp"

/* Makes the attached allow-list what x says (NULL or not enabled: none).
 * A changed list loads a new program with new maps and swaps it in on each
 * interface atomically; an unchanged one is left alone. On failure (an
 * interface missing, another program's XDP on it, a load refused) logs why
 * with x's FILE:LINE, puts back what was attached before and returns
 * -errno. The first call also removes vrouterd programs a killed daemon
 * left on interfaces x does not name. */
int vr_xdp_apply(const struct vr_xdp_cfg *x);

struct vr_xdp_counts {
    uint64_t passed;  /* IP packets from allowed sources */
    uint64_t dropped; /* IP packets from other sources */
    uint64_t other;   /* not IP (ARP...) or IPv6 neighbour discovery: passed unchecked */
};

/* Packets counted since the allow-list was first attached (summed over
 * CPUs, kept across reloads). Returns false when none is attached. */
bool vr_xdp_counts(struct vr_xdp_counts *out);

#endif
