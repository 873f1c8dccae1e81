/* The kernel fast path compiler (core/config/vr_offload.c): which rules the
 * kernel decides, the ordering rule (a rule with sniff keys whose address
 * part overlaps captures the overlap), offload = false, daemon.offload,
 * inbound, families, ports, and that the text is one chain in rule order.
 * The kernel's acceptance of the text is tested end to end
 * (tests/e2e/test_fastpath.sh). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_flow.h>

#include "vr_config.h"
#include "vr_offload.h"
#include "vr_module.h"
#include "vr_offload_outbound.h"
#include "vr_test.h"

static char tmpdir[PATH_MAX];
static int seq;

static struct vr_config *load(const char *daemon_extra, const char *rules, const char *final)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/o%d.conf", tmpdir, seq++);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        exit(2);
    fprintf(f,
            "daemon = { %s };\n"
            "listeners = ( { tag = \"tp\"; port = 7893; network = [\"tcp\", \"udp\"]; }, { tag = \"tp2\"; port = 7894; } );\n"
            "outbounds = ( { tag = \"direct\"; module = \"direct\"; },\n"
            "              { tag = \"marked\"; module = \"direct\"; routing_mark = 0xca; },\n"
            "              { tag = \"s5\"; module = \"socks5\"; server = \"198.18.0.1\"; } );\n"
            "route = { rules = (\n%s\n); final = \"%s\"; };\n",
            daemon_extra, rules, final);
    fclose(f);
    struct vr_config *c = vr_config_load(path);
    if (c == NULL || c->errs.n != 0) {
        for (size_t i = 0; c && i < c->errs.n; i++)
            fprintf(stderr, "  %s\n", c->errs.msgs[i]);
        exit(2);
    }
    return c;
}

/* A config with its own outbounds (for the kernel forms of outbounds). */
static struct vr_config *load_outbounds(const char *outbounds, const char *installers, const char *rules)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/o%d.conf", tmpdir, seq++);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        exit(2);
    fprintf(f,
            "daemon = { offload = true; };\n"
            "listeners = ( { tag = \"tp\"; port = 7893; network = [\"tcp\", \"udp\"]; } );\n"
            "outbounds = ( %s );\nroute = { rules = (\n%s\n); final = \"direct\"; };\n%s\n",
            outbounds, rules, installers);
    fclose(f);
    struct vr_config *c = vr_config_load(path);
    if (c == NULL || c->errs.n != 0) {
        for (size_t i = 0; c && i < c->errs.n; i++)
            fprintf(stderr, "  %s\n", c->errs.msgs[i]);
        exit(2);
    }
    return c;
}

static char *nft(const struct vr_config *c, const char *listener)
{
    char *out = NULL;
    CHECK(vr_offload_nft(c, listener, &out) == 0);
    return out;
}

/* a before b in s (both present) */
static bool before(const char *s, const char *a, const char *b)
{
    const char *pa = s ? strstr(s, a) : NULL, *pb = s ? strstr(s, b) : NULL;
    if (pa == NULL || pb == NULL || pa >= pb) {
        fprintf(stderr, "expected [%s] before [%s] in:\n%s\n", a, b, s ? s : "(null)");
        return false;
    }
    return true;
}

static bool has(const char *s, const char *a)
{
    if (s && strstr(s, a))
        return true;
    fprintf(stderr, "expected [%s] in:\n%s\n", a, s ? s : "(null)");
    return false;
}

static void test_verdicts_and_order(void)
{
    struct vr_config *c = load("offload = true;",
                               "{ domain_suffix = \"b.example\"; ip_cidr = \"203.0.113.0/24\"; outbound = \"direct\"; },\n"
                               "{ ip_cidr = [\"203.0.113.0/24\", \"2001:db8:99::/48\"]; outbound = \"direct\"; },\n"
                               "{ port = [443, 8000]; port_range = \"9000-9100\"; network = \"udp\"; action = \"reject\"; },\n"
                               "{ source_cidr = \"198.18.5.0/24\"; action = \"drop\"; },\n"
                               "{ port = 22; outbound = \"marked\"; },\n"
                               "{ port = 23; outbound = \"s5\"; },\n"
                               "{ port = 24; outbound = \"direct\"; offload = false; },\n"
                               "{ inbound = \"tp2\"; outbound = \"direct\"; },\n"
                               "{ protocol = \"unknown\"; outbound = \"direct\"; }",
                               "direct");
    const char *why;
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[0], &why) == VR_OFFLOAD_CAPTURE && strstr(why, "domain"));
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[1], &why) == VR_OFFLOAD_FORWARD);
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[2], &why) == VR_OFFLOAD_REJECT);
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[3], &why) == VR_OFFLOAD_DROP);
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[4], &why) == VR_OFFLOAD_FORWARD);
    CHECK(vr_offload_forward_mark(c, &c->rules.rules[4]) == 0xca && vr_offload_forward_mark(c, NULL) == 0);
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[5], &why) == VR_OFFLOAD_CAPTURE && strstr(why, "no kernel form"));
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[6], &why) == VR_OFFLOAD_CAPTURE && strstr(why, "offload = false"));
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[8], &why) == VR_OFFLOAD_CAPTURE && strstr(why, "protocol"));
    CHECK(vr_offload_verdict_of(c, NULL, &why) == VR_OFFLOAD_FORWARD);

    char *t = nft(c, "tp");
    CHECK(has(t, "set r1_d4 {"));
    CHECK(has(t, "203.0.113.0-203.0.113.255"));
    CHECK(!strstr(t ? t : "", "set r1_d6")); /* the domain rule's CIDRs have no IPv6 */
    CHECK(has(t, "set r2_d6 {"));
    CHECK(has(t, "2001:db8:99::-2001:db8:99:ffff:ffff:ffff:ffff:ffff"));
    /* the domain rule captures its overlap BEFORE the CIDR rule forwards it */
    CHECK(before(t, "ip daddr @r1_d4 counter return comment \"rule #1: captured\"",
                 "ip daddr @r2_d4 counter ct mark set 0x76720002 accept comment \"rule #2: forwarded\""));
    CHECK(before(t, "ip daddr @r2_d4 counter ct mark set 0x76720002 accept", "ip6 daddr @r2_d6 counter ct mark set 0x76720002 accept"));
    CHECK(has(t, "meta l4proto udp th dport { 443, 8000, 9000-9100 } meta l4proto udp counter reject comment \"rule #3: reject\""));
    CHECK(!strstr(t ? t : "", "rule #3: reject\"\n    meta l4proto udp th dport { 443, 8000, 9000-9100 } meta l4proto tcp"));
    CHECK(has(t, "ip saddr @r4_s4 counter drop comment \"rule #4: drop\""));
    /* the operator's routing mark on the packet; in conntrack the rule's own mark (0x76720000 + its number),
     * mapped back to the packet mark and to the rule's segment chain */
    CHECK(has(t, "th dport { 22 } counter meta mark set 0xca ct mark set 0x76720005 accept comment \"rule #5: forwarded, mark 0xca\""));
    CHECK(has(t, "counter ct mark set 0x7672000a accept comment \"final: forwarded\"")); /* final: n_rules + 1 */
    CHECK(has(t, "map fastpath_route {\n    type mark : mark;\n    elements = { 0x76720002 : 0x0, 0x76720005 : 0xca, 0x7672000a : 0x0 }"));
    CHECK(has(t, "map fastpath_seg {\n    type mark : verdict;\n    elements = { 0x76720002 : jump fastpath_seg_2, "
                 "0x76720005 : jump fastpath_seg_5, 0x7672000a : jump fastpath_seg_10 }"));
    CHECK(has(t, "chain fastpath_seg_5 {\n    counter accept comment \"rule #5: forwarded\"\n  }"));
    CHECK(has(t, "chain fastpath_seg_10 {\n    counter accept comment \"final: forwarded\"\n  }"));
    CHECK(!strstr(t ? t : "", "fastpath_seg_8")); /* rule #8 names tp2 */
    CHECK(has(t, "th dport { 24 } counter return comment \"rule #7: captured\""));
    CHECK(!strstr(t ? t : "", "rule #8")); /* inbound tp2: never a flow of tp */
    CHECK(before(t, "rule #9: captured", "counter ct mark set 0x7672000a accept comment \"final: forwarded\""));
    free(t);
    t = nft(c, "tp2");
    CHECK(has(t, "counter ct mark set 0x76720008 accept comment \"rule #8: forwarded\""));
    CHECK(has(t, "chain fastpath_seg_8 {"));
    free(t);

    /* --explain: the first address-matching rule decides */
    struct sockaddr_storage src, dst;
    vr_sockaddr_parse("198.18.1.2", 40000, &src, NULL);
    vr_sockaddr_parse("203.0.113.7", 80, &dst, NULL);
    struct vr_match_input in = {.network = VR_NET_TCP, .src = (const struct sockaddr *)&src,
                                .dst = (const struct sockaddr *)&dst, .inbound = "tp"};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    vr_offload_explain(c, &in, f);
    fclose(f);
    CHECK(has(buf, "no (no nftables installer captures to listener tp)"));
    free(buf);
    vr_config_free(c);
}

static void test_off(void)
{
    struct vr_config *c = load("", "{ ip_cidr = \"203.0.113.0/24\"; action = \"reject\"; }", "direct");
    char *t = (char *)1;
    CHECK(vr_offload_nft(c, "tp", &t) == 0 && t == NULL); /* daemon.offload defaults to false */
    vr_config_free(c);
    /* nothing decidable in the kernel: no chain at all */
    c = load("offload = true;", "{ domain = \"a.example\"; outbound = \"direct\"; }", "s5");
    t = (char *)1;
    CHECK(vr_offload_nft(c, "tp", &t) == 0 && t == NULL);
    vr_config_free(c);
}

static void test_kernel_outbounds(void)
{
    const char *obs =
        "{ tag = \"direct\"; module = \"direct\"; },\n"
        "{ tag = \"src\"; module = \"direct\"; bind_address = [\"198.19.2.3\", \"2001:db8::3\"]; },\n"
        "{ tag = \"eth\"; module = \"direct\"; bind_interface = \"eth9\"; },\n"
        "{ tag = \"wg\"; module = \"wireguard-bind\"; interface = \"wg7\"; source_address = \"10.7.0.2\"; },\n"
        "{ tag = \"both\"; module = \"ecmp\"; members = [\"eth\", \"wg\"]; weights = [1, 3]; },\n"
        "{ tag = \"probed\"; module = \"ecmp\"; members = [\"eth\", \"wg\"];\n"
        "  health_check = { target = \"198.18.0.1:80\"; }; },\n"
        "{ tag = \"mixed\"; module = \"ecmp\"; members = [\"eth\", \"direct\"]; },\n"
        "{ tag = \"markbind\"; module = \"direct\"; routing_mark = 0xcb; bind_address = \"198.19.2.3\"; }";
    const char *rules = "{ port = 1; outbound = \"src\"; },\n{ port = 2; outbound = \"eth\"; },\n"
                        "{ port = 3; outbound = \"wg\"; },\n{ port = 4; outbound = \"both\"; },\n"
                        "{ port = 5; outbound = \"probed\"; },\n{ port = 6; outbound = \"mixed\"; },\n"
                        "{ port = 7; outbound = \"markbind\"; }";
    const char *pr = "installers = ( { module = \"policy-routing\"; } );";
    struct vr_config *c = load_outbounds(obs, pr, rules);
    const char *why;
    for (int i = 0; i < 4; i++)
        CHECK(vr_offload_verdict_of(c, &c->rules.rules[i], &why) == VR_OFFLOAD_FORWARD);
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[4], &why) == VR_OFFLOAD_CAPTURE && strstr(why, "health_check"));
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[5], &why) == VR_OFFLOAD_CAPTURE && strstr(why, "\"direct\""));
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[6], &why) == VR_OFFLOAD_CAPTURE && strstr(why, "routing_mark"));
    char *t = nft(c, "tp");
    /* the mark of outbound #i is 0x76720000 + i, kept in conntrack */
    CHECK(has(t, "th dport { 1 } counter meta mark set 0x76720001 ct mark set meta mark accept"));
    /* ecmp of interfaces: IPv4 only, its IPv6 flows are captured first */
    CHECK(before(t, "meta nfproto ipv6 th dport { 4 } counter return comment \"rule #4: captured\"",
                 "th dport { 4 } counter meta mark set 0x76720004 ct mark set meta mark accept"));
    CHECK(has(t, "chain fastpath_snat {\n    type nat hook postrouting priority srcnat; policy accept;"));
    CHECK(has(t, "meta mark 0x76720001 meta nfproto ipv4 snat ip to 198.19.2.3\n"));
    CHECK(has(t, "meta mark 0x76720001 meta nfproto ipv6 snat ip6 to 2001:db8::3\n"));
    CHECK(has(t, "meta mark 0x76720002 oifname \"eth9\" masquerade\n"));
    CHECK(has(t, "meta mark 0x76720003 oifname \"wg7\" meta nfproto ipv4 snat ip to 10.7.0.2\n"));
    CHECK(has(t, "meta mark 0x76720004 oifname \"wg7\" meta nfproto ipv4 snat ip to 10.7.0.2\n"));
    CHECK(has(t, "meta mark 0x76720004 oifname \"eth9\" masquerade\n"));
    /* SNAT by the packet mark the first packet carries (nat sees only that one) */
    CHECK(has(t, "map fastpath_route {\n    type mark : mark;\n    elements = { 0x76720001 : 0x76720001, 0x76720002 : 0x76720002, "
                 "0x76720003 : 0x76720003, 0x76720004 : 0x76720004, 0x76720008 : 0x0 }"));
    free(t);
    char *routes = NULL;
    CHECK(vr_offload_routes(c, &routes) == 0);
    CHECK(has(routes, "table 7602 mark 0x76720002 dev eth9 weight 1\n"));
    CHECK(has(routes, "table 7603 mark 0x76720003 dev wg7 weight 1\n"));
    CHECK(has(routes, "table 7604 mark 0x76720004 family 4 dev eth9 weight 1 dev wg7 weight 3\n"));
    CHECK(routes && !strstr(routes, "table 7601")); /* SNAT only: routed by the main table */
    free(routes);
    vr_config_free(c);
    /* without the policy-routing installer nothing can route into an interface */
    c = load_outbounds(obs, "", rules);
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[0], &why) == VR_OFFLOAD_FORWARD);
    CHECK(vr_offload_verdict_of(c, &c->rules.rules[2], &why) == VR_OFFLOAD_CAPTURE && strstr(why, "policy-routing"));
    vr_config_free(c);
}

/* offload = "stateless": the three chains keep the first-match order up to
 * the last stateless rule (every other rule returns), the reply chain has
 * the keys reversed, a rule of another listener is left out; what cannot be
 * stateless is refused with the rule's FILE:LINE and the reason. */
static bool errs_have(const struct vr_config *c, const char *a)
{
    for (size_t i = 0; i < c->errs.n; i++)
        if (strstr(c->errs.msgs[i], a))
            return true;
    fprintf(stderr, "expected an error with [%s], got %zu:\n", a, c->errs.n);
    for (size_t i = 0; i < c->errs.n; i++)
        fprintf(stderr, "  %s\n", c->errs.msgs[i]);
    return false;
}

static void test_stateless(void)
{
    const char *inst = "installers = ( { module = \"nftables\"; listener = \"tp\"; interfaces = [\"lan0\"]; } );";
    const char *obs = "{ tag = \"direct\"; module = \"direct\"; },\n"
                      "{ tag = \"marked\"; module = \"direct\"; routing_mark = 0xca; },\n"
                      "{ tag = \"src\"; module = \"direct\"; bind_address = \"198.19.2.3\"; }";
    struct vr_config *c = load_outbounds(
        obs, inst,
        "{ domain = \"a.example\"; port = 443; outbound = \"direct\"; },\n"
        "{ inbound = [\"other\"]; ip_cidr = \"198.51.100.0/24\"; outbound = \"src\"; },\n"
        "{ ip_cidr = \"198.51.100.0/24\"; source_cidr = \"198.18.1.0/24\"; port_range = \"80-90\"; source_port = 5000;\n"
        "  network = \"tcp\"; outbound = \"direct\"; offload = \"stateless\"; },\n"
        "{ port = 53; action = \"reject\"; offload = \"stateless\"; },\n"
        "{ port = 8081; outbound = \"marked\"; offload = \"stateless\"; },\n"
        "{ port = 9000; outbound = \"direct\"; }");
    CHECK(c->rules.rules[2].stateless && c->rules.rules[2].offload);
    CHECK(vr_offload_check_stateless(c) == 0 && c->errs.n == 0);
    char *t = nft(c, "tp");
    const char *orig = "meta l4proto tcp ip daddr @r3_d4 ip saddr @r3_s4 th dport { 80-90 } th sport { 5000 } counter "
                       "notrack accept comment \"rule #3: stateless\"";
    const char *reply = "meta l4proto tcp ip saddr @r3_d4 ip daddr @r3_s4 th sport { 80-90 } th dport { 5000 } counter "
                        "notrack accept comment \"rule #3: stateless\"";
    CHECK(before(t, "chain fastpath_notrack {\n    th dport { 443 } return\n", orig));
    CHECK(before(t, "chain fastpath_notrack_reply {\n    th sport { 443 } return\n", reply));
    CHECK(has(t, "chain fastpath_untracked {\n    th dport { 443 } return\n    meta l4proto tcp ip daddr @r3_d4 ip "
                 "saddr @r3_s4 th dport { 80-90 } th sport { 5000 } accept\n"));
    /* reject: the main chain decides it (returns here); the mark is set per packet */
    CHECK(before(t, "chain fastpath_notrack {", "    th dport { 53 } return\n    th dport { 8081 } fib daddr type local "
                                                "return\n    th dport { 8081 } counter meta mark set 0xca notrack "
                                                "accept comment \"rule #5: stateless, mark 0xca\"\n  }"));
    /* a reply only when routed back out of the installer's interfaces */
    CHECK(has(t, "    th sport { 8081 } fib daddr oifname != { \"lan0\" } return\n"
                 "    th sport { 8081 } counter notrack accept comment \"rule #5: stateless\"\n  }"));
    CHECK(before(t, "chain fastpath_notrack_reply {", "    meta l4proto tcp ip saddr @r3_d4 ip daddr @r3_s4 th sport { 80-90 } "
                                                      "th dport { 5000 } fib daddr oifname != { \"lan0\" } return\n"));
    CHECK(t && !strstr(t, "@r2_")); /* inbound "other": not this listener's */
    CHECK(t && !strstr(t, "{ 9000 } return")); /* after the last stateless rule: nothing */
    /* the rule's tracked line stays in the main chain (an installer without the chains) */
    CHECK(has(t, "counter ct mark set 0x76720003 accept comment \"rule #3: forwarded\""));
    free(t);
    vr_config_free(c);
    /* daemon.offload = false: no chain at all */
    c = load("offload = false;", "{ ip_cidr = \"198.51.100.0/24\"; outbound = \"direct\"; offload = \"stateless\"; }",
             "direct");
    t = nft(c, "tp");
    CHECK(t == NULL);
    vr_config_free(c);

    /* refusals, each naming the rule's line and the reason */
    c = load_outbounds(obs, inst,
                       "{ port = 1; outbound = \"src\"; offload = \"stateless\"; },\n"
                       "{ domain = \"a.example\"; outbound = \"direct\"; offload = \"stateless\"; },\n"
                       "{ port = 3; outbound = \"direct\"; offload = \"stateless\"; inbound = [\"tp2\"]; }");
    CHECK(vr_offload_check_stateless(c) < 0 && c->errs.n == 3);
    CHECK(errs_have(c, ".conf:7: rule #1: offload = \"stateless\": its outbound \"src\" changes the source address"));
    CHECK(errs_have(c, ".conf:8: rule #2: offload = \"stateless\": it has domain keys"));
    CHECK(errs_have(c, ".conf:9: rule #3: offload = \"stateless\": no nftables installer captures to a listener"));
    vr_config_free(c);
    c = load_outbounds(obs, "installers = ( { module = \"nftables\"; listener = \"tp\"; } );",
                       "{ port = 1; outbound = \"direct\"; offload = \"stateless\"; }");
    CHECK(vr_offload_check_stateless(c) < 0 && errs_have(c, "captures on every interface"));
    vr_config_free(c);
}

/* The fast path asks the outbound modules (ABI 1.1 kernel_plan): load the
 * built ones, as a generation would. socks5 stays unloaded: no kernel form. */
static struct vr_module *mods[3];
static void load_modules(void)
{
    char *dir = getenv("VR_MODULE_DIR");
    struct vr_module_path mp = {.dirs = &dir, .n = 1};
    static const char *const names[] = {"direct", "wireguard-bind", "ecmp"};
    for (int i = 0; i < 3; i++) {
        struct vr_errors e = {0};
        mods[i] = dir ? vr_module_get(&mp, names[i], VR_KIND_OUTBOUND, "test", 1, &e) : NULL;
        for (size_t k = 0; k < e.n; k++)
            fprintf(stderr, "  %s\n", e.msgs[k]);
        vr_errors_clear(&e);
        CHECK(mods[i] != NULL);
    }
}

int main(void)
{
    load_modules();
    snprintf(tmpdir, sizeof(tmpdir), "%s/vr_test_offload.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
        return 2;
    test_verdicts_and_order();
    test_off();
    test_kernel_outbounds();
    test_stateless();
    for (int i = 0; i < 3; i++)
        if (mods[i])
            vr_module_put(mods[i]);
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return vr_test_report();
}
