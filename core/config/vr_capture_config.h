/* daemon.capture_cgroup = "/path/to/cgroup2/dir": TCP connects of the
 * programs in that cgroup v2 directory go to vrouterd (core/bpf/
 * vr_cgroup_capture.c), an alternative to the nftables installer's
 * capture_local. */
#ifndef VR_CAPTURE_CONFIG_H
#define VR_CAPTURE_CONFIG_H

#include "vr_addr.h"

struct vr_cfg;

/* daemon.capture_cgroup_udp_prefix_v6's default: a ULA /112 (fd76:726f:7574
 * spells "vrout"). */
#define VR_CAPTURE_UDP_PREFIX_V6_DEFAULT "fd76:726f:7574::/112"

struct vr_capture_cfg {
    char *cgroup; /* NULL: off */
    const char *file; /* where the key stands */
    int line;
    /* daemon.capture_cgroup_udp_prefix_v6: where IPv6 UDP stand-ins live
     * (prefix 0: IPv6 UDP not captured, the key was ""). */
    struct vr_cidr udp_prefix_v6;
};

/* Reads daemon.capture_cgroup of top (a cgroup v2 directory that must
 * exist) and daemon.capture_cgroup_udp_prefix_v6 (an IPv6 prefix of /64 to
 * /112, or "" for none); errors go to the view with FILE:LINE. */
void vr_capture_config_parse(const struct vr_cfg *top, struct vr_capture_cfg *c);
void vr_capture_config_free(struct vr_capture_cfg *c);

#endif
