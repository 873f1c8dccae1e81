/* The dns = { ... } block: listeners, upstreams, rules, cache and rate
 * limit of the resolver, parsed and validated with the rest of the config
 * (errors as FILE:LINE). One per generation, read-only once parsed, except
 * for the per-upstream counters (atomics, every worker adds) and the shared
 * cache and rate limiter it owns (locked, see vr_dns_cache.h). */
#ifndef VR_DNS_CONFIG_H
#define VR_DNS_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vr_cfg_view.h"
#include "vr_domainset.h"
#include "vr_ipset.h"

struct vr_config;
struct vr_dns_cache;
struct vr_dns_ratelimit;

#define VR_DNS_MAX_LISTEN 16
#define VR_DNS_MAX_UPSTREAMS 32
#define VR_DNS_MAX_QTYPES 16
#define VR_DNS_MAX_FAILOVER 8

enum vr_dns_transport { VR_DNS_UDP = 1, VR_DNS_TCP = 2, VR_DNS_TLS = 3 };

struct vr_dns_upstream_stats {
    atomic_uint_fast64_t queries, answers, timeouts, errors, tcp_retries, failovers;
};

struct vr_dns_upstream {
    char *tag;
    enum vr_dns_transport transport;
    char *address;                /* as written, for logs */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *tls_name;               /* DoT: the name the certificate must carry */
    char *tls_ca;                 /* DoT: pinned CA / self-signed certificate (absolute path); NULL: system store */
    int outbound;                 /* index into the generation's outbounds */
    uint32_t timeout_ms;          /* per attempt */
    struct vr_dns_upstream_stats stats;
    const char *file;
    int line;
};

enum vr_dns_rule_action {
    VR_DNS_RULE_UPSTREAM = 1, /* ask upstreams[upstream] (then the fallbacks) */
    VR_DNS_RULE_REJECT,       /* NXDOMAIN */
    VR_DNS_RULE_EMPTY,        /* NOERROR with no answer (NODATA) */
    VR_DNS_RULE_ADDRESS,      /* a fixed answer */
    VR_DNS_RULE_FAKEIP,       /* an address from the FakeIP pool (vr_dns_fake_answer.h) */
};

struct vr_dns_rule {
    char name[32]; /* "dns rule #2" */
    const char *file;
    int line;
    struct vr_domainset *domains; /* domain, domain_suffix, domain_keyword, domain_set (vr_rules.h's) */
    struct vr_ipset *src_ips;     /* source_cidr */
    uint16_t qtypes[VR_DNS_MAX_QTYPES];
    size_t n_qtypes;              /* 0: any type */
    enum vr_dns_rule_action action;
    /* VR_DNS_RULE_UPSTREAM: upstream = "tag" or ["a", "b"]: asked in turn
     * (failover) */
    int upstreams[VR_DNS_MAX_FAILOVER];
    size_t n_upstreams;
    /* VR_DNS_RULE_ADDRESS: the address answers A (v4) or AAAA (v6); the other
     * type gets NODATA. */
    int addr_family;
    uint8_t addr[16];
};

struct vr_dns_listen {
    char *text;
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

struct vr_dns_config {
    const char *file;
    int line;
    struct vr_dns_listen listen[VR_DNS_MAX_LISTEN];
    size_t n_listen;
    struct vr_dns_upstream upstreams[VR_DNS_MAX_UPSTREAMS];
    size_t n_upstreams;
    struct vr_dns_rule *rules;
    size_t n_rules;
    int final[VR_DNS_MAX_FAILOVER]; /* the upstreams for queries no rule matches, in turn */
    size_t n_final;
    uint32_t cache_size;       /* entries; 0: no cache */
    uint32_t cache_max_ttl;    /* seconds: a cached answer lives at most this long */
    uint32_t rate_qps;         /* per client; 0: no limit */
    uint32_t rate_burst;
    uint32_t rate_clients;     /* bounded client table */
    uint32_t attempts;         /* upstream attempts per query, across the failover list */
    /* Totals of every worker (atomics). */
    struct {
        atomic_uint_fast64_t queries, local, cached, forwarded, coalesced, rate_limited, formerr, servfail;
    } totals;
    bool fakeip_configured;    /* dns.fakeip is present (parsed by the FakeIP code) */
    /* Shared by every worker of the generation (locked inside). */
    struct vr_dns_cache *cache;
    struct vr_dns_ratelimit *ratelimit;
};

/* Parses dns (c->top's "dns" group) into c->dns; absent: c->dns stays NULL.
 * Errors are recorded in c->errs. */
void vr_dns_config_parse(struct vr_config *c);
void vr_dns_config_free(struct vr_dns_config *d);

/* The first rule matching a query, or NULL (final). */
const struct vr_dns_rule *vr_dns_rules_match(const struct vr_dns_config *d, const char *name, uint16_t qtype,
                                             const struct sockaddr *client);
int vr_dns_upstream_index(const struct vr_dns_config *d, const char *tag);

#endif
