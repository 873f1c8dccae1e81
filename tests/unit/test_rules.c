/* Rule matching semantics, with rules compiled from config files through
 * vr_config_load() (the daemon's path): first match wins, AND across keys,
 * OR within a list, port/port_range (and source_port/source_port_range)
 * match if either does, CIDRs for IPv4, IPv6 and IPv4-mapped IPv6, network,
 * inbound, and the final outbound when nothing matches. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_flow.h>

#include "vr_config.h"
#include "vr_test.h"

static char tmpdir[PATH_MAX];
static int seq;

/* Outbounds a, b, c, d and fin; listeners tp and tp2. */
static struct vr_config *load_rules(const char *rules)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/rules%d.conf", tmpdir, seq++);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    fprintf(f,
            "listeners = ( { tag = \"tp\"; port = 7893; },\n"
            "              { tag = \"tp2\"; port = 7894; } );\n"
            "outbounds = ( { tag = \"a\"; module = \"direct\"; }, { tag = \"b\"; module = \"direct\"; },\n"
            "              { tag = \"c\"; module = \"direct\"; }, { tag = \"d\"; module = \"direct\"; },\n"
            "              { tag = \"fin\"; module = \"direct\"; } );\n"
            "route = {\n"
            "  rules = (\n"
            "%s\n"
            "  );\n"
            "  final = \"fin\";\n"
            "};\n",
            rules);
    fclose(f);
    struct vr_config *c = vr_config_load(path);
    if (c == NULL || c->errs.n != 0) {
        fprintf(stderr, "config did not load:\n%s\n", rules);
        for (size_t i = 0; c && i < c->errs.n; i++)
            fprintf(stderr, "  %s\n", c->errs.msgs[i]);
        exit(2);
    }
    return c;
}

/* A flow, as the daemon hands it to the rules. */
struct flow {
    const char *net; /* "tcp" / "udp" */
    const char *src;
    int sport;
    const char *dst;
    int dport;
    const char *inbound;
};

/* The tag of the outbound the rules pick ("fin" when none matches). */
static const char *route(const struct vr_config *c, struct flow f)
{
    struct sockaddr_storage src, dst;
    if (vr_sockaddr_parse(f.src, (uint16_t)f.sport, &src, NULL) < 0 ||
        vr_sockaddr_parse(f.dst, (uint16_t)f.dport, &dst, NULL) < 0) {
        fprintf(stderr, "test bug: bad address %s or %s\n", f.src, f.dst);
        exit(2);
    }
    struct vr_match_input in = {
        .network = strcmp(f.net, "udp") == 0 ? VR_NET_UDP : VR_NET_TCP,
        .src = (const struct sockaddr *)&src,
        .dst = (const struct sockaddr *)&dst,
        .inbound = f.inbound,
    };
    const struct vr_rule *r = vr_rules_match(&c->rules, &in);
    int idx = r ? r->outbound : c->rules.final_outbound;
    if (idx < 0 || (size_t)idx >= c->n_outbounds)
        return "(none)";
    return c->outbounds[idx].tag;
}

/* The name of the matching rule, "final" when none. */
static const char *rule_name(const struct vr_config *c, struct flow f)
{
    struct sockaddr_storage src, dst;
    vr_sockaddr_parse(f.src, (uint16_t)f.sport, &src, NULL);
    vr_sockaddr_parse(f.dst, (uint16_t)f.dport, &dst, NULL);
    struct vr_match_input in = {
        .network = strcmp(f.net, "udp") == 0 ? VR_NET_UDP : VR_NET_TCP,
        .src = (const struct sockaddr *)&src,
        .dst = (const struct sockaddr *)&dst,
        .inbound = f.inbound,
    };
    const struct vr_rule *r = vr_rules_match(&c->rules, &in);
    return r ? r->name : "final";
}

#define ROUTES_TO(c, want, ...)                                                                     \
    do {                                                                                            \
        const char *got_ = route((c), (struct flow){__VA_ARGS__});                                  \
        if (strcmp(got_, (want)) == 0) {                                                            \
            vr_test_passed++;                                                                       \
        } else {                                                                                    \
            vr_test_failed++;                                                                       \
            fprintf(stderr, "%s:%d: flow {%s} went to \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
                    #__VA_ARGS__, got_, (want));                                                     \
        }                                                                                           \
    } while (0)

/* A TCP flow from a client in 198.18.1.0/24 arriving on "tp". */
#define TCP4(D, P) .net = "tcp", .src = "198.18.1.10", .sport = 40000, .dst = (D), .dport = (P), .inbound = "tp"

static void test_first_match_wins(void)
{
    struct vr_config *c = load_rules("    { port = 443; outbound = \"a\"; },\n"
                                     "    { port = 443; outbound = \"b\"; },\n"
                                     "    { ip_cidr = \"203.0.113.0/24\"; outbound = \"c\"; },\n"
                                     "    { ip_cidr = \"0.0.0.0/0\"; port = 443; outbound = \"d\"; }");
    ROUTES_TO(c, "a", TCP4("203.0.113.5", 443)); /* rules 1, 2, 3, 4 all match */
    ROUTES_TO(c, "a", TCP4("198.51.100.1", 443));
    ROUTES_TO(c, "c", TCP4("203.0.113.5", 80));
    ROUTES_TO(c, "fin", TCP4("198.51.100.1", 80));
    CHECK(strcmp(rule_name(c, (struct flow){TCP4("203.0.113.5", 443)}), "rule #1") == 0);
    CHECK(strcmp(rule_name(c, (struct flow){TCP4("203.0.113.5", 80)}), "rule #3") == 0);
    CHECK(strcmp(rule_name(c, (struct flow){TCP4("198.51.100.1", 80)}), "final") == 0);
    /* Each rule remembers its line, for the log. */
    CHECK(c->rules.n == 4 && c->rules.rules[0].line == 8 && c->rules.rules[3].line == 11);
    vr_config_free(c);

    /* Order, not specificity: a broad rule before a narrow one wins. */
    c = load_rules("    { ip_cidr = \"203.0.0.0/8\"; outbound = \"b\"; },\n"
                   "    { ip_cidr = \"203.0.113.5/32\"; outbound = \"a\"; }");
    ROUTES_TO(c, "b", TCP4("203.0.113.5", 443));
    vr_config_free(c);

    /* Many rules: each flow lands on the first rule for its port. */
    char big[16384] = "";
    size_t off = 0;
    for (int i = 1; i <= 100; i++)
        off += (size_t)snprintf(big + off, sizeof(big) - off, "%s    { port = %d; outbound = \"%s\"; }",
                                i > 1 ? ",\n" : "", 1000 + i, (const char *[]){"a", "b", "c", "d"}[i % 4]);
    c = load_rules(big);
    CHECK(c->rules.n == 100);
    int right = 0;
    for (int i = 1; i <= 100; i++) {
        char want[32];
        snprintf(want, sizeof(want), "rule #%d", i);
        right += strcmp(rule_name(c, (struct flow){TCP4("203.0.113.5", 1000 + i)}), want) == 0 &&
                 strcmp(route(c, (struct flow){TCP4("203.0.113.5", 1000 + i)}),
                        (const char *[]){"a", "b", "c", "d"}[i % 4]) == 0;
    }
    CHECK(right == 100);
    ROUTES_TO(c, "fin", TCP4("203.0.113.5", 1000));
    ROUTES_TO(c, "fin", TCP4("203.0.113.5", 1101));
    vr_config_free(c);
}

static void test_and_across_keys(void)
{
    struct vr_config *c = load_rules("    { ip_cidr = \"203.0.113.0/24\"; port = 443; source_cidr = \"198.18.1.0/24\";\n"
                                     "      source_port_range = \"40000-40100\"; network = \"tcp\"; inbound = \"tp\";\n"
                                     "      outbound = \"a\"; }");
    struct flow ok = {TCP4("203.0.113.5", 443)};
    ROUTES_TO(c, "a", TCP4("203.0.113.5", 443));
    /* Break one key at a time: each alone makes the rule miss. */
    struct flow f = ok;
    f.dst = "203.0.114.5";
    CHECK(strcmp(route(c, f), "fin") == 0);
    f = ok;
    f.dport = 444;
    CHECK(strcmp(route(c, f), "fin") == 0);
    f = ok;
    f.src = "198.18.2.10";
    CHECK(strcmp(route(c, f), "fin") == 0);
    f = ok;
    f.sport = 40101;
    CHECK(strcmp(route(c, f), "fin") == 0);
    f = ok;
    f.net = "udp";
    CHECK(strcmp(route(c, f), "fin") == 0);
    f = ok;
    f.inbound = "tp2";
    CHECK(strcmp(route(c, f), "fin") == 0);
    vr_config_free(c);

    /* A rule with only an outbound matches everything. */
    c = load_rules("    { network = \"udp\"; outbound = \"b\"; },\n"
                   "    { outbound = \"c\"; }");
    ROUTES_TO(c, "c", TCP4("203.0.113.5", 443));
    ROUTES_TO(c, "c", .net = "tcp", .src = "2001:db8:1::1", .sport = 1, .dst = "2001:db8:2::2", .dport = 65535,
              .inbound = NULL);
    ROUTES_TO(c, "b", .net = "udp", .src = "198.18.1.10", .sport = 5353, .dst = "203.0.113.5", .dport = 53,
              .inbound = "tp");
    vr_config_free(c);
}

static void test_or_within_list(void)
{
    struct vr_config *c = load_rules("    { port = [80, 443, 8443]; outbound = \"a\"; },\n"
                                     "    { ip_cidr = [\"198.51.100.0/24\", \"2001:db8:99::/48\"]; outbound = \"b\"; },\n"
                                     "    { inbound = [\"tp2\", \"tp3\"]; outbound = \"c\"; },\n"
                                     "    { network = [\"udp\", \"tcp\"]; source_cidr = [\"10.0.0.0/8\", \"2001:db8:5::/64\"];\n"
                                     "      outbound = \"d\"; }");
    ROUTES_TO(c, "a", TCP4("203.0.113.5", 80));
    ROUTES_TO(c, "a", TCP4("203.0.113.5", 443));
    ROUTES_TO(c, "a", TCP4("203.0.113.5", 8443));
    ROUTES_TO(c, "b", TCP4("198.51.100.7", 8080));
    ROUTES_TO(c, "b", TCP4("2001:db8:99:1::7", 8080));
    ROUTES_TO(c, "fin", TCP4("2001:db8:98::7", 8080));
    ROUTES_TO(c, "c", .net = "tcp", .src = "198.18.1.10", .sport = 40000, .dst = "203.0.113.5", .dport = 22,
              .inbound = "tp2");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.1.10", .sport = 40000, .dst = "203.0.113.5", .dport = 22,
              .inbound = "tp");
    ROUTES_TO(c, "d", .net = "udp", .src = "10.1.2.3", .sport = 40000, .dst = "203.0.113.5", .dport = 22,
              .inbound = "tp");
    ROUTES_TO(c, "d", .net = "tcp", .src = "2001:db8:5::9", .sport = 40000, .dst = "203.0.113.5", .dport = 22,
              .inbound = "tp");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "2001:db8:6::9", .sport = 40000, .dst = "203.0.113.5", .dport = 22,
              .inbound = "tp");
    vr_config_free(c);
}

static void test_port_families(void)
{
    struct vr_config *c = load_rules("    { port = 443; port_range = [\"8000-8100\", \"9000-9000\"]; outbound = \"a\"; },\n"
                                     "    { source_port = 53; source_port_range = \"1000-2000\"; outbound = \"b\"; },\n"
                                     "    { port_range = \"1-1\"; outbound = \"c\"; },\n"
                                     "    { port = 65535; outbound = \"d\"; }");
    ROUTES_TO(c, "a", TCP4("203.0.113.5", 443));  /* port alone */
    ROUTES_TO(c, "a", TCP4("203.0.113.5", 8000)); /* range, low edge */
    ROUTES_TO(c, "a", TCP4("203.0.113.5", 8050));
    ROUTES_TO(c, "a", TCP4("203.0.113.5", 8100)); /* range, high edge */
    ROUTES_TO(c, "a", TCP4("203.0.113.5", 9000));
    ROUTES_TO(c, "fin", TCP4("203.0.113.5", 7999));
    ROUTES_TO(c, "fin", TCP4("203.0.113.5", 8101));
    ROUTES_TO(c, "fin", TCP4("203.0.113.5", 444));
    ROUTES_TO(c, "fin", TCP4("203.0.113.5", 8999));
    ROUTES_TO(c, "c", TCP4("203.0.113.5", 1));
    ROUTES_TO(c, "d", TCP4("203.0.113.5", 65535));
    ROUTES_TO(c, "b", .net = "tcp", .src = "198.18.1.10", .sport = 53, .dst = "203.0.113.5", .dport = 80, .inbound = "tp");
    ROUTES_TO(c, "b", .net = "tcp", .src = "198.18.1.10", .sport = 1000, .dst = "203.0.113.5", .dport = 80, .inbound = "tp");
    ROUTES_TO(c, "b", .net = "tcp", .src = "198.18.1.10", .sport = 2000, .dst = "203.0.113.5", .dport = 80, .inbound = "tp");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.1.10", .sport = 999, .dst = "203.0.113.5", .dport = 80, .inbound = "tp");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.1.10", .sport = 2001, .dst = "203.0.113.5", .dport = 80, .inbound = "tp");
    /* Destination ports say nothing about source ports and the other way round. */
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.1.10", .sport = 443, .dst = "203.0.113.5", .dport = 80, .inbound = "tp");
    vr_config_free(c);

    /* Port families are ANDed with each other and with the rest. */
    c = load_rules("    { port_range = \"400-500\"; source_port = [1, 2]; ip_cidr = \"203.0.113.0/24\"; outbound = \"a\"; }");
    ROUTES_TO(c, "a", .net = "tcp", .src = "198.18.1.10", .sport = 2, .dst = "203.0.113.5", .dport = 443, .inbound = "tp");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.1.10", .sport = 3, .dst = "203.0.113.5", .dport = 443, .inbound = "tp");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.1.10", .sport = 2, .dst = "203.0.113.5", .dport = 501, .inbound = "tp");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.1.10", .sport = 2, .dst = "198.51.100.5", .dport = 443, .inbound = "tp");
    vr_config_free(c);
}

static void test_cidrs(void)
{
    struct vr_config *c = load_rules("    { ip_cidr = \"198.18.0.0/15\"; outbound = \"a\"; },\n"
                                     "    { ip_cidr = [\"2001:db8:99::/48\", \"2001:db8::abcd/128\"]; outbound = \"b\"; },\n"
                                     "    { ip_cidr = \"203.0.113.128/25\"; outbound = \"c\"; },\n"
                                     "    { ip_cidr = \"::/0\"; outbound = \"d\"; }");
    ROUTES_TO(c, "a", TCP4("198.18.0.0", 80));
    ROUTES_TO(c, "a", TCP4("198.19.255.255", 80)); /* /15 spans two /16s */
    ROUTES_TO(c, "c", TCP4("203.0.113.128", 80));
    ROUTES_TO(c, "c", TCP4("203.0.113.255", 80));
    ROUTES_TO(c, "fin", TCP4("203.0.113.127", 80));
    ROUTES_TO(c, "fin", TCP4("198.20.0.0", 80));
    ROUTES_TO(c, "fin", TCP4("198.17.255.255", 80));
    ROUTES_TO(c, "b", TCP4("2001:db8:99::1", 80));
    ROUTES_TO(c, "b", TCP4("2001:db8:99:ffff:ffff:ffff:ffff:ffff", 80));
    ROUTES_TO(c, "b", TCP4("2001:db8::abcd", 80));
    ROUTES_TO(c, "d", TCP4("2001:db8::abce", 80)); /* /128 is exact; ::/0 catches it */
    ROUTES_TO(c, "d", TCP4("2001:db8:9a::1", 80));
    /* An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d: the
     * IPv4 rules apply to it, the IPv6 catch-all does not. */
    ROUTES_TO(c, "a", TCP4("::ffff:198.19.1.1", 80));
    ROUTES_TO(c, "c", TCP4("::ffff:203.0.113.200", 80));
    ROUTES_TO(c, "fin", TCP4("::ffff:203.0.113.1", 80));
    vr_config_free(c);

    /* IPv4 /0 does not take IPv6 destinations, nor IPv6 /0 IPv4 ones. */
    c = load_rules("    { ip_cidr = \"0.0.0.0/0\"; outbound = \"a\"; }");
    ROUTES_TO(c, "a", TCP4("192.0.2.1", 80));
    ROUTES_TO(c, "a", TCP4("::ffff:192.0.2.1", 80));
    ROUTES_TO(c, "fin", TCP4("2001:db8::1", 80));
    vr_config_free(c);

    /* source_cidr: the same over the client address, mapped or not. */
    c = load_rules("    { source_cidr = \"198.18.1.0/24\"; outbound = \"a\"; },\n"
                   "    { source_cidr = \"2001:db8:1::/64\"; outbound = \"b\"; }");
    ROUTES_TO(c, "a", .net = "tcp", .src = "198.18.1.200", .sport = 1, .dst = "203.0.113.5", .dport = 80, .inbound = "tp");
    ROUTES_TO(c, "a", .net = "tcp", .src = "::ffff:198.18.1.200", .sport = 1, .dst = "2001:db8:2::5", .dport = 80,
              .inbound = "tp");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.2.200", .sport = 1, .dst = "203.0.113.5", .dport = 80, .inbound = "tp");
    ROUTES_TO(c, "b", .net = "tcp", .src = "2001:db8:1::77", .sport = 1, .dst = "203.0.113.5", .dport = 80, .inbound = "tp");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "2001:db8:1:1::77", .sport = 1, .dst = "203.0.113.5", .dport = 80,
              .inbound = "tp");
    /* The destination does not count for source_cidr. */
    ROUTES_TO(c, "fin", .net = "tcp", .src = "192.0.2.1", .sport = 1, .dst = "198.18.1.5", .dport = 80, .inbound = "tp");
    vr_config_free(c);
}

static void test_network_and_inbound(void)
{
    struct vr_config *c = load_rules("    { network = \"udp\"; outbound = \"a\"; },\n"
                                     "    { inbound = \"tp2\"; outbound = \"b\"; },\n"
                                     "    { network = \"tcp\"; inbound = [\"tp\"]; port = 22; outbound = \"c\"; }");
    ROUTES_TO(c, "a", .net = "udp", .src = "198.18.1.10", .sport = 1, .dst = "203.0.113.5", .dport = 22, .inbound = "tp");
    ROUTES_TO(c, "a", .net = "udp", .src = "198.18.1.10", .sport = 1, .dst = "203.0.113.5", .dport = 22, .inbound = "tp2");
    ROUTES_TO(c, "b", .net = "tcp", .src = "198.18.1.10", .sport = 1, .dst = "203.0.113.5", .dport = 22, .inbound = "tp2");
    ROUTES_TO(c, "c", .net = "tcp", .src = "198.18.1.10", .sport = 1, .dst = "203.0.113.5", .dport = 22, .inbound = "tp");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.1.10", .sport = 1, .dst = "203.0.113.5", .dport = 23, .inbound = "tp");
    /* Inbound names match exactly; a flow without one matches no inbound rule. */
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.1.10", .sport = 1, .dst = "203.0.113.5", .dport = 22, .inbound = "TP");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.1.10", .sport = 1, .dst = "203.0.113.5", .dport = 22, .inbound = "tp22");
    ROUTES_TO(c, "fin", .net = "tcp", .src = "198.18.1.10", .sport = 1, .dst = "203.0.113.5", .dport = 22, .inbound = NULL);
    vr_config_free(c);
}

static void test_final(void)
{
    /* No rules at all: everything goes to final. */
    struct vr_config *c = load_rules("");
    CHECK(c->rules.n == 0);
    ROUTES_TO(c, "fin", TCP4("203.0.113.5", 443));
    ROUTES_TO(c, "fin", .net = "udp", .src = "2001:db8:1::1", .sport = 1, .dst = "2001:db8:2::2", .dport = 53, .inbound = "tp2");
    vr_config_free(c);

    /* Without a route group, final is the outbound tagged "direct". */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/noroute.conf", tmpdir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("listeners = ( { tag = \"tp\"; port = 7893; } );\n"
          "outbounds = ( { tag = \"x\"; module = \"direct\"; }, { tag = \"direct\"; module = \"direct\"; } );\n",
          f);
    fclose(f);
    c = vr_config_load(path);
    CHECK(c && c->errs.n == 0);
    CHECK(c && c->rules.n == 0 && c->rules.final_outbound == 1);
    if (c)
        ROUTES_TO(c, "direct", TCP4("203.0.113.5", 443));
    vr_config_free(c);
}

/* The first error of a route block that must not load, or "" when it loads. */
static const char *load_error(const char *rules, char *buf, size_t len)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/bad%d.conf", tmpdir, seq++);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        exit(2);
    fprintf(f, "listeners = ( { tag = \"tp\"; port = 7893; } );\n"
               "outbounds = ( { tag = \"a\"; module = \"direct\"; } );\nroute = {\n  final = \"a\";\n  rules = (\n%s\n  );\n};\n",
            rules);
    fclose(f);
    struct vr_config *c = vr_config_load(path);
    snprintf(buf, len, "%s", c && c->errs.n ? c->errs.msgs[0] : "");
    vr_config_free(c);
    return buf;
}

#define ERROR_HAS(rules, text)                                                                   \
    do {                                                                                         \
        char b_[1024];                                                                           \
        const char *e_ = load_error((rules), b_, sizeof(b_));                                    \
        if (strstr(e_, (text)) && strstr(e_, ".conf:6:")) {                                        \
            vr_test_passed++;                                                                    \
        } else {                                                                                 \
            vr_test_failed++;                                                                    \
            fprintf(stderr, "%s:%d: error \"%s\" lacks \"%s\" (or FILE:LINE)\n", __FILE__, __LINE__, e_, \
                    (text));                                                                     \
        }                                                                                        \
    } while (0)

static void test_actions(void)
{
    struct vr_config *c = load_rules("{ ip_cidr = \"203.0.113.0/24\"; action = \"reject\"; },\n"
                                     "{ port = 53; action = \"drop\"; offload = false; },\n"
                                     "{ port = 80; outbound = \"a\"; }");
    CHECK(c->rules.rules[0].action == VR_ACTION_REJECT && c->rules.rules[0].outbound == -1);
    CHECK(strcmp(c->rules.rules[0].end, "rejected by rule #1") == 0);
    CHECK(c->rules.rules[0].offload);
    CHECK(c->rules.rules[1].action == VR_ACTION_DROP && !c->rules.rules[1].offload);
    CHECK(strcmp(c->rules.rules[1].end, "dropped by rule #2") == 0);
    CHECK(c->rules.rules[2].action == VR_ACTION_ROUTE && c->rules.rules[2].outbound == 0);
    /* The decision: -1 with the action rule; first match still wins. */
    struct sockaddr_storage src, dst;
    vr_sockaddr_parse("198.18.1.10", 40000, &src, NULL);
    vr_sockaddr_parse("203.0.113.9", 80, &dst, NULL);
    struct vr_match_input in = {.network = VR_NET_TCP, .src = (const struct sockaddr *)&src,
                                .dst = (const struct sockaddr *)&dst, .inbound = "tp"};
    const struct vr_rule *r;
    CHECK(vr_rules_route(&c->rules, &in, &r) == -1 && r == &c->rules.rules[0]);
    vr_sockaddr_parse("198.51.100.9", 53, &dst, NULL);
    CHECK(vr_rules_route(&c->rules, &in, &r) == -1 && r == &c->rules.rules[1]);
    vr_sockaddr_parse("198.51.100.9", 80, &dst, NULL);
    CHECK(vr_rules_route(&c->rules, &in, &r) == 0 && r == &c->rules.rules[2]);
    vr_config_free(c);

    ERROR_HAS("{ port = 1; action = \"reject\"; outbound = \"a\"; }", "either 'outbound' or 'action', not both");
    ERROR_HAS("{ port = 1; }", "missing 'outbound' (the tag of an outbound) or 'action'");
    ERROR_HAS("{ port = 1; action = \"deny\"; }", "\"deny\" is not an action (expected \"reject\" or \"drop\"");
    ERROR_HAS("{ port = 1; action = \"drop\"; offload = 1; }", "offload: expected true, false or \"stateless\"");
    ERROR_HAS("{ port = 1; action = \"drop\"; offload = \"fast\"; }",
              "offload: expected true, false or \"stateless\" (found \"fast\")");
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/vr_test_rules.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    test_first_match_wins();
    test_and_across_keys();
    test_or_within_list();
    test_port_families();
    test_cidrs();
    test_network_and_inbound();
    test_final();
    test_actions();

    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return vr_test_report();
}
