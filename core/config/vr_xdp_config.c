#include "vr_xdp_config.h"

#include <errno.h>
#include <linux/types.h>
#include <stdlib.h>
#include <string.h>

#include "vr_cfg_view.h"
#include "xdp_allow.h" /* the maps' sizes */

static void parse_interfaces(const struct vr_cfg *v, struct vr_xdp_cfg *x)
{
    int n = vr_cfg_list_len(v, "interfaces");
    if (n == -ENOENT) {
        vr_cfg_error(v, NULL, "missing 'interfaces' (the capture interfaces to filter, e.g. interfaces = [\"lan0\"])");
        return;
    }
    if (n < 0)
        return; /* reported */
    if (n == 0 || n > VR_XDP_MAX_INTERFACES) {
        vr_cfg_error(v, "interfaces", "%d interfaces (expected 1 to %d names)", n, VR_XDP_MAX_INTERFACES);
        return;
    }
    x->interfaces = calloc((size_t)n, sizeof(*x->interfaces));
    if (x->interfaces == NULL) {
        vr_cfg_error(v, "interfaces", "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *s;
        if (vr_cfg_list_string(v, "interfaces", i, &s) < 0)
            return; /* reported */
        if (s[0] == '\0' || strlen(s) >= VR_XDP_IFNAMSIZ || strchr(s, '/') || strchr(s, ' ')) {
            vr_cfg_error(v, "interfaces", "\"%s\" is not an interface name (1 to %d characters, no '/' or space)", s,
                         VR_XDP_IFNAMSIZ - 1);
            return;
        }
        for (size_t k = 0; k < x->n_interfaces; k++)
            if (strcmp(x->interfaces[k], s) == 0) {
                vr_cfg_error(v, "interfaces", "\"%s\" is named twice", s);
                return;
            }
        memcpy(x->interfaces[x->n_interfaces++], s, strlen(s) + 1);
    }
}

static void parse_allow(const struct vr_cfg *v, struct vr_xdp_cfg *x)
{
    int n = vr_cfg_list_len(v, "allow");
    if (n == -ENOENT) {
        vr_cfg_error(v, NULL, "missing 'allow' (the source prefixes let in, e.g. allow = [\"192.0.2.0/24\", "
                              "\"2001:db8::/32\"]; every other IP source is dropped)");
        return;
    }
    if (n < 0)
        return;
    if (n == 0) {
        vr_cfg_error(v, "allow", "an empty list would drop every IP packet on the interfaces (name the prefixes "
                                 "let in, or remove the xdp group)");
        return;
    }
    if (n > 2 * XDP_ALLOW_MAX_PREFIXES) {
        vr_cfg_error(v, "allow", "%d prefixes (at most %d per address family)", n, XDP_ALLOW_MAX_PREFIXES);
        return;
    }
    x->allow = calloc((size_t)n, sizeof(*x->allow));
    if (x->allow == NULL) {
        vr_cfg_error(v, "allow", "out of memory");
        return;
    }
    size_t per_family[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        const char *s;
        if (vr_cfg_list_string(v, "allow", i, &s) < 0)
            return;
        struct vr_cidr c;
        if (vr_cidr_parse(s, &c) < 0) {
            vr_cfg_error(v, "allow", "\"%s\" is not a prefix (expected e.g. \"192.0.2.0/24\", \"2001:db8::/32\" or "
                                     "a bare address; no host bits past the prefix length)", s);
            return;
        }
        if (++per_family[c.family == AF_INET6] > XDP_ALLOW_MAX_PREFIXES) {
            vr_cfg_error(v, "allow", "more than %d %s prefixes", XDP_ALLOW_MAX_PREFIXES,
                         c.family == AF_INET6 ? "IPv6" : "IPv4");
            return;
        }
        x->allow[x->n_allow++] = c;
    }
}

void vr_xdp_config_parse(const struct vr_cfg *top, struct vr_xdp_cfg *x)
{
    memset(x, 0, sizeof(*x));
    const struct vr_cfg *v = vr_cfg_group(top, "xdp");
    if (v == NULL)
        return; /* absent: off; not a group: reported */
    x->file = vr_cfg_file(v, NULL);
    x->line = vr_cfg_line(top, "xdp");
#ifndef VR_HAVE_BPF
    vr_cfg_error(top, "xdp", "this vrouterd was built without eBPF support (it needs clang, bpftool, libbpf-dev and "
                             "the kernel's BTF at build time: install them and rebuild with -DVR_BPF=ON), so it "
                             "cannot attach the XDP allow-list; remove the xdp group");
    return;
#endif
    parse_interfaces(v, x);
    parse_allow(v, x);
    const char *s;
    if (vr_cfg_string(v, "mode", &s) == 0) {
        if (strcmp(s, "generic") == 0)
            x->generic = true;
        else if (strcmp(s, "native") != 0)
            vr_cfg_error(v, "mode", "\"%s\" is not an XDP mode (expected \"native\": in the driver, or \"generic\": "
                                    "after the kernel made its packet buffer, for drivers without XDP)", s);
    }
    x->enabled = x->n_interfaces > 0 && x->n_allow > 0;
}

void vr_xdp_config_free(struct vr_xdp_cfg *x)
{
    free(x->interfaces);
    free(x->allow);
    memset(x, 0, sizeof(*x));
}

bool vr_xdp_config_equal(const struct vr_xdp_cfg *a, const struct vr_xdp_cfg *b)
{
    if (a->enabled != b->enabled || a->generic != b->generic || a->n_interfaces != b->n_interfaces ||
        a->n_allow != b->n_allow)
        return false;
    for (size_t i = 0; i < a->n_interfaces; i++)
        if (strcmp(a->interfaces[i], b->interfaces[i]) != 0)
            return false;
    for (size_t i = 0; i < a->n_allow; i++)
        if (a->allow[i].family != b->allow[i].family || a->allow[i].prefix != b->allow[i].prefix ||
            memcmp(a->allow[i].addr, b->allow[i].addr, sizeof(a->allow[i].addr)) != 0)
            return false;
    return true;
}
