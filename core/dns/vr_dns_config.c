#include "vr_dns_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <vrouter/vr_host.h>

#include "vr_addr.h"
#include "vr_config.h"
#include "vr_dns_cache.h"
#include "vr_dns_fake_answer.h"
#include "vr_dns_msg.h"
#include "vr_dns_ratelimit.h"
#include "vr_rules.h"

/* "IP:PORT", "[IPv6]:PORT", or an address alone (default_port). */
static int parse_hostport(const char *text, uint16_t default_port, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    long port = default_port;
    const char *colon;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || (size_t)(close - text - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        colon = close[1] == ':' ? close + 1 : (close[1] == '\0' ? NULL : close);
        if (colon == close)
            return -EINVAL;
    } else {
        colon = strchr(text, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL; /* a bare IPv6 address */
        size_t hl = colon ? (size_t)(colon - text) : strlen(text);
        if (hl >= sizeof(host))
            return -EINVAL;
        memcpy(host, text, hl);
        host[hl] = '\0';
    }
    if (colon) {
        char *end;
        port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
            return -EINVAL;
    }
    return vr_sockaddr_parse(host, (uint16_t)port, ss, len) < 0 ? -EINVAL : 0;
}

static void parse_listen(const struct vr_cfg *v, struct vr_dns_config *d)
{
    int n = vr_cfg_list_len(v, "listen");
    if (n < 0)
        return; /* absent: no listener (hijack and host->resolve only); wrong type: reported */
    if (n > VR_DNS_MAX_LISTEN) {
        vr_cfg_error(v, "listen", "%d addresses; at most %d", n, VR_DNS_MAX_LISTEN);
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *s;
        if (vr_cfg_list_string(v, "listen", i, &s) < 0)
            return;
        struct vr_dns_listen *l = &d->listen[d->n_listen];
        if (parse_hostport(s, 53, &l->addr, &l->addrlen) < 0) {
            vr_cfg_error(v, "listen", "\"%s\" is not an address to listen on (expected \"IP:PORT\", "
                                      "\"[IPv6]:PORT\" or \"IP\" for port 53, e.g. \"198.18.1.1:53\")", s);
            continue;
        }
        for (size_t k = 0; k < d->n_listen; k++)
            if (vr_sockaddr_equal((struct sockaddr *)&d->listen[k].addr, (struct sockaddr *)&l->addr))
                vr_cfg_error(v, "listen", "\"%s\" is listed twice", s);
        l->text = strdup(s);
        d->n_listen++;
    }
}

static int parse_upstream(struct vr_config *c, const struct vr_cfg *u, struct vr_dns_config *d,
                          struct vr_dns_upstream *up)
{
    const char *s;
    int bad = 0;
    up->file = vr_cfg_file(u, NULL);
    up->line = vr_cfg_line(u, NULL);
    up->outbound = -1;
    if (vr_cfg_string(u, "tag", &s) == 0) {
        up->tag = strdup(s);
        for (size_t k = 0; k < d->n_upstreams; k++)
            if (d->upstreams[k].tag && strcmp(d->upstreams[k].tag, s) == 0) {
                vr_cfg_error(u, "tag", "\"%s\" is already the tag of the upstream at line %d", s,
                             d->upstreams[k].line);
                bad = 1;
            }
    } else {
        if (!vr_cfg_has(u, "tag"))
            vr_cfg_error(u, NULL, "missing 'tag' (the name dns rules and 'final' use for this upstream)");
        bad = 1;
    }
    if (vr_cfg_string(u, "address", &s) == 0) {
        up->address = strdup(s);
        uint16_t port = 53;
        const char *rest = NULL;
        if (strncmp(s, "udp://", 6) == 0)
            up->transport = VR_DNS_UDP, rest = s + 6;
        else if (strncmp(s, "tcp://", 6) == 0)
            up->transport = VR_DNS_TCP, rest = s + 6;
        else if (strncmp(s, "tls://", 6) == 0)
            up->transport = VR_DNS_TLS, rest = s + 6, port = 853;
        if (rest == NULL || parse_hostport(rest, port, &up->addr, &up->addrlen) < 0) {
            vr_cfg_error(u, "address", "\"%s\" is not an upstream address (expected \"udp://IP:53\", "
                                       "\"tcp://IP:53\" or \"tls://IP:853\"; IPv6 as [IP]:PORT)", s);
            bad = 1;
        }
    } else {
        if (!vr_cfg_has(u, "address"))
            vr_cfg_error(u, NULL, "missing 'address' (e.g. \"udp://198.51.100.53:53\")");
        bad = 1;
    }
    if (vr_cfg_string(u, "tls_name", &s) == 0)
        up->tls_name = strdup(s);
    if (vr_cfg_string(u, "tls_ca", &s) == 0) {
        up->tls_ca = strdup(vr_cfg_path(u, s));
        if (access(up->tls_ca, R_OK) != 0) {
            vr_cfg_error(u, "tls_ca", "cannot read \"%s\": %s (a PEM file with the CA or the upstream's "
                                      "self-signed certificate)", up->tls_ca, strerror(errno));
            bad = 1;
        }
    }
    if (up->transport && up->transport != VR_DNS_TLS && (up->tls_name || up->tls_ca)) {
        vr_cfg_error(u, up->tls_name ? "tls_name" : "tls_ca", "TLS settings on an upstream that is not "
                                                             "\"tls://\" (remove them, or use tls://IP:853)");
        bad = 1;
    }
    if (up->transport == VR_DNS_TLS && up->tls_name == NULL) {
        vr_cfg_error(u, NULL, "a tls:// upstream needs 'tls_name' (the name its certificate must carry, "
                              "e.g. \"dns.example\")");
        bad = 1;
    }
    const char *ob = "direct";
    int has_ob = vr_cfg_string(u, "outbound", &ob);
    if (has_ob == -EINVAL)
        bad = 1;
    else {
        up->outbound = vr_config_outbound_index(c, ob);
        if (up->outbound < 0) {
            if (has_ob == 0)
                vr_cfg_error(u, "outbound", "no outbound has tag \"%s\" (define it in outbounds = ( ... ))", ob);
            else
                vr_cfg_error(u, NULL, "missing 'outbound' (the outbound the queries leave through) and no "
                                      "outbound is tagged \"direct\"");
            bad = 1;
        }
    }
    int64_t n;
    up->timeout_ms = 2000;
    if (vr_cfg_int(u, "timeout_ms", &n) == 0) {
        if (n < 10 || n > 60000) {
            vr_cfg_error(u, "timeout_ms", "%lld is out of range (expected 10 to 60000 ms)", (long long)n);
            bad = 1;
        } else
            up->timeout_ms = (uint32_t)n;
    } else if (vr_cfg_has(u, "timeout_ms"))
        bad = 1;
    return bad ? -EINVAL : 0;
}

static void parse_upstreams(struct vr_config *c, const struct vr_cfg *v, struct vr_dns_config *d)
{
    int n = vr_cfg_list_len(v, "upstreams");
    if (n == -ENOENT || n == 0) {
        vr_cfg_error(v, n == 0 ? "upstreams" : NULL, "no upstreams (add upstreams = ( { tag = \"lan\"; "
                                                     "address = \"udp://IP:53\"; } );)");
        return;
    }
    if (n < 0)
        return;
    if (n > VR_DNS_MAX_UPSTREAMS) {
        vr_cfg_error(v, "upstreams", "%d upstreams; at most %d", n, VR_DNS_MAX_UPSTREAMS);
        return;
    }
    for (int i = 0; i < n; i++) {
        const struct vr_cfg *u = vr_cfg_list_group(v, "upstreams", i);
        if (u == NULL)
            continue;
        parse_upstream(c, u, d, &d->upstreams[d->n_upstreams]);
        d->n_upstreams++;
    }
}

int vr_dns_upstream_index(const struct vr_dns_config *d, const char *tag)
{
    for (size_t i = 0; i < d->n_upstreams; i++)
        if (d->upstreams[i].tag && strcmp(d->upstreams[i].tag, tag) == 0)
            return (int)i;
    return -1;
}

/* key = "tag" or ["tag", "tag2"]: upstreams asked in that order. */
static int upstream_list(const struct vr_cfg *v, const char *key, const struct vr_dns_config *d, int *out, size_t *n)
{
    int len = vr_cfg_list_len(v, key);
    if (len < 0)
        return -EINVAL;
    if (len == 0 || len > VR_DNS_MAX_FAILOVER) {
        vr_cfg_error(v, key, "expected 1 to %d upstream tags", VR_DNS_MAX_FAILOVER);
        return -EINVAL;
    }
    for (int i = 0; i < len; i++) {
        const char *tag;
        if (vr_cfg_list_string(v, key, i, &tag) < 0)
            return -EINVAL;
        out[i] = vr_dns_upstream_index(d, tag);
        if (out[i] < 0) {
            vr_cfg_error(v, key, "no upstream has tag \"%s\" (define it in dns.upstreams)", tag);
            return -EINVAL;
        }
    }
    *n = (size_t)len;
    return 0;
}

static int parse_qtypes(const struct vr_cfg *r, struct vr_dns_rule *rule)
{
    int n = vr_cfg_list_len(r, "query_type");
    if (n == -ENOENT)
        return 0;
    if (n < 0)
        return -EINVAL;
    if (n == 0 || n > VR_DNS_MAX_QTYPES) {
        vr_cfg_error(r, "query_type", "expected 1 to %d types", VR_DNS_MAX_QTYPES);
        return -EINVAL;
    }
    for (int i = 0; i < n; i++) {
        const char *s;
        if (vr_cfg_list_string(r, "query_type", i, &s) < 0)
            return -EINVAL;
        int t = vr_dns_type_parse(s);
        if (t < 0) {
            vr_cfg_error(r, "query_type", "\"%s\" is not a query type (expected e.g. \"A\", \"AAAA\", "
                                          "\"HTTPS\", or \"TYPE65\")", s);
            return -EINVAL;
        }
        rule->qtypes[rule->n_qtypes++] = (uint16_t)t;
    }
    return 0;
}

/* upstream = "tag" | action = "reject" (reject = "empty") | address = "IP" | fakeip = true */
static int parse_rule_action(const struct vr_cfg *r, struct vr_dns_config *d, struct vr_dns_rule *rule)
{
    int n_actions = 0, bad = 0;
    const char *s;
    if (vr_cfg_has(r, "upstream")) {
        n_actions++;
        rule->action = VR_DNS_RULE_UPSTREAM;
        bad |= upstream_list(r, "upstream", d, rule->upstreams, &rule->n_upstreams) < 0;
    }
    if (vr_cfg_string(r, "action", &s) == 0) {
        n_actions++;
        if (strcmp(s, "reject") == 0)
            rule->action = VR_DNS_RULE_REJECT;
        else {
            vr_cfg_error(r, "action", "\"%s\" is not a dns rule action (expected \"reject\"; or upstream = "
                                      "\"tag\", address = \"IP\", fakeip = true)", s);
            bad = 1;
        }
    } else if (vr_cfg_has(r, "action"))
        bad = 1;
    int type = vr_cfg_type(r, "reject");
    if (type != -ENOENT) {
        int on = 0;
        if (type == VR_CFG_BOOL && vr_cfg_bool(r, "reject", &on) == 0) {
            if (on) {
                n_actions++;
                rule->action = VR_DNS_RULE_REJECT;
            }
        } else if (type == VR_CFG_STRING && vr_cfg_string(r, "reject", &s) == 0 &&
                   (strcmp(s, "empty") == 0 || strcmp(s, "nxdomain") == 0)) {
            n_actions++;
            rule->action = strcmp(s, "empty") == 0 ? VR_DNS_RULE_EMPTY : VR_DNS_RULE_REJECT;
        } else {
            vr_cfg_error(r, "reject", "expected true, \"nxdomain\" or \"empty\" (an answer with no records)");
            bad = 1;
        }
    }
    if (vr_cfg_string(r, "address", &s) == 0) {
        n_actions++;
        rule->action = VR_DNS_RULE_ADDRESS;
        if (inet_pton(AF_INET, s, rule->addr) == 1)
            rule->addr_family = AF_INET;
        else if (inet_pton(AF_INET6, s, rule->addr) == 1)
            rule->addr_family = AF_INET6;
        else {
            vr_cfg_error(r, "address", "\"%s\" is not an IPv4 or IPv6 address", s);
            bad = 1;
        }
    } else if (vr_cfg_has(r, "address"))
        bad = 1;
    int fake = 0;
    if (vr_cfg_bool(r, "fakeip", &fake) == 0 && fake) {
        n_actions++;
        rule->action = VR_DNS_RULE_FAKEIP;
        if (!vr_dns_fake_available(d)) {
            vr_cfg_error(r, "fakeip", "fakeip needs dns.fakeip (a FakeIP pool: dns.fakeip = { range = "
                                      "\"198.51.100.0/24\"; })");
            bad = 1;
        }
    } else if (vr_cfg_has(r, "fakeip") && vr_cfg_type(r, "fakeip") != VR_CFG_BOOL)
        bad = 1;
    if (n_actions == 0 && !bad) {
        vr_cfg_error(r, NULL, "no action (add upstream = \"tag\", action = \"reject\", reject = \"empty\", "
                              "address = \"IP\" or fakeip = true)");
        bad = 1;
    } else if (n_actions > 1) {
        vr_cfg_error(r, NULL, "more than one action (a dns rule has one of upstream, action/reject, address, "
                              "fakeip)");
        bad = 1;
    }
    return bad ? -EINVAL : 0;
}

static void parse_rules(const struct vr_cfg *v, struct vr_dns_config *d)
{
    int n = vr_cfg_list_len(v, "rules");
    if (n <= 0)
        return;
    d->rules = calloc((size_t)n, sizeof(*d->rules));
    if (d->rules == NULL)
        return;
    d->n_rules = (size_t)n;
    for (int i = 0; i < n; i++) {
        struct vr_dns_rule *rule = &d->rules[i];
        snprintf(rule->name, sizeof(rule->name), "dns rule #%d", i + 1);
        const struct vr_cfg *r = vr_cfg_list_group(v, "rules", i);
        if (r == NULL)
            continue;
        rule->file = vr_cfg_file(r, NULL);
        rule->line = vr_cfg_line(r, NULL);
        vr_rules_parse_domain_keys(r, &rule->domains);
        vr_rules_parse_source_cidr(r, &rule->src_ips);
        parse_qtypes(r, rule);
        parse_rule_action(r, d, rule);
    }
}

static void parse_limits(const struct vr_cfg *v, struct vr_dns_config *d)
{
    int64_t n;
    d->cache_size = 4096;
    d->cache_max_ttl = 86400;
    d->rate_qps = 0;
    d->rate_burst = 0;
    d->rate_clients = 4096;
    d->attempts = 3;
    const struct vr_cfg *cv = vr_cfg_group(v, "cache");
    if (cv) {
        if (vr_cfg_int(cv, "size", &n) == 0) {
            if (n < 0 || n > 10000000)
                vr_cfg_error(cv, "size", "%lld is out of range (expected 0, no cache, to 10000000 entries)",
                             (long long)n);
            else
                d->cache_size = (uint32_t)n;
        }
        if (vr_cfg_int(cv, "max_ttl", &n) == 0) {
            if (n < 1 || n > 604800)
                vr_cfg_error(cv, "max_ttl", "%lld is out of range (expected 1 to 604800 seconds)", (long long)n);
            else
                d->cache_max_ttl = (uint32_t)n;
        }
    }
    const struct vr_cfg *rv = vr_cfg_group(v, "rate_limit");
    if (rv) {
        if (vr_cfg_int(rv, "qps", &n) == 0) {
            if (n < 1 || n > 1000000)
                vr_cfg_error(rv, "qps", "%lld is out of range (expected 1 to 1000000 queries per second per "
                                        "client)", (long long)n);
            else
                d->rate_qps = (uint32_t)n;
        } else if (!vr_cfg_has(rv, "qps"))
            vr_cfg_error(rv, NULL, "missing 'qps' (queries per second one client may ask)");
        d->rate_burst = d->rate_qps * 2;
        if (vr_cfg_int(rv, "burst", &n) == 0) {
            if (n < 1 || n > 10000000)
                vr_cfg_error(rv, "burst", "%lld is out of range (expected 1 to 10000000 queries)", (long long)n);
            else
                d->rate_burst = (uint32_t)n;
        }
        if (vr_cfg_int(rv, "clients", &n) == 0) {
            if (n < 16 || n > 1000000)
                vr_cfg_error(rv, "clients", "%lld is out of range (expected 16 to 1000000 clients tracked)",
                             (long long)n);
            else
                d->rate_clients = (uint32_t)n;
        }
    }
    if (vr_cfg_int(v, "attempts", &n) == 0) {
        if (n < 1 || n > 10)
            vr_cfg_error(v, "attempts", "%lld is out of range (expected 1 to 10)", (long long)n);
        else
            d->attempts = (uint32_t)n;
    }
}

void vr_dns_config_parse(struct vr_config *c)
{
    const struct vr_cfg *v = vr_cfg_group(c->top, "dns");
    if (v == NULL)
        return; /* absent, or not a group (reported) */
    struct vr_dns_config *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        vr_errors_add(&c->errs, "%s: out of memory", c->path);
        return;
    }
    c->dns = d;
    d->file = vr_cfg_file(v, NULL);
    d->line = vr_cfg_line(c->top, "dns");
    /* ---- dns.fakeip: parsed by the FakeIP pool's code (vr_fakeip_config.c).
     * Here it is only noted, so that a fakeip rule can tell whether a pool
     * exists. */
    d->fakeip_configured = vr_cfg_has(v, "fakeip");
    vr_cfg_known(v, "fakeip");
    /* ---- end of the FakeIP spot. */
    parse_listen(v, d);
    parse_upstreams(c, v, d);
    vr_cfg_known(v, "final");
    if (vr_cfg_has(v, "final"))
        upstream_list(v, "final", d, d->final, &d->n_final);
    else if (d->n_upstreams > 0)
        d->final[d->n_final++] = 0; /* the first upstream */
    parse_rules(v, d);
    parse_limits(v, d);
    if (c->errs.n > 0)
        return;
    if (d->cache_size > 0 && (d->cache = vr_dns_cache_new(d->cache_size, d->cache_max_ttl)) == NULL)
        vr_errors_add(&c->errs, "%s: out of memory for the dns cache", c->path);
    if (d->rate_qps > 0 && (d->ratelimit = vr_dns_ratelimit_new(d->rate_qps, d->rate_burst, d->rate_clients)) == NULL)
        vr_errors_add(&c->errs, "%s: out of memory for the dns rate limiter", c->path);
}

void vr_dns_config_free(struct vr_dns_config *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n_listen; i++)
        free(d->listen[i].text);
    for (size_t i = 0; i < d->n_upstreams; i++) {
        free(d->upstreams[i].tag);
        free(d->upstreams[i].address);
        free(d->upstreams[i].tls_name);
        free(d->upstreams[i].tls_ca);
    }
    for (size_t i = 0; i < d->n_rules; i++) {
        vr_domainset_free(d->rules[i].domains);
        vr_ipset_free(d->rules[i].src_ips);
    }
    free(d->rules);
    vr_dns_cache_free(d->cache);
    vr_dns_ratelimit_free(d->ratelimit);
    free(d);
}

const struct vr_dns_rule *vr_dns_rules_match(const struct vr_dns_config *d, const char *name, uint16_t qtype,
                                             const struct sockaddr *client)
{
    for (size_t i = 0; i < d->n_rules; i++) {
        const struct vr_dns_rule *r = &d->rules[i];
        if (r->domains && !vr_domainset_match(r->domains, name))
            continue;
        if (r->src_ips && (client == NULL || !vr_ipset_contains_sa(r->src_ips, client)))
            continue;
        if (r->n_qtypes) {
            bool hit = false;
            for (size_t k = 0; k < r->n_qtypes && !hit; k++)
                hit = r->qtypes[k] == qtype;
            if (!hit)
                continue;
        }
        return r;
    }
    return NULL;
}
