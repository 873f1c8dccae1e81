/* daemon.capture_cgroup = "/path/to/cgroup2/dir": TCP connects of the
 * programs in that cgroup v2 directory go to vrouterd (core/bpf/
 * vr_cgroup_capture.c), an alternative to the nftables installer's
 * capture_local. */
#ifndef VR_CAPTURE_CONFIG_H
#define VR_CAPTURE_CONFIG_H

struct vr_cfg;

struct vr_capture_cfg {
    char *cgroup; /* NULL: off */
    const char *file; /* where the key stands */
    int line;
};

/* Reads daemon.capture_cgroup of top (a cgroup v2 directory that must
 * exist); errors go to the view with FILE:LINE. */
void vr_capture_config_parse(const struct vr_cfg *top, struct vr_capture_cfg *c);
void vr_capture_config_free(struct vr_capture_cfg *c);

#endif
