/* xdp = { interfaces = [...]; allow = ["CIDR", ...]; mode = "native" | "generic"; }:
 * the XDP source allow-list of the capture interfaces (core/bpf/vr_xdp.c
 * attaches it). */
#ifndef VR_XDP_CONFIG_H
#define VR_XDP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "vr_addr.h"

struct vr_cfg;

/* Interfaces one xdp group may name. */
#define VR_XDP_MAX_INTERFACES 64
/* IF_NAMESIZE, without <net/if.h> (it clashes with <linux/if.h> in files including the config). */
#define VR_XDP_IFNAMSIZ 16

struct vr_xdp_cfg {
    bool enabled; /* the group is present */
    char (*interfaces)[VR_XDP_IFNAMSIZ];
    size_t n_interfaces;
    struct vr_cidr *allow;
    size_t n_allow;
    bool generic; /* mode = "generic" (skb mode); native (driver) otherwise */
    const char *file; /* where the group stands, for errors at attach time */
    int line;
};

/* Reads the top-level xdp group of top into x (zeroed when absent); errors
 * go to the view's error list with FILE:LINE. */
void vr_xdp_config_parse(const struct vr_cfg *top, struct vr_xdp_cfg *x);
void vr_xdp_config_free(struct vr_xdp_cfg *x);
/* Same interfaces, mode and allow list, in the same order. */
bool vr_xdp_config_equal(const struct vr_xdp_cfg *a, const struct vr_xdp_cfg *b);

#endif
