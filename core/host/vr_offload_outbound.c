#include "vr_offload_outbound.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <net/if.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_host.h>

#include "vr_cfg_view.h"
#include "vr_host_table.h"
#include "vr_module.h"

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

/* The loaded outbound module of that name, or NULL. */
static const struct vr_outbound_ops *module_ops(const char *name)
{
    for (const struct vr_module *m = vr_module_loaded(); m; m = m->next)
        if (m->desc && m->desc->kind == VR_KIND_OUTBOUND && strcmp(m->name, name) == 0)
            return m->desc->ops;
    return NULL;
}

/* Asks outbound block ob's module how the kernel forwards its flows (ABI
 * 1.1 kernel_plan). 0 with *p filled, or -1 with *why. */
static int ask(const struct vr_block_cfg *ob, struct vr_kernel_plan *p, const char **why)
{
    memset(p, 0, sizeof(*p));
    p->size = sizeof(*p);
    const struct vr_outbound_ops *ops = module_ops(ob->module);
    if (ops == NULL || !VR_HAS(ops, kernel_plan) || ops->kernel_plan == NULL) {
        *why = "its outbound's module has no kernel form (no kernel_plan)";
        return -1;
    }
    if (ops->kernel_plan(&vr_host_services, ob->view, p) < 0) {
        *why = p->why ? p->why : "its outbound's module says the kernel cannot do what it does";
        return -1;
    }
    if (p->n_members < 0 || p->n_members > VR_OFFLOAD_MAX_HOPS) {
        *why = "its outbound's module gave a plan with more than 16 members";
        return -1;
    }
    return 0;
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

/* One outbound that is not composite, as a single hop (its module's plan). */
static int leaf(const struct vr_block_cfg *ob, struct vr_offload_hop *h, uint32_t *mark, const char **why)
{
    struct vr_kernel_plan p;
    memset(h, 0, sizeof(*h));
    h->weight = 1;
    if (ask(ob, &p, why) < 0)
        return -1;
    if (p.n_members > 0) {
        *why = "a composite outbound inside a composite outbound";
        return -1;
    }
    if (p.interface[0] && !plain_ifname(p.interface)) {
        *why = "its interface name has characters the kernel fast path does not pass on";
        return -1;
    }
    memcpy(h->dev, p.interface, sizeof(h->dev));
    h->dev[sizeof(h->dev) - 1] = '\0';
    h->has_src4 = p.has_src4 != 0;
    h->has_src6 = p.has_src6 != 0;
    memcpy(h->src4, p.src4, sizeof(h->src4));
    memcpy(h->src6, p.src6, sizeof(h->src6));
    *mark = p.mark;
    if (*mark && (h->dev[0] || h->has_src4 || h->has_src6)) {
        *why = "its outbound sets a routing_mark with an interface or a source address (the kernel cannot route "
               "by both the operator's mark and its own)";
        return -1;
    }
    return 0;
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
    struct vr_kernel_plan p;
    if (ask(ob, &p, why) < 0)
        return -1;
    if (p.n_members > 0) { /* composite (ecmp): a multipath route over its members' interfaces */
        for (int i = 0; i < p.n_members; i++) {
            int m = p.members[i] ? outbound_index(cfg, p.members[i]) : -1;
            uint32_t mark;
            const char *leaf_why;
            if (m < 0 || leaf(&cfg->outbounds[m], &o->hops[i], &mark, &leaf_why) < 0 || o->hops[i].dev[0] == 0) {
                snprintf(why_buf, why_len,
                         "its member \"%s\" does not leave through an interface the kernel can route into "
                         "(direct with bind_interface, or wireguard-bind)",
                         p.members[i] ? p.members[i] : "?");
                *why = why_buf;
                return -1;
            }
            o->hops[i].weight = p.weights[i] >= 1 && p.weights[i] <= 256 ? p.weights[i] : 1;
        }
        o->n_hops = (size_t)p.n_members;
        o->mark = ours;
        o->ours = o->route = true;
        o->v4_only = p.n_members > 1;
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
        fprintf(f, "    meta mark 0x%x%s meta nfproto ipv4 snat ip to %s\n", mark, oif,
                inet_ntop(AF_INET, h->src4, a, sizeof(a)));
    if (h->has_src6)
        fprintf(f, "    meta mark 0x%x%s meta nfproto ipv6 snat ip6 to %s\n", mark, oif,
                inet_ntop(AF_INET6, h->src6, a, sizeof(a)));
    /* into an interface: the source a socket bound to it would get */
    if (h->dev[0] && !(h->has_src4 && h->has_src6))
        fprintf(f, "    meta mark 0x%x%s masquerade\n", mark, oif);
}

void vr_offload_put_snat(const struct vr_config *cfg, FILE *f)
{
    bool chain = false;
    for (size_t i = 0; i < cfg->n_outbounds; i++) {
        struct vr_offload_out o;
        const char *why;
        char buf[256];
        if (vr_offload_outbound(cfg, (int)i, &o, &why, buf, sizeof(buf)) < 0 || !o.ours)
            continue;
        if (!chain)
            fprintf(f, "  chain fastpath_snat {\n    type nat hook postrouting priority srcnat; policy accept;\n");
        chain = true;
        for (size_t k = 0; k < o.n_hops; k++)
            put_hop_snat(f, o.mark, &o.hops[k]);
    }
    if (chain)
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

bool vr_offload_is_flow_mark(uint32_t mark)
{
    return (mark & VR_OFFLOAD_MARK_MASK) == VR_OFFLOAD_MARK_BASE;
}
