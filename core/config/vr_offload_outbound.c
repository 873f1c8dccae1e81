#include "vr_offload_outbound.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <net/if.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_host.h>

#include "vr_cfg_view.h"

static int outbound_index(const struct vr_config *cfg, const char *tag)
{
    for (size_t i = 0; i < cfg->n_outbounds; i++)
        if (cfg->outbounds[i].tag && strcmp(cfg->outbounds[i].tag, tag) == 0)
            return (int)i;
    return -1;
}

const struct vr_block_cfg *vr_offload_router(const struct vr_config *cfg)
{
    for (size_t i = 0; i < cfg->n_installers; i++)
        if (strcmp(cfg->installers[i].module, "policy-routing") == 0)
            return &cfg->installers[i];
    return NULL;
}

/* A string key, or NULL when absent or not a string (the module reports
 * the wrong type; reading it here must not record a second error). */
static const char *string_key(const struct vr_cfg *v, const char *key)
{
    const char *s = NULL;
    if (vr_cfg_type(v, key) != VR_CFG_STRING || vr_cfg_string(v, key, &s) < 0)
        return NULL;
    return s;
}

static uint32_t mark_key(const struct vr_cfg *v)
{
    int64_t m = 0;
    if (vr_cfg_type(v, "routing_mark") != VR_CFG_INT || vr_cfg_int(v, "routing_mark", &m) < 0 || m < 0 ||
        m > 0xffffffffLL)
        return 0;
    return (uint32_t)m;
}

static bool put_src(struct vr_offload_hop *h, const char *text)
{
    if (inet_pton(AF_INET, text, h->src4) == 1 && !h->has_src4)
        return h->has_src4 = true;
    if (inet_pton(AF_INET6, text, h->src6) == 1 && !h->has_src6)
        return h->has_src6 = true;
    return false;
}

/* direct's bind_address: a string or a list of one per family. */
static bool read_bind_address(const struct vr_cfg *v, struct vr_offload_hop *h)
{
    int n = vr_cfg_list_len(v, "bind_address");
    if (n < 0)
        return n == -ENOENT;
    for (int i = 0; i < n; i++) {
        const char *text;
        if (vr_cfg_list_string(v, "bind_address", i, &text) < 0 || !put_src(h, text))
            return false;
    }
    return true;
}

/* An interface name the nft text and the route plan can carry as is. */
static bool plain_ifname(const char *dev)
{
    size_t n = strlen(dev);
    if (n == 0 || n >= IFNAMSIZ)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)dev[i]) && !strchr("-_.@:", dev[i]))
            return false;
    return true;
}

/* One leaf outbound (not ecmp) as a single hop. */
static int leaf(const struct vr_block_cfg *ob, struct vr_offload_hop *h, uint32_t *mark, const char **why)
{
    memset(h, 0, sizeof(*h));
    h->weight = 1;
    *mark = mark_key(ob->view);
    if (strcmp(ob->module, "direct") == 0) {
        if (!read_bind_address(ob->view, h)) {
            *why = "its bind_address is not one address per family";
            return -1;
        }
        const char *dev = string_key(ob->view, "bind_interface");
        if (dev) {
            if (!plain_ifname(dev)) {
                *why = "its bind_interface is not an interface name";
                return -1;
            }
            strcpy(h->dev, dev);
        }
        if (*mark && (dev || h->has_src4 || h->has_src6)) {
            *why = "its direct outbound sets routing_mark with bind_interface or bind_address (the kernel "
                   "cannot route by both the operator's mark and its own)";
            return -1;
        }
        return 0;
    }
    if (strcmp(ob->module, "wireguard-bind") == 0) {
        const char *dev = string_key(ob->view, "interface");
        const char *src = string_key(ob->view, "source_address");
        if (dev == NULL || !plain_ifname(dev) || (src && !put_src(h, src))) {
            *why = "its wireguard-bind outbound's interface or source_address is not usable";
            return -1;
        }
        if (*mark) {
            *why = "its wireguard-bind outbound sets routing_mark (the kernel routes into the interface by its "
                   "own mark)";
            return -1;
        }
        strcpy(h->dev, dev);
        return 0;
    }
    *why = "its outbound's module has no kernel form (direct, wireguard-bind and ecmp of those have)";
    return -1;
}

static int needs_router(const struct vr_config *cfg, const char **why)
{
    if (vr_offload_router(cfg) != NULL)
        return 0;
    *why = "a route into its interface needs the policy-routing installer in the config";
    return -1;
}

int vr_offload_outbound(const struct vr_config *cfg, int idx, struct vr_offload_out *o, const char **why,
                        char *why_buf, size_t why_len)
{
    memset(o, 0, sizeof(*o));
    *why = NULL;
    if (idx < 0 || (size_t)idx >= cfg->n_outbounds) {
        *why = "no outbound";
        return -1;
    }
    const struct vr_block_cfg *ob = &cfg->outbounds[idx];
    uint32_t ours = VR_OFFLOAD_MARK_BASE + (uint32_t)idx;
    if (strcmp(ob->module, "ecmp") == 0) {
        if (vr_cfg_has(ob->view, "health_check")) {
            *why = "its ecmp outbound has a health_check (the kernel's multipath route does not probe)";
            return -1;
        }
        const char *hash = string_key(ob->view, "hash");
        if (hash && strcmp(hash, "round-robin") == 0) {
            *why = "its ecmp outbound uses round-robin (a multipath route hashes)";
            return -1;
        }
        int n = vr_cfg_list_len(ob->view, "members");
        if (n < 1 || n > VR_OFFLOAD_MAX_HOPS) {
            *why = "its ecmp outbound's members are not 1 to 16 outbounds";
            return -1;
        }
        int nw = vr_cfg_list_len(ob->view, "weights");
        for (int i = 0; i < n; i++) {
            const char *tag;
            int m = vr_cfg_list_string(ob->view, "members", i, &tag) == 0 ? outbound_index(cfg, tag) : -1;
            uint32_t mark;
            const char *leaf_why;
            if (m < 0 || strcmp(cfg->outbounds[m].module, "ecmp") == 0 ||
                leaf(&cfg->outbounds[m], &o->hops[i], &mark, &leaf_why) < 0 || o->hops[i].dev[0] == 0) {
                snprintf(why_buf, why_len,
                         "its ecmp member \"%s\" does not leave through an interface the kernel can route into "
                         "(direct with bind_interface, or wireguard-bind)",
                         m < 0 ? "?" : cfg->outbounds[m].tag);
                *why = why_buf;
                return -1;
            }
            int64_t w = 1;
            if (nw == n && vr_cfg_list_int(ob->view, "weights", i, &w) == 0 && w >= 1 && w <= 256)
                o->hops[i].weight = (int)w;
        }
        o->n_hops = (size_t)n;
        o->mark = ours;
        o->ours = o->route = true;
        o->v4_only = n > 1;
        return needs_router(cfg, why);
    }
    uint32_t mark;
    if (leaf(ob, &o->hops[0], &mark, why) < 0)
        return -1;
    o->n_hops = 1;
    const struct vr_offload_hop *h = &o->hops[0];
    if (h->dev[0] || h->has_src4 || h->has_src6) {
        o->mark = ours;
        o->ours = true;
        o->route = h->dev[0] != 0;
    } else
        o->mark = mark; /* plain direct: the operator's routing_mark, or none */
    return o->route ? needs_router(cfg, why) : 0;
}

int vr_offload_routes(const struct vr_config *cfg, char **out)
{
    *out = NULL;
    if (!cfg->daemon.offload)
        return 0;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return -ENOMEM;
    bool any = false;
    for (size_t i = 0; i < cfg->n_outbounds; i++) {
        struct vr_offload_out o;
        const char *why;
        char buf[256];
        if (vr_offload_outbound(cfg, (int)i, &o, &why, buf, sizeof(buf)) < 0 || !o.route)
            continue;
        fprintf(f, "table %u mark 0x%x%s", VR_OFFLOAD_TABLE_BASE + (unsigned)i, o.mark, o.v4_only ? " family 4" : "");
        for (size_t k = 0; k < o.n_hops; k++)
            fprintf(f, " dev %s weight %d", o.hops[k].dev, o.hops[k].weight);
        fprintf(f, "\n");
        any = true;
    }
    if (fclose(f) != 0 || text == NULL) {
        free(text);
        return -ENOMEM;
    }
    if (!any) {
        free(text);
        return 0;
    }
    *out = text;
    return 0;
}

static void put_hop_snat(FILE *f, uint32_t mark, const struct vr_offload_hop *h)
{
    char oif[40] = "";
    if (h->dev[0])
        snprintf(oif, sizeof(oif), " oifname \"%s\"", h->dev);
    char a[INET6_ADDRSTRLEN];
    if (h->has_src4)
        fprintf(f, "    ct mark 0x%x%s meta nfproto ipv4 snat ip to %s\n", mark, oif,
                inet_ntop(AF_INET, h->src4, a, sizeof(a)));
    if (h->has_src6)
        fprintf(f, "    ct mark 0x%x%s meta nfproto ipv6 snat ip6 to %s\n", mark, oif,
                inet_ntop(AF_INET6, h->src6, a, sizeof(a)));
    /* into an interface: the source a socket bound to it would get */
    if (h->dev[0] && !(h->has_src4 && h->has_src6))
        fprintf(f, "    ct mark 0x%x%s masquerade\n", mark, oif);
}

void vr_offload_put_snat(const struct vr_config *cfg, FILE *f)
{
    uint32_t marks[64];
    size_t n_marks = 0;
    bool chain = false;
    for (size_t i = 0; i < cfg->n_outbounds; i++) {
        struct vr_offload_out o;
        const char *why;
        char buf[256];
        if (vr_offload_outbound(cfg, (int)i, &o, &why, buf, sizeof(buf)) < 0 || o.mark == 0)
            continue;
        bool seen = false;
        for (size_t k = 0; k < n_marks; k++)
            seen |= marks[k] == o.mark;
        if (!seen && n_marks < sizeof(marks) / sizeof(marks[0]))
            marks[n_marks++] = o.mark;
        if (!o.ours)
            continue;
        if (!chain)
            fprintf(f, "  chain fastpath_snat {\n    type nat hook postrouting priority srcnat; policy accept;\n");
        chain = true;
        for (size_t k = 0; k < o.n_hops; k++)
            put_hop_snat(f, o.mark, &o.hops[k]);
    }
    if (chain)
        fprintf(f, "  }\n");
    fprintf(f, "  set fastpath_marks {\n    type mark;\n");
    for (size_t k = 0; k < n_marks; k++)
        fprintf(f, "%s0x%x%s", k == 0 ? "    elements = { " : ", ", marks[k], k + 1 == n_marks ? " }\n" : "");
    fprintf(f, "  }\n");
}

void vr_offload_describe(const struct vr_config *cfg, int idx, FILE *out)
{
    struct vr_offload_out o;
    const char *why;
    char buf[256], a[INET6_ADDRSTRLEN];
    if (vr_offload_outbound(cfg, idx, &o, &why, buf, sizeof(buf)) < 0)
        return;
    if (!o.ours) {
        if (o.mark)
            fprintf(out, ", with mark 0x%x (routed by the policy rule for it)", o.mark);
        return;
    }
    if (o.route) {
        fprintf(out, ", out of");
        for (size_t k = 0; k < o.n_hops; k++)
            fprintf(out, "%s %s", k ? "," : "", o.hops[k].dev);
        fprintf(out, " (policy route table %u, mark 0x%x%s)", VR_OFFLOAD_TABLE_BASE + (unsigned)idx, o.mark,
                o.v4_only ? "; IPv4 only: IPv6 flows are captured" : "");
    }
    for (size_t k = 0; k < o.n_hops; k++) {
        const struct vr_offload_hop *h = &o.hops[k];
        if (h->has_src4)
            fprintf(out, ", source %s", inet_ntop(AF_INET, h->src4, a, sizeof(a)));
        if (h->has_src6)
            fprintf(out, ", source %s", inet_ntop(AF_INET6, h->src6, a, sizeof(a)));
        if (h->dev[0] && !(h->has_src4 && h->has_src6))
            fprintf(out, ", source: %s's address (masquerade)", h->dev);
    }
}

bool vr_offload_is_flow_mark(const struct vr_config *cfg, uint32_t mark)
{
    if (mark == 0)
        return false;
    if (mark == VR_OFFLOAD_MARK_PLAIN)
        return true;
    for (size_t i = 0; i < cfg->n_outbounds; i++) {
        struct vr_offload_out o;
        const char *why;
        char buf[256];
        if (vr_offload_outbound(cfg, (int)i, &o, &why, buf, sizeof(buf)) == 0 && o.mark == mark)
            return true;
    }
    return false;
}
