#include "vr_capture_config.h"

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <vrouter/vr_host.h>

#include "vr_cfg_view.h"

/* daemon.capture_cgroup_udp_prefix_v6: the stand-ins are prefix + slot
 * (1..65535) in its first /112, so it has at least 16 host bits; it must
 * not be this host's or anyone's real addresses (a ULA of its own). */
static void parse_udp_prefix_v6(const struct vr_cfg *d, struct vr_capture_cfg *c)
{
    const char *text = VR_CAPTURE_UDP_PREFIX_V6_DEFAULT;
    if (d != NULL && vr_cfg_string(d, "capture_cgroup_udp_prefix_v6", &text) == -EINVAL)
        return; /* the wrong type: reported */
    if (text[0] == '\0')
        return; /* IPv6 UDP not captured */
    struct vr_cidr p;
    if (vr_cidr_parse(text, &p) < 0 || p.family != AF_INET6) {
        vr_cfg_error(d, "capture_cgroup_udp_prefix_v6", "\"%s\" is not an IPv6 prefix (expected e.g. \"%s\", "
                                                        "with no host bits set, or \"\" to capture no IPv6 UDP)",
                     text, VR_CAPTURE_UDP_PREFIX_V6_DEFAULT);
        return;
    }
    if (p.prefix < 64 || p.prefix > 112) {
        vr_cfg_error(d, "capture_cgroup_udp_prefix_v6", "/%u is not a usable length (expected /64 to /112: the "
                                                        "stand-ins take the low 16 bits)", (unsigned)p.prefix);
        return;
    }
    static const uint8_t zero[16];
    if (p.addr[0] == 0xff || (p.addr[0] == 0xfe && (p.addr[1] & 0xc0) == 0x80) || memcmp(p.addr, zero, 8) == 0) {
        vr_cfg_error(d, "capture_cgroup_udp_prefix_v6", "\"%s\" is multicast, link-local, loopback or "
                                                        "IPv4-mapped space (pick a unique local prefix of your own, "
                                                        "e.g. \"%s\")", text, VR_CAPTURE_UDP_PREFIX_V6_DEFAULT);
        return;
    }
    c->udp_prefix_v6 = p;
}

void vr_capture_config_parse(const struct vr_cfg *top, struct vr_capture_cfg *c)
{
    memset(c, 0, sizeof(*c));
    /* A daemon that is not a group was reported by the daemon's parser. */
    const struct vr_cfg *d = vr_cfg_type(top, "daemon") == VR_CFG_GROUP ? vr_cfg_group(top, "daemon") : NULL;
    const char *s;
    parse_udp_prefix_v6(d, c);
    if (d == NULL || vr_cfg_string(d, "capture_cgroup", &s) < 0)
        return; /* absent, or the wrong type: reported */
    c->file = vr_cfg_file(d, "capture_cgroup");
    c->line = vr_cfg_line(d, "capture_cgroup");
#ifndef VR_HAVE_BPF
    (void)s;
    vr_cfg_error(d, "capture_cgroup", "this vrouterd was built without eBPF support (it needs clang, bpftool, "
                                      "libbpf-dev and the kernel's BTF at build time: install them and rebuild "
                                      "with -DVR_BPF=ON); capture local programs with the nftables installer's "
                                      "capture_local instead, or remove the key");
    return;
#else
    struct stat st;
    struct statfs fs;
    if (s[0] != '/') {
        vr_cfg_error(d, "capture_cgroup", "\"%s\" is not an absolute path (expected a cgroup v2 directory, e.g. "
                                          "\"/sys/fs/cgroup/proxied\")", s);
        return;
    }
    if (stat(s, &st) < 0 || !S_ISDIR(st.st_mode)) {
        vr_cfg_error(d, "capture_cgroup", "\"%s\" is not a directory (%s): create the cgroup first (mkdir "
                                          "under the cgroup2 mount) and move the programs into it", s,
                     strerror(errno ? errno : ENOTDIR));
        return;
    }
    if (statfs(s, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
        vr_cfg_error(d, "capture_cgroup", "\"%s\" is not on a cgroup v2 file system (cgroup BPF needs the unified "
                                          "hierarchy: mount -t cgroup2 none <dir>, and name a directory in it)", s);
        return;
    }
    c->cgroup = strdup(s);
    if (c->cgroup == NULL)
        vr_cfg_error(d, "capture_cgroup", "out of memory");
#endif
}

void vr_capture_config_free(struct vr_capture_cfg *c)
{
    free(c->cgroup);
    memset(c, 0, sizeof(*c));
}
