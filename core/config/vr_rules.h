/* The rules engine: ordered rules, first match wins; every key in a rule
 * must match (AND); a list matches if any element does (OR). Keys of one
 * family match together if any of them does: port/port_range,
 * source_port/source_port_range, ip_cidr/ip_set, and
 * domain/domain_suffix/domain_keyword/domain_set. */
#ifndef VR_RULES_H
#define VR_RULES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vr_addr.h"
#include "vr_cfg_view.h"
#include "vr_domainset.h"
#include "vr_ipset.h"

struct vr_port_range {
    uint16_t lo, hi;
};

/* What a matching rule does: route through its outbound, or end the flow
 * (`action = "reject"`: TCP reset / UDP dropped; `action = "drop"`: the
 * client gets nothing). An action rule has outbound -1. */
enum vr_rule_action {
    VR_ACTION_ROUTE,
    VR_ACTION_REJECT,
    VR_ACTION_DROP,
    VR_ACTION_DNS, /* `action = "dns"`: the flow's DNS queries are answered by vrouterd's resolver (hijack) */
};

struct vr_rule {
    int line;          /* where it stands in the config, for logs */
    const char *file;  /* the file it stands in (an @include'd one, maybe); owned by the config */
    char name[32];     /* "rule #3" */
    int outbound;      /* index into the generation's outbounds */
    uint32_t network;  /* mask of enum vr_network; 0 = any */
    struct vr_ipset *dst_ips;        /* ip_cidr and ip_set together */
    struct vr_ipset *src_ips;        /* source_cidr */
    struct vr_domainset *domains;    /* domain, domain_suffix, domain_keyword, domain_set together */
    char **protocols;                /* "tls", "http", "unknown" */
    size_t n_protocols;
    struct vr_port_range *dst_ports; /* port and port_range together */
    size_t n_dst_ports;
    struct vr_port_range *src_ports; /* source_port and source_port_range */
    size_t n_src_ports;
    char **inbounds;
    size_t n_inbounds;
    enum vr_rule_action action;
    char end[48];      /* "rejected by rule #3" / "dropped by rule #3": an action rule's end reason */
    bool offload;      /* `offload` (default true): may be compiled into the kernel fast path */
    bool stateless;    /* `offload = "stateless"`: forwarded by the fast path untracked (notrack) */
};

struct vr_rules {
    struct vr_rule *rules;
    size_t n;
    int final_outbound;
};

/* What a flow looks like to the rules. */
struct vr_match_input {
    uint32_t network;
    const struct sockaddr *src;
    const struct sockaddr *dst;
    const char *inbound;
    const char *domain;   /* NULL when unknown */
    const char *protocol; /* NULL when unknown */
    bool dst_fake;        /* dst is a FakeIP address: it stands for domain, so no ip_cidr/ip_set matches it */
};

/* Parses text as a CIDR, recording an error at key when it is not one. */
int vr_cfg_parse_cidr_checked(const struct vr_cfg *r, const char *key, const char *text, struct vr_cidr *out);

/* Resolves an outbound tag to its index, or -1. */
typedef int (*vr_outbound_lookup_fn)(void *arg, const char *tag);

/* Compiles the route group (may be NULL: everything goes to "direct" if it
 * exists). Errors are recorded through the view; returns 0 or -EINVAL. */
int vr_rules_compile(struct vr_rules *rules, const struct vr_cfg *route,
                     vr_outbound_lookup_fn lookup, void *lookup_arg);
void vr_rules_free(struct vr_rules *rules);

/* The matching rule, or NULL when the final outbound applies. */
const struct vr_rule *vr_rules_match(const struct vr_rules *rules, const struct vr_match_input *in);
/* Where a flow goes: the index of the first matching rule's outbound, or of
 * the final one; *rule is that rule, NULL for final. -1 when the rule has an
 * action (reject, drop) instead of an outbound. One decision for TCP
 * connections, UDP sessions and --explain. */
int vr_rules_route(const struct vr_rules *rules, const struct vr_match_input *in, const struct vr_rule **rule);

/* The domain keys of a rule block (domain, domain_suffix, domain_keyword,
 * domain_set) into *set (created on first use), and source_cidr into *src:
 * the same matchers for the DNS rules (core/dns) as for the route rules.
 * Errors are recorded through the view; returns 0 or a negative errno. */
int vr_rules_parse_domain_keys(const struct vr_cfg *r, struct vr_domainset **set);
int vr_rules_parse_source_cidr(const struct vr_cfg *r, struct vr_ipset **src);

/* The rule has keys only a sniff can tell (domain*, protocol). */
bool vr_rule_needs_sniff(const struct vr_rule *r);
/* The rule's address and port keys (network, inbound, ports, CIDRs) match;
 * domain and protocol are not looked at: "could this rule match". */
bool vr_rule_address_matches(const struct vr_rule *r, const struct vr_match_input *in);

/* "reject", "drop", "dns" or "route". */
const char *vr_rule_action_name(enum vr_rule_action a);

#endif
