/* Config validation: every error the core reports names FILE:LINE (the right
 * file and the right line) and says what is expected. Configs are written to
 * a temporary directory and checked through vr_generation_build(), the path
 * `vrouterd -t` and SIGHUP take (parse, load modules, create instances,
 * report unknown keys); structure checks use vr_config_load() directly. */
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vr_config.h"
#include "vr_generation.h"
#include "vr_test.h"

static char tmpdir[PATH_MAX];
static struct event_base *base;
static const char *module_dir;

/* Common pieces; each test adds the part it is about. */
#define LISTENERS "listeners = ( { tag = \"tp\"; mode = \"tproxy\"; address = \"::\"; port = 7893; } );\n"
#define OUTBOUNDS "outbounds = ( { tag = \"direct\"; module = \"direct\"; } );\n"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* The path of name in the temporary directory. */
static const char *tmp_path(const char *name)
{
    static char bufs[4][PATH_MAX + 64];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name);
    return b;
}

/* 1-based line of the first line of text that contains needle. */
static int line_of(const char *text, const char *needle)
{
    const char *hit = strstr(text, needle);
    if (hit == NULL) {
        fprintf(stderr, "test bug: \"%s\" not in the config text\n", needle);
        exit(2);
    }
    int line = 1;
    for (const char *p = text; p < hit; p++)
        line += *p == '\n';
    return line;
}

static void dump(const struct vr_errors *e)
{
    if (e->n == 0)
        fprintf(stderr, "    (no errors)\n");
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "    error %zu: %s\n", i, e->msgs[i]);
}

/* Exactly n errors. */
static void expect_n(int at, const struct vr_errors *e, size_t n)
{
    if (e->n == n) {
        vr_test_passed++;
        return;
    }
    vr_test_failed++;
    fprintf(stderr, "%s:%d: expected %zu error(s), got %zu:\n", __FILE__, at, n, e->n);
    dump(e);
}

/* Error idx starts with "FILE:LINE: " ("FILE: " for line 0) and contains
 * every needle (NULL-terminated). */
static void expect_at(int at, const struct vr_errors *e, size_t idx, const char *file, int line, ...)
{
    char prefix[PATH_MAX + 32];
    if (line > 0)
        snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
    else
        snprintf(prefix, sizeof(prefix), "%s: ", file);
    const char *msg = idx < e->n ? e->msgs[idx] : NULL;
    bool ok = msg != NULL && strncmp(msg, prefix, strlen(prefix)) == 0;
    if (!ok)
        fprintf(stderr, "%s:%d: error %zu should start with \"%s\"\n", __FILE__, at, idx, prefix);
    va_list ap;
    va_start(ap, line);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;) {
        if (msg == NULL || strstr(msg, needle) == NULL) {
            fprintf(stderr, "%s:%d: error %zu should contain \"%s\"\n", __FILE__, at, idx, needle);
            ok = false;
        }
    }
    va_end(ap);
    if (ok) {
        vr_test_passed++;
    } else {
        vr_test_failed++;
        dump(e);
    }
}

#define EXPECT_N(e, n) expect_n(__LINE__, (e), (n))
#define EXPECT_AT(e, idx, file, line, ...) expect_at(__LINE__, (e), (idx), (file), (line), __VA_ARGS__, (const char *)NULL)

/* Writes text as name and builds a generation from it, as `vrouterd -t`
 * does. Errors land in errs; a generation that did build is released. */
static bool build(const char *name, const char *text, struct vr_errors *errs)
{
    const char *path = tmp_path(name);
    write_file(path, text);
    vr_errors_clear(errs);
    struct vr_generation *g = vr_generation_build(path, base, 1, errs);
    if (g == NULL)
        return false;
    vr_generation_unref(g);
    vr_generation_release_all(); /* no loop runs here: release at once */
    return true;
}

/* One config that must fail with exactly one error at the line holding
 * marker, the error containing the needles. */
#define EXPECT_ONE_ERROR(name, text, marker, ...)                                 \
    do {                                                                          \
        struct vr_errors e_ = {0};                                                \
        CHECK(!build((name), (text), &e_));                                       \
        EXPECT_N(&e_, 1);                                                         \
        EXPECT_AT(&e_, 0, tmp_path(name), line_of((text), (marker)), __VA_ARGS__); \
        vr_errors_clear(&e_);                                                     \
    } while (0)

#define EXPECT_NO_ERROR(name, text)           \
    do {                                      \
        struct vr_errors e_ = {0};            \
        CHECK(build((name), (text), &e_));    \
        EXPECT_N(&e_, 0);                     \
        vr_errors_clear(&e_);                 \
    } while (0)

/* ---- the file itself */

static void test_baseline(void)
{
    /* The pieces the error tests add to are themselves valid. */
    EXPECT_NO_ERROR("baseline.conf", LISTENERS OUTBOUNDS "route = { final = \"direct\"; };\n");
}

static void test_syntax_error(void)
{
    const char *text = "daemon = {\n"
                       "  log_level = \"info\";\n"
                       "  max_connections = = 5;\n"
                       "};\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("syntax.conf", text, "= = 5", "syntax error", "libconfig syntax");

    /* An unterminated group: reported where libconfig gives up (the end). */
    const char *open = LISTENERS OUTBOUNDS "route = {\n  final = \"direct\";\n";
    int eof_line = 1;
    for (const char *p = open; *p; p++)
        eof_line += *p == '\n';
    struct vr_errors e = {0};
    CHECK(!build("unterminated.conf", open, &e));
    EXPECT_N(&e, 1);
    EXPECT_AT(&e, 0, tmp_path("unterminated.conf"), eof_line, "syntax error");
    vr_errors_clear(&e);
}

static void test_syntax_error_in_include(void)
{
    /* The error names the included file (as the @include line writes it,
     * relative to the config's directory) and its line, not the top file. */
    const char *inc = "# included\n"
                      "daemon = { log_level = \"info\" max_connections = ; };\n";
    write_file(tmp_path("inc_syntax.conf"), inc);
    const char *text = LISTENERS OUTBOUNDS "@include \"inc_syntax.conf\"\n";
    struct vr_errors e = {0};
    CHECK(!build("includes_bad.conf", text, &e));
    EXPECT_N(&e, 1);
    EXPECT_AT(&e, 0, "inc_syntax.conf", line_of(inc, "max_connections"), "syntax error");
    vr_errors_clear(&e);
}

static void test_missing_file(void)
{
    const char *path = tmp_path("does-not-exist.conf");
    struct vr_errors e = {0};
    struct vr_generation *g = vr_generation_build(path, base, 1, &e);
    CHECK(g == NULL);
    EXPECT_N(&e, 1);
    EXPECT_AT(&e, 0, path, 0, "cannot read the file", "No such file");
    vr_errors_clear(&e);
}

/* ---- unknown keys */

static void test_unknown_keys(void)
{
    const char *top = LISTENERS OUTBOUNDS "bogus = 1;\n";
    EXPECT_ONE_ERROR("unknown_top.conf", top, "bogus", "unknown key 'bogus'", "known keys here:", "daemon",
                     "listeners", "outbounds", "route");

    const char *daemon = "daemon = {\n"
                         "  log_level = \"info\";\n"
                         "  loglevel = \"debug\";\n"
                         "};\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("unknown_daemon.conf", daemon, "loglevel =", "daemon: unknown key 'loglevel'", "log_level",
                     "bypass_mark");

    const char *listener = "listeners = (\n"
                           "  { tag = \"tp\"; port = 7893; },\n"
                           "  { tag = \"tp2\";\n"
                           "    prot = 7894; port = 7894; }\n"
                           ");\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("unknown_listener.conf", listener, "prot =", "listeners[2]: unknown key 'prot'", "port",
                     "mode");

    const char *rule = LISTENERS OUTBOUNDS "route = {\n"
                                           "  rules = (\n"
                                           "    { port = 80; outbound = \"direct\"; },\n"
                                           "    { outbound = \"direct\";\n"
                                           "      ip_cdir = [\"203.0.113.0/24\"]; }\n"
                                           "  );\n"
                                           "};\n";
    EXPECT_ONE_ERROR("unknown_rule.conf", rule, "ip_cdir", "route: rules[2]: unknown key 'ip_cdir'", "ip_cidr",
                     "source_cidr");

    const char *route = LISTENERS OUTBOUNDS "route = {\n"
                                            "  finale = \"direct\";\n"
                                            "};\n";
    EXPECT_ONE_ERROR("unknown_route.conf", route, "finale", "route: unknown key 'finale'", "final", "rules");
}

static void test_unknown_key_in_outbound(void)
{
    /* Reported after the module's create has read its keys. */
    char text[4096];
    snprintf(text, sizeof(text),
             "daemon = { module_path = \"%s\"; };\n" LISTENERS
             "outbounds = (\n"
             "  { tag = \"direct\"; module = \"direct\"; },\n"
             "  { tag = \"wan-b\"; module = \"direct\";\n"
             "    bind_address = \"198.19.2.3\";\n"
             "    bind_adress = \"198.19.2.4\"; }\n"
             ");\n",
             module_dir);
    EXPECT_ONE_ERROR("unknown_outbound.conf", text, "bind_adress", "outbounds[2]: unknown key 'bind_adress'",
                     "known keys here:", "bind_address", "connect_timeout_ms");

    /* The same block without the typo is accepted: the key was the error. */
    char good[4096];
    snprintf(good, sizeof(good),
             "daemon = { module_path = \"%s\"; };\n" LISTENERS
             "outbounds = ( { tag = \"direct\"; module = \"direct\"; },\n"
             "  { tag = \"wan-b\"; module = \"direct\"; bind_address = \"198.19.2.3\";\n"
             "    bind_interface = \"eth1\"; routing_mark = 0x10; connect_timeout_ms = 5000; } );\n",
             module_dir);
    EXPECT_NO_ERROR("known_outbound.conf", good);
}

static void test_unknown_key_in_include(void)
{
    /* FILE is the file the key stands in, as the @include line names it. */
    const char *inc = "daemon = {\n"
                      "  log_level = \"warn\";\n"
                      "  verbosity = 3;\n"
                      "};\n";
    write_file(tmp_path("inc_unknown.conf"), inc);
    const char *text = LISTENERS OUTBOUNDS "@include \"inc_unknown.conf\"\n";
    struct vr_errors e = {0};
    CHECK(!build("includes_unknown.conf", text, &e));
    EXPECT_N(&e, 1);
    EXPECT_AT(&e, 0, "inc_unknown.conf", line_of(inc, "verbosity"), "daemon: unknown key 'verbosity'");
    vr_errors_clear(&e);

    /* A value error in an included rule names the included file too. */
    const char *rules = "route = {\n"
                        "  rules = (\n"
                        "    { outbound = \"direct\"; port = 99999; }\n"
                        "  );\n"
                        "};\n";
    write_file(tmp_path("inc_rules.conf"), rules);
    const char *text2 = LISTENERS OUTBOUNDS "@include \"inc_rules.conf\"\n";
    CHECK(!build("includes_rules.conf", text2, &e));
    EXPECT_N(&e, 1);
    EXPECT_AT(&e, 0, "inc_rules.conf", line_of(rules, "99999"), "route: rules[1]: port: port 99999 is out of range");
    vr_errors_clear(&e);

    /* Regression (found by this test, fixed in 1d2973f): a module error for
     * a block in an included file named the top file with the included
     * file's line number. Same for sniffers named by an included listener. */
    const char *obs = "outbounds = (\n"
                      "  { tag = \"direct\"; module = \"direct\"; },\n"
                      "  { tag = \"wan\"; module = \"no_such_module\"; }\n"
                      ");\n";
    write_file(tmp_path("inc_outbounds.conf"), obs);
    const char *text3 = "# outbounds come from elsewhere\n" LISTENERS "@include \"inc_outbounds.conf\"\n";
    CHECK(!build("includes_outbounds.conf", text3, &e));
    EXPECT_N(&e, 1);
    EXPECT_AT(&e, 0, "inc_outbounds.conf", line_of(obs, "no_such_module"), "cannot load module \"no_such_module\"");
    vr_errors_clear(&e);

    const char *lis = "# the listeners\n"
                      "listeners = (\n"
                      "  { tag = \"tp\"; port = 7893; sniff = [\"no_such_sniffer\"]; }\n"
                      ");\n";
    write_file(tmp_path("inc_listeners.conf"), lis);
    const char *text4 = OUTBOUNDS "@include \"inc_listeners.conf\"\n";
    CHECK(!build("includes_listeners.conf", text4, &e));
    EXPECT_N(&e, 1);
    EXPECT_AT(&e, 0, "inc_listeners.conf", line_of(lis, "no_such_sniffer"), "cannot load module \"no_such_sniffer\"");
    vr_errors_clear(&e);
}

/* ---- wrong types */

static void test_wrong_types(void)
{
    const char *t1 = "daemon = {\n  max_connections = \"100\";\n};\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("type_daemon_int.conf", t1, "max_connections",
                     "daemon: max_connections: expected an integer, found a string");

    const char *t2 = "daemon = {\n  log_level = 3;\n};\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("type_daemon_string.conf", t2, "log_level",
                     "daemon: log_level: expected a string in double quotes, found an integer");

    const char *t3 = "listeners = (\n  { tag = \"tp\";\n    port = \"7893\"; }\n);\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("type_listener_port.conf", t3, "port =", "listeners[1]: port: expected an integer, found a string");

    const char *t4 = "listeners = (\n  { tag = \"tp\"; port = 7893;\n    address = 0; }\n);\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("type_listener_addr.conf", t4, "address =",
                     "listeners[1]: address: expected a string in double quotes, found an integer");

    const char *t5 = LISTENERS OUTBOUNDS "route = { rules = (\n"
                                         "  { outbound = \"direct\";\n"
                                         "    ip_cidr = [1, 2]; }\n"
                                         "); };\n";
    EXPECT_ONE_ERROR("type_rule_cidr.conf", t5, "ip_cidr",
                     "route: rules[1]: ip_cidr: element 1: expected a string, found an integer");

    const char *t6 = LISTENERS OUTBOUNDS "route = { rules = (\n"
                                         "  { outbound = \"direct\";\n"
                                         "    port = [\"443\"]; }\n"
                                         "); };\n";
    EXPECT_ONE_ERROR("type_rule_port.conf", t6, "[\"443\"]",
                     "route: rules[1]: port: element 1: expected an integer, found a string");

    const char *t7 = LISTENERS OUTBOUNDS "route = { rules = (\n"
                                         "  { outbound = \"direct\";\n"
                                         "    port = 44.3; }\n"
                                         "); };\n";
    EXPECT_ONE_ERROR("type_rule_float.conf", t7, "44.3", "route: rules[1]: port: element 1: expected an integer",
                     "a number with a fraction");

    const char *t8 = "daemon = 5;\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("type_daemon_group.conf", t8, "daemon", "daemon: expected a group", "found an integer");

    const char *t9 = LISTENERS OUTBOUNDS "route = {\n  rules = ( \"direct\" );\n};\n";
    EXPECT_ONE_ERROR("type_rules_elem.conf", t9, "rules =", "route: rules: element 1: expected a group",
                     "found a string");

    const char *t10 = LISTENERS OUTBOUNDS "route = {\n  final = [\"direct\"];\n};\n";
    EXPECT_ONE_ERROR("type_final.conf", t10, "final",
                     "route: final: expected a string in double quotes, found an array");

    const char *t11 = LISTENERS OUTBOUNDS "route = { rules = (\n"
                                          "  { outbound = \"direct\";\n"
                                          "    inbound = { tag = \"tp\"; }; }\n"
                                          "); };\n";
    EXPECT_ONE_ERROR("type_inbound.conf", t11, "inbound",
                     "route: rules[1]: inbound: expected a value or a list of values, found a group");

    /* A module's getter reports the wrong type with FILE:LINE too. */
    const char *t12 = LISTENERS "outbounds = (\n"
                                "  { tag = \"direct\"; module = \"direct\";\n"
                                "    routing_mark = \"0x10\"; }\n"
                                ");\n";
    EXPECT_ONE_ERROR("type_module_key.conf", t12, "routing_mark",
                     "outbounds[1]: routing_mark: expected an integer, found a string");
}

/* ---- outbound tags */

static void test_unknown_outbound_tag(void)
{
    const char *rule = LISTENERS OUTBOUNDS "route = {\n"
                                           "  rules = (\n"
                                           "    { port = 443;\n"
                                           "      outbound = \"wan-c\"; }\n"
                                           "  );\n"
                                           "};\n";
    EXPECT_ONE_ERROR("tag_rule.conf", rule, "wan-c", "route: rules[1]: outbound: no outbound has tag \"wan-c\"",
                     "outbounds");

    const char *final = LISTENERS OUTBOUNDS "route = {\n"
                                            "  final = \"nowhere\";\n"
                                            "};\n";
    EXPECT_ONE_ERROR("tag_final.conf", final, "nowhere", "route: final: no outbound has tag \"nowhere\"");

    const char *missing = LISTENERS OUTBOUNDS "route = {\n"
                                              "  rules = (\n"
                                              "    { port = 443; }\n"
                                              "  );\n"
                                              "};\n";
    EXPECT_ONE_ERROR("tag_missing.conf", missing, "port = 443", "route: rules[1]: missing 'outbound'");

    /* No final and no outbound tagged "direct": nowhere to send the rest. */
    const char *nofinal = LISTENERS "outbounds = ( { tag = \"wan\"; module = \"direct\"; } );\n"
                                    "route = {\n"
                                    "  rules = ( { port = 443; outbound = \"wan\"; } );\n"
                                    "};\n";
    EXPECT_ONE_ERROR("tag_nofinal.conf", nofinal, "route =", "route: missing 'final'", "\"direct\"");
}

/* ---- ports */

static void test_ports(void)
{
    const char *l1 = "listeners = (\n  { tag = \"tp\";\n    port = 70000; }\n);\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("port_listener_high.conf", l1, "port =", "listeners[1]: port: 70000 is out of range",
                     "expected 1-65535");
    const char *l2 = "listeners = (\n  { tag = \"tp\";\n    port = 0; }\n);\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("port_listener_zero.conf", l2, "port =", "listeners[1]: port: 0 is out of range",
                     "expected 1-65535");
    const char *l3 = "listeners = (\n  { tag = \"tp\";\n    mode = \"tproxy\"; }\n);\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("port_listener_missing.conf", l3, "{ tag", "listeners[1]: missing 'port'");

    struct {
        const char *name, *line, *needle;
    } bad[] = {
        {"port_rule_zero.conf", "port = 0;", "port: port 0 is out of range (expected 1-65535)"},
        {"port_rule_high.conf", "port = 65536;", "port: port 65536 is out of range (expected 1-65535)"},
        {"port_rule_list.conf", "port = [443, 70000];", "port: port 70000 is out of range"},
        {"port_range_reversed.conf", "port_range = \"9-5\";", "port_range: \"9-5\" is not a port range"},
        {"port_range_zero.conf", "port_range = \"0-10\";", "port_range: \"0-10\" is not a port range"},
        {"port_range_garbage.conf", "port_range = \"abc\";", "port_range: \"abc\" is not a port range"},
        {"port_range_open.conf", "port_range = [\"8000-8100\", \"5-\"];", "port_range: \"5-\" is not a port range"},
        {"port_range_high.conf", "port_range = \"1-65536\";", "port_range: \"1-65536\" is not a port range"},
        {"port_range_single.conf", "port_range = \"80\";", "port_range: \"80\" is not a port range"},
        {"port_range_trailing.conf", "port_range = \"1-2x\";", "port_range: \"1-2x\" is not a port range"},
        {"sport_high.conf", "source_port = 65536;", "source_port: port 65536 is out of range"},
        {"sport_range_reversed.conf", "source_port_range = \"9-5\";", "source_port_range: \"9-5\" is not a port range"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text),
                 LISTENERS OUTBOUNDS "route = {\n"
                                     "  rules = (\n"
                                     "    { outbound = \"direct\";\n"
                                     "      %s }\n"
                                     "  );\n"
                                     "};\n",
                 bad[i].line);
        EXPECT_ONE_ERROR(bad[i].name, text, bad[i].line, "route: rules[1]: ", bad[i].needle);
    }
    /* The range message says what is expected. */
    const char *r = LISTENERS OUTBOUNDS "route = { rules = (\n  { outbound = \"direct\"; port_range = \"9-5\"; }\n); };\n";
    EXPECT_ONE_ERROR("port_range_hint.conf", r, "9-5", "expected \"LOW-HIGH\" with 1 <= LOW <= HIGH <= 65535");

    /* The edges are valid. */
    const char *edges = LISTENERS OUTBOUNDS "route = { rules = (\n"
                                            "  { outbound = \"direct\"; port = [1, 65535]; port_range = [\"1-65535\", \"7-7\"];\n"
                                            "    source_port = 65535; source_port_range = \"1-1\"; }\n"
                                            "); };\n";
    EXPECT_NO_ERROR("port_edges.conf", edges);
}

/* ---- CIDRs and networks */

static void test_cidrs(void)
{
    struct {
        const char *name, *line, *needle;
    } bad[] = {
        {"cidr_hostbits.conf", "ip_cidr = \"10.0.0.1/8\";", "ip_cidr: \"10.0.0.1/8\" is not a CIDR"},
        {"cidr_33.conf", "ip_cidr = [\"10.0.0.0/33\"];", "ip_cidr: \"10.0.0.0/33\" is not a CIDR"},
        {"cidr_garbage.conf", "ip_cidr = [\"203.0.113.0/24\", \"garbage\"];", "ip_cidr: \"garbage\" is not a CIDR"},
        {"cidr_v6_129.conf", "ip_cidr = \"2001:db8::/129\";", "ip_cidr: \"2001:db8::/129\" is not a CIDR"},
        {"cidr_v6_hostbits.conf", "ip_cidr = \"2001:db8::1/32\";", "ip_cidr: \"2001:db8::1/32\" is not a CIDR"},
        {"cidr_empty_prefix.conf", "ip_cidr = \"10.0.0.0/\";", "ip_cidr: \"10.0.0.0/\" is not a CIDR"},
        {"cidr_neg_prefix.conf", "ip_cidr = \"10.0.0.0/-1\";", "ip_cidr: \"10.0.0.0/-1\" is not a CIDR"},
        {"cidr_empty.conf", "ip_cidr = \"\";", "ip_cidr: \"\" is not a CIDR"},
        {"cidr_source.conf", "source_cidr = [\"198.18.1.7/24\"];", "source_cidr: \"198.18.1.7/24\" is not a CIDR"},
        {"cidr_empty_list.conf", "ip_cidr = [];", "ip_cidr: empty list matches nothing"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text),
                 LISTENERS OUTBOUNDS "route = {\n"
                                     "  rules = (\n"
                                     "    { outbound = \"direct\"; },\n"
                                     "    { outbound = \"direct\";\n"
                                     "      %s }\n"
                                     "  );\n"
                                     "};\n",
                 bad[i].line);
        EXPECT_ONE_ERROR(bad[i].name, text, bad[i].line, "route: rules[2]: ", bad[i].needle);
    }
    const char *hint = LISTENERS OUTBOUNDS "route = { rules = (\n  { outbound = \"direct\"; ip_cidr = \"10.0.0.1/8\"; }\n); };\n";
    EXPECT_ONE_ERROR("cidr_hint.conf", hint, "10.0.0.1/8", "expected e.g. \"198.18.0.0/15\" or \"2001:db8::/32\"",
                     "host bits zero");

    /* Bare addresses and the prefix edges are valid. */
    const char *good = LISTENERS OUTBOUNDS
        "route = { rules = (\n"
        "  { outbound = \"direct\"; ip_cidr = [\"0.0.0.0/0\", \"::/0\", \"203.0.113.7\", \"2001:db8::1\",\n"
        "    \"198.18.0.0/15\", \"2001:db8::/128\", \"::ffff:198.18.0.0/112\"]; source_cidr = \"10.0.0.0/8\"; }\n"
        "); };\n";
    EXPECT_NO_ERROR("cidr_good.conf", good);
}

static void test_networks(void)
{
    const char *rule = LISTENERS OUTBOUNDS "route = { rules = (\n"
                                           "  { outbound = \"direct\";\n"
                                           "    network = [\"tcp\", \"sctp\"]; }\n"
                                           "); };\n";
    EXPECT_ONE_ERROR("network_rule.conf", rule, "sctp", "route: rules[1]: network: \"sctp\" is not a network",
                     "expected \"tcp\" or \"udp\"");

    const char *listener = "listeners = (\n"
                           "  { tag = \"tp\"; port = 7893;\n"
                           "    network = \"icmp\"; }\n"
                           ");\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("network_listener.conf", listener, "icmp", "listeners[1]: network: \"icmp\" is not a network",
                     "expected \"tcp\" or \"udp\"");

    const char *mode = "listeners = (\n"
                       "  { tag = \"tp\"; port = 7893;\n"
                       "    mode = \"nat\"; }\n"
                       ");\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("listener_mode.conf", mode, "nat", "listeners[1]: mode: \"nat\" is not a mode",
                     "\"tproxy\" or \"redirect\"");

    const char *addr = "listeners = (\n"
                       "  { tag = \"tp\"; port = 7893;\n"
                       "    address = \"localhost\"; }\n"
                       ");\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("listener_address.conf", addr, "localhost", "listeners[1]: address: \"localhost\" is not a numeric");
}

/* ---- tags, listeners, daemon */

static void test_udp_block(void)
{
    const char *good = "listeners = (\n"
                       "  { tag = \"tp\"; port = 7893; network = [\"tcp\", \"udp\"]; sniff = [\"tls\", \"dns\"];\n"
                       "    udp = { nat = \"address-dependent\"; idle_timeout_s = 30; dns_idle_timeout_s = 5;\n"
                       "            max_sessions = 100; max_sessions_per_client = 10; }; }\n"
                       ");\n" OUTBOUNDS;
    EXPECT_NO_ERROR("udp_good.conf", good);
    struct vr_config *c = vr_config_load(tmp_path("udp_good.conf"));
    CHECK(c && c->n_listeners == 1);
    if (c && c->n_listeners == 1) {
        const struct vr_udp_cfg *u = &c->listeners[0].udp;
        CHECK(c->listeners[0].networks == (VR_NET_TCP | VR_NET_UDP));
        CHECK(u->nat == VR_UDP_NAT_ADDRESS_DEPENDENT && u->idle_timeout_s == 30 && u->dns_idle_timeout_s == 5);
        CHECK(u->max_sessions == 100 && u->max_sessions_per_client == 10);
    }
    vr_config_free(c);
    /* defaults: full cone, 60 s / 10 s, 16384 sessions, a quarter per client */
    write_file(tmp_path("udp_default.conf"), "listeners = ( { tag = \"tp\"; port = 7893; network = \"udp\"; } );\n" OUTBOUNDS);
    c = vr_config_load(tmp_path("udp_default.conf"));
    CHECK(c && c->errs.n == 0 && c->n_listeners == 1);
    if (c && c->n_listeners == 1) {
        const struct vr_udp_cfg *u = &c->listeners[0].udp;
        CHECK(c->listeners[0].networks == VR_NET_UDP);
        CHECK(u->nat == VR_UDP_NAT_ENDPOINT_INDEPENDENT && u->idle_timeout_s == 60 && u->dns_idle_timeout_s == 10);
        CHECK(u->max_sessions == 16384 && u->max_sessions_per_client == 4096);
    }
    vr_config_free(c);

    const char *nat = "listeners = (\n"
                      "  { tag = \"tp\"; port = 7893; network = [\"udp\"];\n"
                      "    udp = { nat = \"full-cone\"; }; }\n"
                      ");\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("udp_nat.conf", nat, "full-cone", "listeners[1]: udp: nat: \"full-cone\" is not a NAT mode",
                     "\"endpoint-independent\", \"address-dependent\" or \"address-and-port-dependent\"");
    const char *range = "listeners = (\n"
                        "  { tag = \"tp\"; port = 7893; network = [\"udp\"];\n"
                        "    udp = { max_sessions = 0; }; }\n"
                        ");\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("udp_range.conf", range, "max_sessions", "udp: max_sessions: 0 is out of range",
                     "expected 1 to 4000000 sessions");
    const char *unknown = "listeners = (\n"
                          "  { tag = \"tp\"; port = 7893; network = [\"udp\"];\n"
                          "    udp = { idle_timeout = 5; }; }\n"
                          ");\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("udp_unknown.conf", unknown, "idle_timeout", "idle_timeout", "idle_timeout_s");
    const char *tcp_only = "listeners = (\n"
                           "  { tag = \"tp\"; port = 7893;\n"
                           "    udp = { nat = \"endpoint-independent\"; }; }\n"
                           ");\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("udp_tcp_only.conf", tcp_only, "udp =", "UDP settings on a listener that does not take UDP",
                     "network = [\"tcp\", \"udp\"]");
    const char *redirect = "listeners = (\n"
                           "  { tag = \"tp\"; port = 7893; mode = \"redirect\";\n"
                           "    network = [\"tcp\", \"udp\"]; }\n"
                           ");\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("udp_redirect.conf", redirect, "network =", "\"udp\" needs mode = \"tproxy\"");
}

static void test_duplicates(void)
{
    const char *ob = LISTENERS "outbounds = (\n"
                               "  { tag = \"direct\"; module = \"direct\"; },\n"
                               "  { tag = \"wan\"; module = \"direct\"; },\n"
                               "  { module = \"direct\";\n"
                               "    tag = \"wan\"; }\n"
                               ");\n";
    char needle[128];
    snprintf(needle, sizeof(needle), "outbounds[3]: tag: \"wan\" is already the tag of the outbound at line %d",
             line_of(ob, "{ tag = \"wan\""));
    EXPECT_ONE_ERROR("dup_outbound.conf", ob, "    tag = \"wan\"", needle);

    const char *li = "listeners = (\n"
                     "  { tag = \"tp\"; port = 7893; },\n"
                     "  { port = 7894;\n"
                     "    tag = \"tp\"; }\n"
                     ");\n" OUTBOUNDS;
    snprintf(needle, sizeof(needle), "listeners[2]: tag: \"tp\" is already the tag of the listener at line %d",
             line_of(li, "port = 7893"));
    EXPECT_ONE_ERROR("dup_listener.conf", li, "    tag = \"tp\"", needle);

    const char *port = "listeners = (\n"
                       "  { tag = \"a\"; address = \"::\"; port = 7893; },\n"
                       "  { tag = \"b\"; address = \"::\";\n"
                       "    port = 7893; }\n"
                       ");\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("dup_port.conf", port, "    port = 7893", "listeners[2]: port: :: port 7893 is already used",
                     "\"a\"");
}

static void test_missing_listeners(void)
{
    const char *text = OUTBOUNDS "route = { final = \"direct\"; };\n";
    struct vr_errors e = {0};
    CHECK(!build("no_listeners.conf", text, &e));
    EXPECT_N(&e, 1);
    /* A missing key has no line: the message names the file alone. */
    EXPECT_AT(&e, 0, tmp_path("no_listeners.conf"), 0, "no 'listeners' list", "tag = \"tp\"");
    vr_errors_clear(&e);

    const char *tagless = "listeners = (\n  { port = 7893; }\n);\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("listener_tagless.conf", tagless, "port = 7893", "listeners[1]: missing 'tag'");

    const char *wrong = "listeners = 7893;\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("listeners_scalar.conf", wrong, "listeners",
                     "listeners: element 1: expected a group", "found an integer");

    /* Regression (found by this test, fixed in 1d2973f): an empty list was
     * accepted silently although nothing would be captured. */
    const char *empty = "listeners = (\n);\n" OUTBOUNDS;
    EXPECT_ONE_ERROR("listeners_empty.conf", empty, "listeners", "listeners: the list is empty",
                     "nothing would be captured");
}

static void test_daemon_values(void)
{
    const char *lvl = "daemon = {\n  log_level = \"verbose\";\n};\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("log_level.conf", lvl, "verbose", "daemon: log_level: \"verbose\" is not a level",
                     "\"error\", \"warn\", \"info\" or \"debug\"");

    const char *m0 = "daemon = {\n  bypass_mark = 0;\n};\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("mark_zero.conf", m0, "bypass_mark", "daemon: bypass_mark: 0 is not a usable firewall mark",
                     "expected 1 to 0xffffffff");
    const char *mneg = "daemon = {\n  bypass_mark = -5;\n};\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("mark_neg.conf", mneg, "bypass_mark", "daemon: bypass_mark: -5 is not a usable firewall mark");
    const char *mbig = "daemon = {\n  bypass_mark = 0x100000000L;\n};\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("mark_big.conf", mbig, "bypass_mark",
                     "daemon: bypass_mark: 4294967296 is not a usable firewall mark");
    const char *mstr = "daemon = {\n  bypass_mark = \"0xff\";\n};\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("mark_string.conf", mstr, "bypass_mark", "daemon: bypass_mark: expected an integer, found a string");

    const char *rneg = "daemon = {\n  retire_timeout_s = -1;\n};\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("retire_neg.conf", rneg, "retire_timeout_s", "daemon: retire_timeout_s: -1 is out of range",
                     "expected 0, no limit, to 2592000 seconds");
    {
        write_file(tmp_path("retire.conf"), "daemon = { retire_timeout_s = 90; };\n" LISTENERS OUTBOUNDS);
        struct vr_config *c = vr_config_load(tmp_path("retire.conf"));
        CHECK(c && c->errs.n == 0 && c->daemon.retire_timeout_s == 90);
        vr_config_free(c);
        write_file(tmp_path("retire_default.conf"), LISTENERS OUTBOUNDS);
        c = vr_config_load(tmp_path("retire_default.conf"));
        CHECK(c && c->errs.n == 0 && c->daemon.retire_timeout_s == 0);
        vr_config_free(c);
    }
    EXPECT_NO_ERROR("mark_ok.conf", "daemon = { bypass_mark = 0x7fffffff; log_level = \"debug\"; };\n" LISTENERS OUTBOUNDS);
    /* Regression (found by this test, fixed in 1d2973f): libconfig 1.5
     * stores a hex literal above 0x7fffffff as a negative 32-bit int, so
     * 0xffffffff read as -1 and the top half of the promised range ("1 to
     * 0xffffffff") was refused. */
    EXPECT_NO_ERROR("mark_top.conf", "daemon = { bypass_mark = 0xffffffff; };\n" LISTENERS OUTBOUNDS);
    EXPECT_NO_ERROR("mark_high.conf", "daemon = { bypass_mark = 0x80000000; };\n" LISTENERS OUTBOUNDS);
    {
        write_file(tmp_path("mark_value.conf"), "daemon = { bypass_mark = 0xfffffffe; };\n" LISTENERS OUTBOUNDS);
        struct vr_config *c = vr_config_load(tmp_path("mark_value.conf"));
        CHECK(c && c->errs.n == 0 && c->daemon.bypass_mark == 0xfffffffeu);
        vr_config_free(c);
    }

    const char *mc = "daemon = {\n  max_connections = 0;\n};\n" LISTENERS OUTBOUNDS;
    EXPECT_ONE_ERROR("max_conn.conf", mc, "max_connections", "daemon: max_connections: 0 is out of range");
}

/* ---- the direct module's keys (checked in its create) */

static void test_direct_keys(void)
{
    struct {
        const char *name, *line, *needle;
    } bad[] = {
        {"direct_bind_junk.conf", "bind_address = \"198.19.2.300\";",
         "outbounds[2]: bind_address: \"198.19.2.300\" is not a numeric IPv4 or IPv6 address"},
        {"direct_bind_name.conf", "bind_address = [\"eth0\"];", "outbounds[2]: bind_address: \"eth0\" is not a numeric"},
        {"direct_bind_two_v4.conf", "bind_address = [\"198.19.2.3\", \"198.19.2.4\"];",
         "outbounds[2]: bind_address: \"198.19.2.4\" is not a numeric IPv4 or IPv6 address (at most one of each family)"},
        {"direct_timeout_zero.conf", "connect_timeout_ms = 0;",
         "outbounds[2]: connect_timeout_ms: 0 is out of range (expected 1 to 600000)"},
        {"direct_timeout_high.conf", "connect_timeout_ms = 600001;",
         "outbounds[2]: connect_timeout_ms: 600001 is out of range (expected 1 to 600000)"},
        {"direct_mark_neg.conf", "routing_mark = -1;", "outbounds[2]: routing_mark: -1 is not a firewall mark"},
        {"direct_ifname.conf", "bind_interface = \"an-interface-name-too-long\";",
         "outbounds[2]: bind_interface: \"an-interface-name-too-long\" is not an interface name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[4096];
        snprintf(text, sizeof(text),
                 "daemon = { module_path = \"%s\"; };\n" LISTENERS
                 "outbounds = (\n"
                 "  { tag = \"direct\"; module = \"direct\"; },\n"
                 "  { tag = \"wan-b\"; module = \"direct\";\n"
                 "    %s }\n"
                 ");\n",
                 module_dir, bad[i].line);
        EXPECT_ONE_ERROR(bad[i].name, text, bad[i].line, bad[i].needle);
    }
    /* Both families at once is fine. */
    char good[4096];
    snprintf(good, sizeof(good),
             "daemon = { module_path = \"%s\"; };\n" LISTENERS
             "outbounds = ( { tag = \"direct\"; module = \"direct\"; bind_address = [\"198.19.2.3\", \"2001:db8::3\"];\n"
             "  connect_timeout_ms = 600000; } );\n",
             module_dir);
    EXPECT_NO_ERROR("direct_good.conf", good);
}

static void test_missing_module(void)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "daemon = { module_path = \"%s\"; };\n" LISTENERS
             "outbounds = (\n"
             "  { tag = \"direct\"; module = \"direct\"; },\n"
             "  { tag = \"wan\";\n"
             "    module = \"no_such_module\"; }\n"
             ");\n",
             module_dir);
    char path_needle[PATH_MAX + 64];
    snprintf(path_needle, sizeof(path_needle), "module_path is \"%s\"", module_dir);
    /* The error points at the block naming the module. */
    EXPECT_ONE_ERROR("no_module.conf", text, "{ tag = \"wan\"", "cannot load module \"no_such_module\"",
                     "no_such_module.so", path_needle);

    const char *slash = LISTENERS "outbounds = (\n  { tag = \"direct\";\n    module = \"../direct\"; }\n);\n";
    struct vr_errors e = {0};
    CHECK(!build("module_slash.conf", slash, &e));
    EXPECT_N(&e, 1);
    EXPECT_AT(&e, 0, tmp_path("module_slash.conf"), line_of(slash, "{ tag = \"direct\""), "\"../direct\" is not a module name");
    vr_errors_clear(&e);

    const char *nomod = LISTENERS "outbounds = (\n  { tag = \"direct\"; }\n);\n";
    EXPECT_ONE_ERROR("module_missing_key.conf", nomod, "{ tag = \"direct\"", "outbounds[1]: missing 'module'");

    /* A relative module_path resolves against the config file's directory:
     * here it names a directory with no direct.so in it. */
    const char *rel = "daemon = { module_path = \"mods\"; };\n" LISTENERS OUTBOUNDS;
    char real[PATH_MAX], want[PATH_MAX + 64];
    CHECK(realpath(tmpdir, real) != NULL);
    snprintf(want, sizeof(want), "module_path is \"%s/mods\"", real);
    EXPECT_ONE_ERROR("module_relative.conf", rel, "outbounds", "cannot load module \"direct\"", want);
}

/* ---- the shipped example and single values */

static void test_shipped_example(void)
{
    const char *src = getenv("VR_SRC");
    CHECK(src != NULL);
    if (src == NULL)
        return;
    char tls[PATH_MAX], http[PATH_MAX], path[PATH_MAX];
    snprintf(tls, sizeof(tls), "%s/tls.so", module_dir);
    snprintf(http, sizeof(http), "%s/http.so", module_dir);
    snprintf(path, sizeof(path), "%s/conf.d/vrouter.conf", src);
    if (access(tls, R_OK) != 0 || access(http, R_OK) != 0) {
        printf("note: tls.so or http.so not built in %s; skipping the conf.d/vrouter.conf check\n", module_dir);
        return;
    }
    struct vr_errors e = {0};
    struct vr_generation *g = vr_generation_build(path, base, 1, &e);
    CHECK(g != NULL);
    EXPECT_N(&e, 0);
    if (g) {
        /* It is the example the issue describes: two outbounds, two rules. */
        CHECK(g->cfg->n_listeners == 1);
        CHECK(g->cfg->n_outbounds == 2);
        CHECK(g->cfg->rules.n == 2);
        CHECK(g->cfg->rules.final_outbound == vr_config_outbound_index(g->cfg, "direct"));
        vr_generation_unref(g);
        vr_generation_release_all();
    }
    vr_errors_clear(&e);
}

static const struct vr_rule *compile_one_rule(const char *name, const char *rule_body, struct vr_config **out)
{
    char text[2048];
    snprintf(text, sizeof(text), LISTENERS OUTBOUNDS "route = { rules = ( { outbound = \"direct\"; %s } ); };\n",
             rule_body);
    const char *path = tmp_path(name);
    write_file(path, text);
    struct vr_config *c = vr_config_load(path);
    *out = c;
    CHECK(c != NULL);
    if (c == NULL)
        return NULL;
    CHECK(c->errs.n == 0);
    if (c->errs.n)
        dump(&c->errs);
    CHECK(c->rules.n == 1);
    return c->rules.n == 1 ? &c->rules.rules[0] : NULL;
}

static void test_single_values(void)
{
    struct vr_config *c;
    const struct vr_rule *r = compile_one_rule("single_port.conf", "port = 443;", &c);
    CHECK(r && r->n_dst_ports == 1 && r->dst_ports[0].lo == 443 && r->dst_ports[0].hi == 443);
    vr_config_free(c);
    r = compile_one_rule("list_port.conf", "port = [443];", &c);
    CHECK(r && r->n_dst_ports == 1 && r->dst_ports[0].lo == 443 && r->dst_ports[0].hi == 443);
    vr_config_free(c);
    r = compile_one_rule("list_ports.conf", "port = [443, 8443]; port_range = \"8000-8100\";", &c);
    CHECK(r && r->n_dst_ports == 3);
    CHECK(r && r->dst_ports[2].lo == 8000 && r->dst_ports[2].hi == 8100);
    vr_config_free(c);
    r = compile_one_rule("single_inbound.conf", "inbound = \"tp\";", &c);
    CHECK(r && r->n_inbounds == 1 && strcmp(r->inbounds[0], "tp") == 0);
    vr_config_free(c);
    r = compile_one_rule("list_inbound.conf", "inbound = [\"tp\", \"tp2\"];", &c);
    CHECK(r && r->n_inbounds == 2 && strcmp(r->inbounds[1], "tp2") == 0);
    vr_config_free(c);
    r = compile_one_rule("single_cidr.conf", "ip_cidr = \"203.0.113.0/24\"; source_cidr = \"2001:db8::/32\";", &c);
    CHECK(r && r->dst_ips && vr_ipset_count(r->dst_ips) == 1);
    CHECK(r && r->src_ips && vr_ipset_count(r->src_ips) == 1);
    struct vr_cidr in4, in6, out6;
    vr_cidr_parse("203.0.113.255", &in4);
    vr_cidr_parse("2001:db8:ffff::1", &in6);
    vr_cidr_parse("2001:db9::", &out6);
    CHECK(r && r->dst_ips && vr_ipset_contains(r->dst_ips, AF_INET, in4.addr));
    CHECK(r && r->src_ips && vr_ipset_contains(r->src_ips, AF_INET6, in6.addr));
    CHECK(r && r->src_ips && !vr_ipset_contains(r->src_ips, AF_INET6, out6.addr));
    vr_config_free(c);
    r = compile_one_rule("single_network.conf", "network = \"udp\"; source_port_range = \"1000-2000\";", &c);
    CHECK(r && r->network == VR_NET_UDP);
    CHECK(r && r->n_src_ports == 1 && r->src_ports[0].lo == 1000 && r->src_ports[0].hi == 2000);
    vr_config_free(c);
    r = compile_one_rule("list_network.conf", "network = [\"tcp\", \"udp\"];", &c);
    CHECK(r && r->network == (VR_NET_TCP | VR_NET_UDP));
    vr_config_free(c);

    /* A listener's network also takes a single value or a list. */
    const char *text = "listeners = ( { tag = \"tp\"; port = 7893; network = \"tcp\"; },\n"
                       "              { tag = \"tp2\"; port = 7894; network = [\"tcp\"]; } );\n" OUTBOUNDS;
    EXPECT_NO_ERROR("listener_network.conf", text);
}

static void test_daemon_values_applied(void)
{
    /* What the file says is what the daemon gets. */
    char text[2048];
    snprintf(text, sizeof(text),
             "daemon = { module_path = \"%s\"; log_level = \"warn\"; bypass_mark = 0x1234; max_connections = 20; };\n"
             "listeners = ( { tag = \"rd\"; mode = \"redirect\"; address = \"198.18.0.1\"; port = 1234; } );\n" OUTBOUNDS,
             module_dir);
    write_file(tmp_path("daemon_applied.conf"), text);
    struct vr_config *c = vr_config_load(tmp_path("daemon_applied.conf"));
    CHECK(c && c->errs.n == 0);
    CHECK(c && c->daemon.module_path.n == 1 && strcmp(c->daemon.module_path.dirs[0], module_dir) == 0);
    CHECK(c && c->daemon.log_level == VR_LOG_WARN);
    CHECK(c && c->daemon.bypass_mark == 0x1234);
    CHECK(c && c->daemon.max_connections == 20);
    CHECK(c && c->n_listeners == 1 && c->listeners[0].mode == VR_MODE_REDIRECT && c->listeners[0].port == 1234);
    CHECK(c && c->listeners[0].addr.ss_family == AF_INET);
    vr_config_free(c);
}

static void rm_tmpdir(void)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void)
{
    module_dir = getenv("VR_MODULE_DIR");
    if (module_dir == NULL) {
        fprintf(stderr, "VR_MODULE_DIR is not set (run through ctest)\n");
        return 2;
    }
    /* Configs without daemon.module_path find "direct" here. */
    setenv("VROUTER_MODULE_PATH", module_dir, 1);
    snprintf(tmpdir, sizeof(tmpdir), "%s/vr_test_config.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    base = event_base_new();
    CHECK(base != NULL);

    test_baseline();
    test_syntax_error();
    test_syntax_error_in_include();
    test_missing_file();
    test_unknown_keys();
    test_unknown_key_in_outbound();
    test_unknown_key_in_include();
    test_wrong_types();
    test_unknown_outbound_tag();
    test_ports();
    test_cidrs();
    test_networks();
    test_udp_block();
    test_duplicates();
    test_missing_listeners();
    test_daemon_values();
    test_direct_keys();
    test_missing_module();
    test_shipped_example();
    test_single_values();
    test_daemon_values_applied();

    vr_generation_release_all();
    event_base_free(base);
    rm_tmpdir();
    return vr_test_report();
}
