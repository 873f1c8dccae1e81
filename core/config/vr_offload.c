#include "vr_offload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_flow.h>

#include "vr_fakeip_config.h"
#include "vr_ipset.h"
#include "vr_offload_outbound.h"

/* The outbound a rule (NULL: final) routes to, as an index into outbounds. */
static int outbound_of(const struct vr_config *cfg, const struct vr_rule *r)
{
    return r ? r->outbound : cfg->rules.final_outbound;
}

uint32_t vr_offload_forward_mark(const struct vr_config *cfg, const struct vr_rule *r)
{
    struct vr_offload_out o;
    const char *why;
    char buf[256];
    if (vr_offload_outbound(cfg, outbound_of(cfg, r), &o, &why, buf, sizeof(buf)) < 0)
        return 0;
    return o.mark;
}

enum vr_offload_verdict vr_offload_verdict_of(const struct vr_config *cfg, const struct vr_rule *r, const char **why)
{
    *why = NULL;
    if (!cfg->daemon.offload) {
        *why = "daemon.offload is false";
        return VR_OFFLOAD_CAPTURE;
    }
    if (r && !r->offload) {
        *why = "the rule says offload = false";
        return VR_OFFLOAD_CAPTURE;
    }
    if (r && vr_rule_needs_sniff(r)) {
        *why = r->domains ? "it has domain keys: only a sniff can tell" : "it has protocol keys: only a sniff can tell";
        return VR_OFFLOAD_CAPTURE;
    }
    if (r && r->action == VR_ACTION_DNS) {
        *why = "action dns: vrouterd's resolver answers it";
        return VR_OFFLOAD_CAPTURE;
    }
    if (r && r->action == VR_ACTION_REJECT)
        return VR_OFFLOAD_REJECT;
    if (r && r->action == VR_ACTION_DROP)
        return VR_OFFLOAD_DROP;
    /* why may point into this buffer: static, as the callers print it at once
     * on the main thread (compile, --explain) */
    static char why_buf[256];
    struct vr_offload_out o;
    if (vr_offload_outbound(cfg, outbound_of(cfg, r), &o, why, why_buf, sizeof(why_buf)) < 0)
        return VR_OFFLOAD_CAPTURE;
    return VR_OFFLOAD_FORWARD;
}

const struct vr_block_cfg *vr_offload_installer(const struct vr_config *cfg, const char *listener)
{
    for (size_t i = 0; listener && i < cfg->n_installers; i++) {
        const struct vr_block_cfg *b = &cfg->installers[i];
        const char *tag;
        if (strcmp(b->module, "nftables") == 0 && vr_cfg_string(b->view, "listener", &tag) == 0 &&
            strcmp(tag, listener) == 0)
            return b;
    }
    return NULL;
}

static bool names_listener(const struct vr_rule *r, const char *listener)
{
    if (r->n_inbounds == 0)
        return true;
    for (size_t i = 0; i < r->n_inbounds; i++)
        if (strcmp(r->inbounds[i], listener) == 0)
            return true;
    return false;
}

/* ---- nftables text */

static void put_set(FILE *f, const char *name, const struct vr_ipset *set, int family)
{
    size_t n = vr_ipset_family_intervals(set, family);
    fprintf(f, "  set %s {\n    type %s; flags interval;\n    elements = {", name,
            family == AF_INET ? "ipv4_addr" : "ipv6_addr");
    for (size_t i = 0; i < n; i++) {
        uint8_t a[16], b[16];
        char sa[INET6_ADDRSTRLEN], sb[INET6_ADDRSTRLEN];
        vr_ipset_interval(set, family, i, a, b);
        inet_ntop(family, a, sa, sizeof(sa));
        inet_ntop(family, b, sb, sizeof(sb));
        fprintf(f, "%s%s", i ? "," : "", i % 8 == 0 ? "\n      " : " ");
        if (memcmp(a, b, family == AF_INET ? 4 : 16) == 0)
            fprintf(f, "%s", sa);
        else
            fprintf(f, "%s-%s", sa, sb);
    }
    fprintf(f, "\n    }\n  }\n");
}

static void put_ports(FILE *f, const char *what, const struct vr_port_range *p, size_t n)
{
    if (n == 0)
        return;
    fprintf(f, " th %s { ", what);
    for (size_t i = 0; i < n; i++) {
        if (p[i].lo == p[i].hi)
            fprintf(f, "%s%u", i ? ", " : "", p[i].lo);
        else
            fprintf(f, "%s%u-%u", i ? ", " : "", p[i].lo, p[i].hi);
    }
    fprintf(f, " }");
}

/* The family's half of a rule: false when the rule cannot match that family
 * (its CIDRs have none of it). */
static bool family_applies(const struct vr_rule *r, int family)
{
    if (r->dst_ips && vr_ipset_family_intervals(r->dst_ips, family) == 0)
        return false;
    if (r->src_ips && vr_ipset_family_intervals(r->src_ips, family) == 0)
        return false;
    return true;
}

/* A forwarded flow's first packet gets its packet mark (routing), and its
 * conntrack entry the fast path's mark (vr_offload_ct_mark): the installer
 * forwards every later packet of a TCP connection by that mark alone, before
 * any other lookup, even after a reload captured its rule or turned the fast
 * path off. */
static void put_verdict(FILE *f, const char *matches, uint32_t network, enum vr_offload_verdict v, const char *name,
                        uint32_t mark, uint32_t ct_mark)
{
    const char *sp = matches[0] ? " " : "";
    switch (v) {
    case VR_OFFLOAD_FORWARD:
        if (mark == 0)
            fprintf(f, "    %s%scounter ct mark set 0x%x accept comment \"%s: forwarded\"\n", matches, sp, ct_mark, name);
        else if (mark == ct_mark) /* set before the routing decision: the policy rule for it routes the packet */
            fprintf(f, "    %s%scounter meta mark set 0x%x ct mark set meta mark accept comment \"%s: forwarded, mark 0x%x\"\n",
                    matches, sp, mark, name, mark);
        else
            fprintf(f, "    %s%scounter meta mark set 0x%x ct mark set 0x%x accept comment \"%s: forwarded, mark 0x%x\"\n",
                    matches, sp, mark, ct_mark, name, mark);
        break;
    case VR_OFFLOAD_DROP:
        fprintf(f, "    %s%scounter drop comment \"%s: drop\"\n", matches, sp, name);
        break;
    case VR_OFFLOAD_REJECT:
        if (network == 0 || (network & VR_NET_TCP))
            fprintf(f, "    %s%smeta l4proto tcp counter reject with tcp reset comment \"%s: reject\"\n", matches,
                    sp, name);
        if (network == 0 || (network & VR_NET_UDP))
            fprintf(f, "    %s%smeta l4proto udp counter reject comment \"%s: reject\"\n", matches, sp, name);
        break;
    case VR_OFFLOAD_CAPTURE:
        fprintf(f, "    %s%scounter return comment \"%s: captured\"\n", matches, sp, name);
        break;
    }
}

/* The conntrack mark of the flows rule #idx+1 forwards (idx == n_rules:
 * final): one per rule, so the installer counts a TCP connection's later
 * segments per rule (chains fastpath_seg_*), and all in the fast path's
 * range (vr_host.h VR_FASTPATH_CT_BASE). */
static uint32_t rule_ct_mark(size_t idx)
{
    return idx + 1 < VR_OFFLOAD_MARK_PLAIN - VR_OFFLOAD_MARK_BASE ? VR_OFFLOAD_MARK_BASE + 1 + (uint32_t)idx
                                                                 : VR_OFFLOAD_MARK_PLAIN;
}

/* A forwarded flow's packet mark (0: none): its outbound's routing. */
static uint32_t forward_mark(const struct vr_config *cfg, const struct vr_rule *r)
{
    struct vr_offload_out o;
    const char *why;
    char buf[256];
    return vr_offload_outbound(cfg, outbound_of(cfg, r), &o, &why, buf, sizeof(buf)) == 0 ? o.mark : 0;
}

/* A forwarded flow whose outbound can only be routed for IPv4 (v4_only). */
static bool forward_v4_only(const struct vr_config *cfg, const struct vr_rule *r)
{
    struct vr_offload_out o;
    const char *why;
    char buf[256];
    return vr_offload_outbound(cfg, outbound_of(cfg, r), &o, &why, buf, sizeof(buf)) == 0 && o.v4_only;
}

/* The match of one rule's line for a family (k == -1: the rule has no
 * CIDRs and this line is its IPv6 one). reversed: as its flows' replies
 * look (destination keys on the source and back), for the stateless
 * chain of the reply direction. Leading " " removed by the caller. */
static void put_matches(FILE *mf, const struct vr_rule *r, size_t idx, int k, bool reversed)
{
    int family = k == 0 ? AF_INET : AF_INET6;
    if (k == -1)
        fprintf(mf, " meta nfproto ipv6");
    if (r->network == VR_NET_TCP)
        fprintf(mf, " meta l4proto tcp");
    else if (r->network == VR_NET_UDP)
        fprintf(mf, " meta l4proto udp");
    const char *ip = family == AF_INET ? "ip" : "ip6";
    int fn = family == AF_INET ? 4 : 6;
    if (r->dst_ips)
        fprintf(mf, " %s %s @r%zu_d%d", ip, reversed ? "saddr" : "daddr", idx + 1, fn);
    if (r->src_ips)
        fprintf(mf, " %s %s @r%zu_s%d", ip, reversed ? "daddr" : "saddr", idx + 1, fn);
    put_ports(mf, reversed ? "sport" : "dport", r->dst_ports, r->n_dst_ports);
    put_ports(mf, reversed ? "dport" : "sport", r->src_ports, r->n_src_ports);
}

/* Which chain a rule's lines go to: the main chain `fastpath` (the verdict
 * decides), or one of the stateless chains (see put_stateless). */
enum line_mode {
    LINE_MAIN,
    LINE_NOTRACK,       /* raw priority, original direction: notrack (+ routing mark), counted */
    LINE_NOTRACK_REPLY, /* raw priority, reply direction (reversed match): notrack, counted */
    LINE_UNTRACKED,     /* main hook, untracked packets: accept, uncounted */
};

/* One rule's lines (per address family when it has CIDRs). v4_only: its
 * IPv6 flows are captured (a line before the rule's own when it has no
 * CIDRs, its IPv6 line's verdict when it has). In the stateless chains a
 * stateless rule's lines end the packet's way through the chain
 * (notrack / accept); any other rule's lines `return`: the main chain
 * decides those flows as before. */
static void put_rule(FILE *f, const struct vr_rule *r, size_t idx, enum vr_offload_verdict v, uint32_t mark,
                     uint32_t ct_mark, bool v4_only, enum line_mode mode, const char *guard)
{
    bool by_family = r->dst_ips || r->src_ips;
    if (mode != LINE_MAIN)
        v4_only = false; /* a stateless rule is never v4_only; the others return for both families */
    for (int k = by_family || !v4_only ? 0 : -1; k < (by_family ? 2 : 1); k++) {
        int family = k == 0 ? AF_INET : AF_INET6;
        if (by_family && !family_applies(r, family))
            continue;
        enum vr_offload_verdict kv = v4_only && (k == -1 || family == AF_INET6) ? VR_OFFLOAD_CAPTURE : v;
        char *m = NULL;
        size_t mlen = 0;
        FILE *mf = open_memstream(&m, &mlen);
        if (mf == NULL) {
            fprintf(f, "    (out of memory)\n"); /* nft refuses it: the transaction fails, nothing changes */
            continue;
        }
        put_matches(mf, r, idx, k, mode == LINE_NOTRACK_REPLY);
        if (fclose(mf) != 0 || m == NULL) {
            free(m);
            fprintf(f, "    (out of memory)\n");
            continue;
        }
        const char *match = m[0] == ' ' ? m + 1 : m, *sp = match[0] ? " " : "";
        bool stateless = r->stateless && v == VR_OFFLOAD_FORWARD;
        if (mode == LINE_MAIN)
            put_verdict(f, match, r->network, kv, r->name, mark, ct_mark);
        else if (!stateless)
            fprintf(f, "    %s%sreturn\n", match, sp);
        else if (mode == LINE_UNTRACKED)
            fprintf(f, "    %s%saccept\n", match, sp);
        else {
            fprintf(f, "    %s%s%s return\n", match, sp, guard); /* the guard's lookup: on a match only */
            if (mode == LINE_NOTRACK && mark != 0) /* before the routing decision, as in the main chain */
                fprintf(f, "    %s%scounter meta mark set 0x%x notrack accept comment \"%s: stateless, mark 0x%x\"\n",
                        match, sp, mark, r->name, mark);
            else
                fprintf(f, "    %s%scounter notrack accept comment \"%s: stateless\"\n", match, sp, r->name);
        }
        free(m);
    }
}

/* dns.fakeip's ranges come first and are always captured: a flow to a fake
 * address stands for a name only vrouterd knows (docs/FAKEIP.md); forwarded
 * or rejected by an address rule in the kernel, it would never be routed by
 * its name. */
static void put_fakeip(FILE *f, const struct vr_config *cfg)
{
    if (cfg->fakeip == NULL)
        return;
    const struct vr_fakeip_range *rs[2] = {&cfg->fakeip->range4, &cfg->fakeip->range6};
    for (int i = 0; i < 2; i++) {
        if (rs[i]->family == 0)
            continue;
        char a[INET6_ADDRSTRLEN];
        inet_ntop(rs[i]->family, rs[i]->base, a, sizeof(a));
        fprintf(f, "    %s daddr %s/%d counter return comment \"fakeip: captured\"\n",
                rs[i]->family == AF_INET ? "ip" : "ip6", a, rs[i]->prefix);
    }
}

/* A forwarded rule (NULL: final) of this listener's chain. */
static bool forwards(const struct vr_config *cfg, const struct vr_rule *r, const char *listener)
{
    const char *why;
    return (r == NULL || names_listener(r, listener)) && vr_offload_verdict_of(cfg, r, &why) == VR_OFFLOAD_FORWARD;
}

/* Only a connection's first packet passes `fastpath`; the installer sends
 * a TCP connection's later segments by their conntrack mark (one per rule)
 * through the map fastpath_route (-> the packet mark to restore) and the
 * verdict map fastpath_seg (-> a chain of the rule's, one counter line), so
 * the rule's nft counters count every packet and byte of its forwarded
 * connections. */
static void put_segments(FILE *f, const struct vr_config *cfg, const char *listener)
{
    size_t n = 0;
    for (size_t i = 0; i <= cfg->rules.n; i++) {
        const struct vr_rule *r = i < cfg->rules.n ? &cfg->rules.rules[i] : NULL;
        if (!forwards(cfg, r, listener) || rule_ct_mark(i) == VR_OFFLOAD_MARK_PLAIN)
            continue;
        fprintf(f, "  chain fastpath_seg_%zu {\n    counter accept comment \"%s: forwarded\"\n  }\n", i + 1,
                r ? r->name : "final");
        n++;
    }
    if (n == 0)
        return;
    for (int map = 0; map < 2; map++) {
        fprintf(f, map == 0 ? "  map fastpath_route {\n    type mark : mark;\n    elements = { "
                            : "  map fastpath_seg {\n    type mark : verdict;\n    elements = { ");
        size_t k = 0;
        for (size_t i = 0; i <= cfg->rules.n; i++) {
            const struct vr_rule *r = i < cfg->rules.n ? &cfg->rules.rules[i] : NULL;
            if (!forwards(cfg, r, listener) || rule_ct_mark(i) == VR_OFFLOAD_MARK_PLAIN)
                continue;
            if (map == 0)
                fprintf(f, "%s0x%x : 0x%x", k++ ? ", " : "", rule_ct_mark(i), forward_mark(cfg, r));
            else
                fprintf(f, "%s0x%x : jump fastpath_seg_%zu", k++ ? ", " : "", rule_ct_mark(i), i + 1);
        }
        fprintf(f, " }\n  }\n");
    }
}

/* A rule of this listener's chain whose flows the kernel forwards
 * untracked (offload = "stateless"). */
static bool stateless_forwards(const struct vr_config *cfg, const struct vr_rule *r, const char *listener)
{
    return r->stateless && forwards(cfg, r, listener);
}

#define NFT_IFACES_TEXT 1024

/* "fib daddr oifname != { "lan0", "lan1" }": a packet the route back does
 * not take out of the installer's interfaces is no reply of a flow that
 * came in through them (a reply to the router has no outgoing interface).
 * -1 when the installer names none (or names the nft text could not carry,
 * which the installer refuses anyway). */
static int reply_guard_of(const struct vr_config *cfg, const char *listener, char *buf, size_t len)
{
    const struct vr_block_cfg *b = vr_offload_installer(cfg, listener);
    int n = b ? vr_cfg_list_len(b->view, "interfaces") : -1;
    if (n <= 0)
        return -1;
    size_t used = (size_t)snprintf(buf, len, "fib daddr oifname != {");
    for (int i = 0; i < n; i++) {
        const char *name;
        if (vr_cfg_list_string(b->view, "interfaces", i, &name) < 0 || name[0] == '\0' ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(name))
            return -1;
        used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s \"%s\"", i ? "," : "", name);
        if (used >= len)
            return -1;
    }
    used += (size_t)snprintf(buf + used, used < len ? len - used : 0, " }");
    return used < len ? 0 : -1;
}

/* offload = "stateless": three chains with the same first-match order as
 * `fastpath`, up to the last stateless rule, where every other rule's lines
 * `return` (decided by the main chain, tracked, as before):
 *   fastpath_notrack        (the installer jumps here at raw priority, before
 *                            conntrack, for packets from its interfaces):
 *                            the stateless rule's lines notrack (and set its
 *                            routing mark) unless the packet is for the
 *                            router itself, counted "rule #N: stateless";
 *   fastpath_notrack_reply  (at raw priority for the other packets): the
 *                            reversed match, for packets routed back out of
 *                            the installer's interfaces, so the replies are
 *                            untracked too, counted the same;
 *   fastpath_untracked      (the main chain jumps here for untracked packets
 *                            from its interfaces): accept, so that the
 *                            capture below does not take them; an untracked
 *                            packet no stateless rule matches (the operator's
 *                            own notrack) returns to the main chain as before.
 * Nothing when no rule of this listener is stateless. */
static void put_stateless(FILE *f, const struct vr_config *cfg, const char *listener)
{
    size_t last = 0;
    for (size_t i = 0; i < cfg->rules.n; i++)
        if (stateless_forwards(cfg, &cfg->rules.rules[i], listener))
            last = i + 1;
    char reply_guard[NFT_IFACES_TEXT + 48];
    if (last == 0 || reply_guard_of(cfg, listener, reply_guard, sizeof(reply_guard)) < 0)
        return;
    /* Checked only once a stateless rule's keys matched (what else passes
     * pays no lookup): never the router's own destinations, nor replies to
     * it or to anything not behind the installer's interfaces. */
    const char *const guards[] = {"fib daddr type local", reply_guard, NULL};
    static const char *const names[] = {"fastpath_notrack", "fastpath_notrack_reply", "fastpath_untracked"};
    static const enum line_mode modes[] = {LINE_NOTRACK, LINE_NOTRACK_REPLY, LINE_UNTRACKED};
    for (int c = 0; c < 3; c++) {
        fprintf(f, "  chain %s {\n", names[c]);
        if (cfg->fakeip && modes[c] != LINE_NOTRACK_REPLY) /* fake addresses are always captured */
            for (int k = 0; k < 2; k++) {
                const struct vr_fakeip_range *fr = k == 0 ? &cfg->fakeip->range4 : &cfg->fakeip->range6;
                char a[INET6_ADDRSTRLEN];
                if (fr->family == 0)
                    continue;
                inet_ntop(fr->family, fr->base, a, sizeof(a));
                fprintf(f, "    %s daddr %s/%d return\n", fr->family == AF_INET ? "ip" : "ip6", a, fr->prefix);
            }
        for (size_t i = 0; i < last; i++) {
            const struct vr_rule *r = &cfg->rules.rules[i];
            if (!names_listener(r, listener))
                continue;
            const char *why;
            enum vr_offload_verdict v = vr_offload_verdict_of(cfg, r, &why);
            put_rule(f, r, i, v, v == VR_OFFLOAD_FORWARD ? forward_mark(cfg, r) : 0, rule_ct_mark(i), false,
                     modes[c], guards[c]);
        }
        fprintf(f, "  }\n");
    }
}

int vr_offload_nft(const struct vr_config *cfg, const char *listener, char **out)
{
    *out = NULL;
    if (!cfg->daemon.offload)
        return 0;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return -ENOMEM;
    bool any = false; /* anything decided in the kernel? */
    vr_offload_put_snat(cfg, f);
    /* sets first: nft resolves @names at the rule */
    for (size_t i = 0; i < cfg->rules.n; i++) {
        const struct vr_rule *r = &cfg->rules.rules[i];
        if (!names_listener(r, listener))
            continue;
        const struct vr_ipset *sets[2] = {r->dst_ips, r->src_ips};
        for (int s = 0; s < 2; s++)
            for (int k = 0; sets[s] && k < 2; k++) {
                int family = k == 0 ? AF_INET : AF_INET6;
                if (!family_applies(r, family))
                    continue;
                char name[32];
                snprintf(name, sizeof(name), "r%zu_%c%d", i + 1, s == 0 ? 'd' : 's', family == AF_INET ? 4 : 6);
                put_set(f, name, sets[s], family);
            }
    }
    fprintf(f, "  chain fastpath {\n");
    put_fakeip(f, cfg);
    for (size_t i = 0; i < cfg->rules.n; i++) {
        const struct vr_rule *r = &cfg->rules.rules[i];
        if (!names_listener(r, listener))
            continue; /* never matches this listener's flows */
        const char *why;
        enum vr_offload_verdict v = vr_offload_verdict_of(cfg, r, &why);
        any |= v != VR_OFFLOAD_CAPTURE;
        bool fwd = v == VR_OFFLOAD_FORWARD;
        put_rule(f, r, i, v, fwd ? forward_mark(cfg, r) : 0, rule_ct_mark(i), fwd && forward_v4_only(cfg, r),
                 LINE_MAIN, NULL);
    }
    const char *why;
    enum vr_offload_verdict v = vr_offload_verdict_of(cfg, NULL, &why);
    any |= v != VR_OFFLOAD_CAPTURE;
    if (v == VR_OFFLOAD_FORWARD) {
        if (forward_v4_only(cfg, NULL))
            put_verdict(f, "meta nfproto ipv6", 0, VR_OFFLOAD_CAPTURE, "final", 0, 0);
        put_verdict(f, "", 0, v, "final", forward_mark(cfg, NULL), rule_ct_mark(cfg->rules.n));
    }
    else if (v == VR_OFFLOAD_CAPTURE)
        fprintf(f, "    counter return comment \"final: captured\"\n");
    fprintf(f, "  }\n");
    put_segments(f, cfg, listener);
    put_stateless(f, cfg, listener);
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

/* ---- offload = "stateless": what it needs */

/* Why rule r cannot be forwarded untracked (NULL: it can). */
static const char *stateless_refusal(const struct vr_config *cfg, const struct vr_rule *r, char *buf, size_t len)
{
    if (vr_rule_needs_sniff(r))
        return r->domains ? "it has domain keys, which only a sniff can tell: the kernel never decides its flows "
                            "(keep offload = true, or move the domain keys to a rule of their own)"
                          : "it has protocol keys, which only a sniff can tell: the kernel never decides its flows "
                            "(keep offload = true, or drop the protocol keys)";
    if (r->action == VR_ACTION_DNS)
        return "action dns is answered by vrouterd's resolver, never by the kernel (remove offload = \"stateless\")";
    if (r->action == VR_ACTION_REJECT || r->action == VR_ACTION_DROP)
        return NULL; /* the kernel rejects or drops the first packet: nothing is tracked for long anyway */
    struct vr_offload_out o;
    const char *why;
    char wbuf[256];
    if (vr_offload_outbound(cfg, r->outbound, &o, &why, wbuf, sizeof(wbuf)) < 0) {
        snprintf(buf, len, "the kernel fast path cannot forward its flows: %s (use offload = true, or an outbound "
                 "the kernel can do: direct without bind_address/bind_interface)", why ? why : "?");
        return buf;
    }
    if (o.ours) { /* a source (SNAT, masquerade) or an interface's policy route: NAT needs conntrack */
        const char *tag = cfg->outbounds[r->outbound].tag;
        snprintf(buf, len, "its outbound \"%s\" changes the source address (bind_address, bind_interface, "
                 "wireguard-bind or ecmp: SNAT/masquerade), which needs conntrack (use offload = true, or a direct "
                 "outbound without bind_address and bind_interface)", tag ? tag : "?");
        return buf;
    }
    return NULL;
}

/* The nftables installers capturing to a listener r applies to must name
 * their interfaces: the reply direction is told by the interface a packet
 * is routed out of. 0, or -1 with buf filled. */
static int stateless_installers(const struct vr_config *cfg, const struct vr_rule *r, char *buf, size_t len)
{
    size_t found = 0;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const char *tag = cfg->listeners[i].tag;
        const struct vr_block_cfg *b = tag && names_listener(r, tag) ? vr_offload_installer(cfg, tag) : NULL;
        if (b == NULL)
            continue;
        found++;
        if (vr_cfg_list_len(b->view, "interfaces") <= 0) {
            snprintf(buf, len, "the nftables installer at %s:%d captures on every interface, so the kernel cannot "
                     "tell a reply from a new flow (give it interfaces = [\"<lan>\"], or use offload = true)",
                     b->file ? b->file : cfg->path, b->line);
            return -1;
        }
    }
    if (found == 0) {
        snprintf(buf, len, "no nftables installer captures to a listener this rule applies to, so nothing can "
                 "forward its flows in the kernel (add one, or remove offload = \"stateless\")");
        return -1;
    }
    return 0;
}

int vr_offload_check_stateless(struct vr_config *cfg)
{
    int bad = 0;
    for (size_t i = 0; i < cfg->rules.n; i++) {
        const struct vr_rule *r = &cfg->rules.rules[i];
        if (!r->stateless)
            continue;
        char buf[512];
        const char *why = stateless_refusal(cfg, r, buf, sizeof(buf));
        if (why == NULL && r->action == VR_ACTION_ROUTE && stateless_installers(cfg, r, buf, sizeof(buf)) < 0)
            why = buf;
        if (why == NULL)
            continue;
        vr_errors_at(&cfg->errs, r->file ? r->file : cfg->path, r->line, "%s: offload = \"stateless\": %s", r->name,
                     why);
        bad = -1;
    }
    return bad;
}

/* ---- --explain */

static const char *verdict_text(enum vr_offload_verdict v, uint32_t network)
{
    switch (v) {
    case VR_OFFLOAD_FORWARD: return "forwarded by the kernel (never enters vrouterd)";
    case VR_OFFLOAD_REJECT:
        return network == VR_NET_TCP ? "rejected by the kernel (nft reject with tcp reset)"
                                     : "rejected by the kernel (nft reject: ICMP port unreachable)";
    case VR_OFFLOAD_DROP: return "dropped by the kernel (nft drop)";
    default: return "captured";
    }
}

void vr_offload_explain(const struct vr_config *cfg, const struct vr_match_input *in, FILE *out)
{
    if (!cfg->daemon.offload) {
        fprintf(out, "kernel fast path: no (daemon.offload is false): captured by TPROXY\n");
        return;
    }
    if (vr_offload_installer(cfg, in->inbound) == NULL) {
        fprintf(out, "kernel fast path: no (no nftables installer captures to listener %s)\n",
                in->inbound ? in->inbound : "-");
        return;
    }
    const struct vr_rule *first = NULL;
    for (size_t i = 0; i < cfg->rules.n && first == NULL; i++)
        if (vr_rule_address_matches(&cfg->rules.rules[i], in))
            first = &cfg->rules.rules[i];
    const char *why;
    enum vr_offload_verdict v = vr_offload_verdict_of(cfg, first, &why);
    const char *name = first ? first->name : "final";
    if (v == VR_OFFLOAD_FORWARD && in->dst && in->dst->sa_family == AF_INET6 && forward_v4_only(cfg, first)) {
        fprintf(out, "kernel fast path: no, %s decides: its outbound's multipath route into interfaces is IPv4 "
                     "only (Linux has no IPv6 multipath route without gateways)\n", name);
        return;
    }
    if (v != VR_OFFLOAD_CAPTURE) {
        fprintf(out, "kernel fast path: yes, %s: %s", name, verdict_text(v, in->network));
        if (v == VR_OFFLOAD_FORWARD && first && first->stateless)
            fprintf(out, ", stateless (notrack: no conntrack entry, both directions)");
        if (v == VR_OFFLOAD_FORWARD)
            vr_offload_describe(cfg, outbound_of(cfg, first), out);
        fprintf(out, "\n");
        return;
    }
    if (first && vr_rule_needs_sniff(first))
        fprintf(out, "kernel fast path: no, %s (%s:%d) could match first and forces a sniff: %s\n", name,
                first->file ? first->file : cfg->path, first->line, why);
    else
        fprintf(out, "kernel fast path: no, %s decides: %s\n", name, why);
}
