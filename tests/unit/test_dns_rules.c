/* The dns block through vr_config_load (the daemon's path): the dns rules
 * use the route rules' domain keys and sets (domain, domain_suffix,
 * domain_keyword, domain_set), plus query_type and source_cidr; first match
 * wins; each action parses; bad input is a FILE:LINE error. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_addr.h"
#include "vr_config.h"
#include "vr_dns_config.h"
#include "vr_dns_msg.h"
#include "vr_test.h"

static char tmpdir[PATH_MAX];
static int seq;

static struct vr_config *load(const char *dns)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/dns%d.conf", tmpdir, seq++);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        exit(2);
    fprintf(f,
            "listeners = ( { tag = \"tp\"; port = 7893; } );\n"
            "outbounds = ( { tag = \"direct\"; module = \"direct\"; }, { tag = \"wg\"; module = \"direct\"; } );\n"
            "dns = {\n%s\n};\n",
            dns);
    fclose(f);
    return vr_config_load(path);
}

static const char *first_error(const struct vr_config *c) { return c->errs.n ? c->errs.msgs[0] : ""; }

static const char *rule_of(const struct vr_config *c, const char *name, const char *type, const char *client)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, client ? client : "192.0.2.1", &sa.sin_addr);
    const struct vr_dns_rule *r = vr_dns_rules_match(c->dns, name, (uint16_t)vr_dns_type_parse(type),
                                                     (struct sockaddr *)&sa);
    return r ? r->name : "final";
}

static void test_match(void)
{
    char set[PATH_MAX + 16];
    snprintf(set, sizeof(set), "%s/set.txt", tmpdir);
    FILE *f = fopen(set, "w");
    fprintf(f, "# a domain set: suffixes\nfromset.example\nexact.example\n");
    fclose(f);
    char body[8192];
    snprintf(body, sizeof(body),
             "upstreams = ( { tag = \"lan\"; address = \"udp://198.51.100.53:53\"; },\n"
             "              { tag = \"tun\"; address = \"tls://198.51.100.54\"; tls_name = \"dns.example\"; outbound = \"wg\"; } );\n"
             "rules = (\n"
             "  { domain_suffix = [\"corp.example\"]; upstream = \"tun\"; },\n"
             "  { domain_set = \"%s\"; action = \"reject\"; },\n"
             "  { domain_keyword = [\"ads\"]; reject = \"empty\"; },\n"
             "  { domain = [\"fixed.example\"]; query_type = [\"A\", \"AAAA\"]; address = \"203.0.113.7\"; },\n"
             "  { source_cidr = [\"198.18.1.3/32\"]; upstream = [\"tun\", \"lan\"]; }\n"
             ");\n"
             "final = \"lan\"; cache = { size = 100; }; rate_limit = { qps = 5; };",
             set);
    struct vr_config *c = load(body);
    CHECK(c->errs.n == 0);
    if (c->errs.n) {
        fprintf(stderr, "%s\n", first_error(c));
        vr_config_free(c);
        return;
    }
    CHECK(c->dns->n_upstreams == 2 && c->dns->upstreams[1].transport == VR_DNS_TLS);
    CHECK(vr_sockaddr_port((const struct sockaddr *)&c->dns->upstreams[1].addr) == 853);
    CHECK(c->dns->upstreams[1].outbound == 1);
    CHECK(strcmp(rule_of(c, "git.corp.example", "A", NULL), "dns rule #1") == 0);
    CHECK(strcmp(rule_of(c, "CORP.example.", "A", NULL), "dns rule #1") == 0);
    CHECK(strcmp(rule_of(c, "badcorp.example", "A", NULL), "final") == 0);
    CHECK(strcmp(rule_of(c, "a.fromset.example", "A", NULL), "dns rule #2") == 0);
    CHECK(strcmp(rule_of(c, "exact.example", "A", NULL), "dns rule #2") == 0);
    CHECK(strcmp(rule_of(c, "x.exact.example", "A", NULL), "dns rule #2") == 0);
    CHECK(strcmp(rule_of(c, "inexact.example", "A", NULL), "final") == 0);
    CHECK(strcmp(rule_of(c, "myads.example", "MX", NULL), "dns rule #3") == 0);
    CHECK(strcmp(rule_of(c, "fixed.example", "AAAA", NULL), "dns rule #4") == 0);
    CHECK(strcmp(rule_of(c, "fixed.example", "TXT", NULL), "final") == 0); /* query_type */
    CHECK(strcmp(rule_of(c, "any.example", "A", "198.18.1.3"), "dns rule #5") == 0);
    const struct vr_dns_rule *r5 = &c->dns->rules[4];
    CHECK(r5->n_upstreams == 2 && r5->upstreams[0] == 1 && r5->upstreams[1] == 0);
    CHECK(c->dns->rules[1].action == VR_DNS_RULE_REJECT && c->dns->rules[2].action == VR_DNS_RULE_EMPTY);
    CHECK(c->dns->rules[3].action == VR_DNS_RULE_ADDRESS && c->dns->rules[3].addr_family == AF_INET);
    CHECK(c->dns->cache != NULL && c->dns->ratelimit != NULL);
    vr_config_free(c);
}

static void expect_error(const char *body, const char *want)
{
    struct vr_config *c = load(body);
    CHECK(c->errs.n > 0);
    CHECK_STR_CONTAINS(first_error(c), want);
    vr_config_free(c);
}

static void test_errors(void)
{
    const char *ups = "upstreams = ( { tag = \"lan\"; address = \"udp://198.51.100.53:53\"; } );\n";
    char b[2048];
    expect_error("listen = [\"198.18.1.1:53\"];", "no upstreams");
    snprintf(b, sizeof(b), "%srules = ( { domain = [\"x.example\"]; fakeip = true; } );", ups);
    expect_error(b, ".conf:5: dns: rules[1]: fakeip: fakeip needs dns.fakeip");
    snprintf(b, sizeof(b), "%srules = ( { domain = [\"x.example\"]; } );", ups);
    expect_error(b, "no action");
    snprintf(b, sizeof(b), "%srules = ( { domain = [\"x.example\"]; upstream = \"lan\"; address = \"1.2.3.4\"; } );", ups);
    expect_error(b, "more than one action");
    snprintf(b, sizeof(b), "%srules = ( { domain = [\"x..example\"]; upstream = \"lan\"; } );", ups);
    expect_error(b, "is not a valid host name");
    snprintf(b, sizeof(b), "%srules = ( { address = \"not-an-ip\"; } );", ups);
    expect_error(b, "\"not-an-ip\" is not an IPv4 or IPv6 address");
    snprintf(b, sizeof(b), "%sfinal = \"nope\";", ups);
    expect_error(b, "no upstream has tag \"nope\"");
    expect_error("upstreams = ( { tag = \"lan\"; address = \"udp://198.51.100.53:53\"; outbound = \"vpn\"; } );",
                 "no outbound has tag \"vpn\"");
    expect_error("upstreams = ( { tag = \"lan\"; address = \"udp://198.51.100.53:53\"; tls_name = \"x\"; } );",
                 "TLS settings on an upstream that is not \"tls://\"");
    expect_error("upstreams = ( { tag = \"a\"; address = \"tls://198.51.100.53\"; tls_name = \"x\"; "
                 "tls_ca = \"/nonexistent.pem\"; } );",
                 "cannot read \"/nonexistent.pem\"");
    snprintf(b, sizeof(b), "%slisten = [\"198.18.1.1:99999\"];", ups);
    expect_error(b, "is not an address to listen on");
    snprintf(b, sizeof(b), "%srate_limit = { burst = 5; };", ups);
    expect_error(b, "missing 'qps'");
    /* dns.fakeip is the FakeIP code's: accepted here, its keys not read */
    snprintf(b, sizeof(b), "%sfakeip = { range = \"198.51.100.0/24\"; };", ups);
    struct vr_config *c = load(b);
    CHECK(c->errs.n == 0 && c->dns->fakeip_configured);
    CHECK(vr_config_check_unknown(c) == 0);
    vr_config_free(c);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/vr_test_dns.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    test_match();
    test_errors();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return vr_test_report();
}
