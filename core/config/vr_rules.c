#include "vr_rules.h"

#include "vr_setfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_flow.h>
#include <vrouter/vr_host.h> /* VR_CFG_BOOL, VR_CFG_STRING */


/* ip_cidr / source_cidr: a list of CIDRs into set (created on first use). */
static int parse_cidrs(const struct vr_cfg *r, const char *key, struct vr_ipset **set)
{
    int len = vr_cfg_list_len(r, key);
    if (len == -ENOENT)
        return 0;
    if (len < 0)
        return len;
    if (len == 0) {
        vr_cfg_error(r, key, "empty list matches nothing; remove the key or add a CIDR");
        return -EINVAL;
    }
    if (*set == NULL && (*set = vr_ipset_new()) == NULL)
        return -ENOMEM;
    for (int i = 0; i < len; i++) {
        const char *text;
        struct vr_cidr c;
        if (vr_cfg_list_string(r, key, i, &text) < 0)
            return -EINVAL;
        if (vr_cfg_parse_cidr_checked(r, key, text, &c) < 0)
            return -EINVAL;
        if (vr_ipset_add(*set, &c) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int parse_ip_set_file(const struct vr_cfg *r, struct vr_ipset **set)
{
    const char *path;
    int rc = vr_cfg_string(r, "ip_set", &path);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    if (*set == NULL && (*set = vr_ipset_new()) == NULL)
        return -ENOMEM;
    char err[512];
    if (vr_setfile_load_cidrs(vr_cfg_path(r, path), *set, err, sizeof(err)) < 0) {
        vr_cfg_error(r, "ip_set", "%s", err);
        return -EINVAL;
    }
    return 0;
}

static int parse_domains(const struct vr_cfg *r, const char *key, enum vr_domain_kind kind,
                         struct vr_domainset **set)
{
    int len = vr_cfg_list_len(r, key);
    if (len == -ENOENT)
        return 0;
    if (len < 0)
        return len;
    if (*set == NULL && (*set = vr_domainset_new()) == NULL)
        return -ENOMEM;
    for (int i = 0; i < len; i++) {
        const char *name;
        if (vr_cfg_list_string(r, key, i, &name) < 0)
            return -EINVAL;
        int e = vr_domainset_add(*set, name, kind);
        if (e == -EINVAL) {
            vr_cfg_error(r, key, "\"%s\" is not a %s (expected e.g. \"example.com\")", name,
                         kind == VR_DOMAIN_KEYWORD ? "keyword of hostname characters" : "valid host name");
            return -EINVAL;
        }
        if (e < 0)
            return e;
    }
    return 0;
}

static int parse_domain_set_file(const struct vr_cfg *r, struct vr_domainset **set)
{
    const char *path;
    int rc = vr_cfg_string(r, "domain_set", &path);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    if (*set == NULL && (*set = vr_domainset_new()) == NULL)
        return -ENOMEM;
    char err[512];
    if (vr_setfile_load_domains(vr_cfg_path(r, path), *set, err, sizeof(err)) < 0) {
        vr_cfg_error(r, "domain_set", "%s", err);
        return -EINVAL;
    }
    return 0;
}

int vr_rules_parse_domain_keys(const struct vr_cfg *r, struct vr_domainset **set)
{
    int bad = 0;
    bad |= parse_domains(r, "domain", VR_DOMAIN_EXACT, set) < 0;
    bad |= parse_domains(r, "domain_suffix", VR_DOMAIN_SUFFIX, set) < 0;
    bad |= parse_domains(r, "domain_keyword", VR_DOMAIN_KEYWORD, set) < 0;
    bad |= parse_domain_set_file(r, set) < 0;
    return bad ? -EINVAL : 0;
}

int vr_rules_parse_source_cidr(const struct vr_cfg *r, struct vr_ipset **src)
{
    int rc = parse_cidrs(r, "source_cidr", src);
    if (rc == 0 && *src)
        vr_ipset_build(*src);
    return rc;
}

int vr_cfg_parse_cidr_checked(const struct vr_cfg *r, const char *key, const char *text, struct vr_cidr *out)
{
    if (vr_cidr_parse(text, out) < 0) {
        vr_cfg_error(r, key, "\"%s\" is not a CIDR (expected e.g. \"198.18.0.0/15\" or \"2001:db8::/32\", host bits zero)",
                     text);
        return -EINVAL;
    }
    return 0;
}

static int add_range(struct vr_port_range **arr, size_t *n, long lo, long hi)
{
    struct vr_port_range *p = realloc(*arr, (*n + 1) * sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p[*n].lo = (uint16_t)lo;
    p[*n].hi = (uint16_t)hi;
    *arr = p;
    (*n)++;
    return 0;
}

static int parse_ports(const struct vr_cfg *r, const char *key, struct vr_port_range **arr, size_t *n)
{
    int len = vr_cfg_list_len(r, key);
    if (len == -ENOENT)
        return 0;
    if (len < 0)
        return len;
    for (int i = 0; i < len; i++) {
        int64_t v;
        if (vr_cfg_list_int(r, key, i, &v) < 0)
            return -EINVAL;
        if (v < 1 || v > 65535) {
            vr_cfg_error(r, key, "port %lld is out of range (expected 1-65535)", (long long)v);
            return -EINVAL;
        }
        if (add_range(arr, n, (long)v, (long)v) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int parse_port_ranges(const struct vr_cfg *r, const char *key, struct vr_port_range **arr, size_t *n)
{
    int len = vr_cfg_list_len(r, key);
    if (len == -ENOENT)
        return 0;
    if (len < 0)
        return len;
    for (int i = 0; i < len; i++) {
        const char *text;
        if (vr_cfg_list_string(r, key, i, &text) < 0)
            return -EINVAL;
        char *end;
        long lo = strtol(text, &end, 10), hi = -1;
        if (end != text && *end == '-') {
            const char *h = end + 1;
            hi = strtol(h, &end, 10);
            if (end == h)
                hi = -1;
        }
        if (*end != '\0' || lo < 1 || hi < 1 || lo > 65535 || hi > 65535 || lo > hi) {
            vr_cfg_error(r, key, "\"%s\" is not a port range (expected \"LOW-HIGH\" with 1 <= LOW <= HIGH <= 65535)",
                         text);
            return -EINVAL;
        }
        if (add_range(arr, n, lo, hi) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int parse_network(const struct vr_cfg *r, uint32_t *mask)
{
    int len = vr_cfg_list_len(r, "network");
    if (len == -ENOENT)
        return 0;
    if (len < 0)
        return len;
    for (int i = 0; i < len; i++) {
        const char *text;
        if (vr_cfg_list_string(r, "network", i, &text) < 0)
            return -EINVAL;
        if (strcmp(text, "tcp") == 0)
            *mask |= VR_NET_TCP;
        else if (strcmp(text, "udp") == 0)
            *mask |= VR_NET_UDP;
        else {
            vr_cfg_error(r, "network", "\"%s\" is not a network (expected \"tcp\" or \"udp\")", text);
            return -EINVAL;
        }
    }
    return 0;
}

static int parse_strings(const struct vr_cfg *r, const char *key, char ***out, size_t *n)
{
    int len = vr_cfg_list_len(r, key);
    if (len == -ENOENT)
        return 0;
    if (len < 0)
        return len;
    *out = calloc((size_t)len + 1, sizeof(char *));
    if (*out == NULL)
        return -ENOMEM;
    for (int i = 0; i < len; i++) {
        const char *text;
        if (vr_cfg_list_string(r, key, i, &text) < 0)
            return -EINVAL;
        (*out)[i] = strdup(text);
        if ((*out)[i] == NULL)
            return -ENOMEM;
        *n = (size_t)i + 1;
    }
    return 0;
}

static int resolve_outbound(const struct vr_cfg *view, const char *key, vr_outbound_lookup_fn lookup,
                            void *arg, int *out)
{
    const char *tag;
    int r = vr_cfg_string(view, key, &tag);
    if (r == -ENOENT) {
        vr_cfg_error(view, NULL, "missing '%s' (the tag of an outbound)", key);
        return -EINVAL;
    }
    if (r < 0)
        return r;
    *out = lookup(arg, tag);
    if (*out < 0) {
        vr_cfg_error(view, key, "no outbound has tag \"%s\" (define it in outbounds = ( ... ))", tag);
        return -EINVAL;
    }
    return 0;
}

/* `outbound = "tag"` or `action = "reject" | "drop"`: exactly one. */
static int parse_target(struct vr_rule *rule, const struct vr_cfg *r, vr_outbound_lookup_fn lookup, void *arg)
{
    const char *action;
    int rc = vr_cfg_string(r, "action", &action);
    if (rc == -ENOENT) {
        if (!vr_cfg_has(r, "outbound")) {
            vr_cfg_error(r, NULL, "missing 'outbound' (the tag of an outbound) or 'action' (\"reject\" or \"drop\")");
            return -EINVAL;
        }
        rule->action = VR_ACTION_ROUTE;
        return resolve_outbound(r, "outbound", lookup, arg, &rule->outbound);
    }
    if (rc < 0)
        return rc;
    rule->outbound = -1;
    if (strcmp(action, "reject") == 0)
        rule->action = VR_ACTION_REJECT;
    else if (strcmp(action, "drop") == 0)
        rule->action = VR_ACTION_DROP;
    else if (strcmp(action, "dns") == 0)
        rule->action = VR_ACTION_DNS;
    else {
        vr_cfg_error(r, "action", "\"%s\" is not an action (expected \"reject\" or \"drop\", or \"dns\" for "
                                  "vrouterd's resolver; to route, write outbound = \"tag\" instead)", action);
        return -EINVAL;
    }
    if (vr_cfg_has(r, "outbound")) {
        vr_cfg_error(r, "outbound", "a rule has either 'outbound' or 'action', not both (remove one)");
        return -EINVAL;
    }
    snprintf(rule->end, sizeof(rule->end), "%s by %s",
             rule->action == VR_ACTION_REJECT ? "rejected" : rule->action == VR_ACTION_DNS ? "dns hijack"
                                                                                            : "dropped",
             rule->name);
    return 0;
}

/* offload = true | false | "stateless" (the kernel fast path without
 * conntrack: notrack, docs/INSTALLERS.md; eligibility is checked once the
 * outbound modules are loaded, vr_offload_check_stateless). */
static int parse_offload(struct vr_rule *rule, const struct vr_cfg *r)
{
    rule->offload = true;
    int type = vr_cfg_type(r, "offload");
    if (type == -ENOENT)
        return 0;
    const char *s = NULL;
    if (type == VR_CFG_STRING && vr_cfg_string(r, "offload", &s) == 0 && strcmp(s, "stateless") == 0) {
        rule->stateless = true;
        return 0;
    }
    int offload = 1;
    if (type != VR_CFG_BOOL || vr_cfg_bool(r, "offload", &offload) < 0) {
        vr_cfg_error(r, "offload", "expected true, false or \"stateless\"%s%s%s", s ? " (found \"" : "", s ? s : "",
                     s ? "\")" : "");
        return -EINVAL;
    }
    rule->offload = offload != 0;
    return 0;
}

static int compile_rule(struct vr_rule *rule, const struct vr_cfg *r, int idx, vr_outbound_lookup_fn lookup,
                        void *arg)
{
    int bad = 0;
    rule->line = vr_cfg_line(r, NULL);
    rule->file = vr_cfg_file(r, NULL);
    snprintf(rule->name, sizeof(rule->name), "rule #%d", idx + 1);
    bad |= parse_target(rule, r, lookup, arg) < 0;
    bad |= parse_offload(rule, r) < 0;
    bad |= parse_cidrs(r, "ip_cidr", &rule->dst_ips) < 0;
    bad |= parse_ip_set_file(r, &rule->dst_ips) < 0;
    bad |= parse_cidrs(r, "source_cidr", &rule->src_ips) < 0;
    bad |= vr_rules_parse_domain_keys(r, &rule->domains) < 0;
    bad |= parse_strings(r, "protocol", &rule->protocols, &rule->n_protocols) < 0;
    for (size_t i = 0; i < rule->n_protocols; i++)
        if (strcmp(rule->protocols[i], "tls") && strcmp(rule->protocols[i], "http") &&
            strcmp(rule->protocols[i], "quic") && strcmp(rule->protocols[i], "dns") &&
            strcmp(rule->protocols[i], "unknown")) {
            vr_cfg_error(r, "protocol", "\"%s\" is not a protocol (expected \"tls\", \"http\", \"quic\", \"dns\" or "
                         "\"unknown\")", rule->protocols[i]);
            bad = 1;
        }
    if (rule->dst_ips)
        vr_ipset_build(rule->dst_ips);
    if (rule->src_ips)
        vr_ipset_build(rule->src_ips);
    bad |= parse_ports(r, "port", &rule->dst_ports, &rule->n_dst_ports) < 0;
    bad |= parse_port_ranges(r, "port_range", &rule->dst_ports, &rule->n_dst_ports) < 0;
    bad |= parse_ports(r, "source_port", &rule->src_ports, &rule->n_src_ports) < 0;
    bad |= parse_port_ranges(r, "source_port_range", &rule->src_ports, &rule->n_src_ports) < 0;
    bad |= parse_network(r, &rule->network) < 0;
    bad |= parse_strings(r, "inbound", &rule->inbounds, &rule->n_inbounds) < 0;
    return bad ? -EINVAL : 0;
}

int vr_rules_compile(struct vr_rules *rules, const struct vr_cfg *route, vr_outbound_lookup_fn lookup,
                     void *lookup_arg)
{
    memset(rules, 0, sizeof(*rules));
    rules->final_outbound = -1;
    if (route == NULL) {
        rules->final_outbound = lookup(lookup_arg, "direct");
        return 0;
    }
    int bad = 0;
    if (vr_cfg_has(route, "final")) {
        bad |= resolve_outbound(route, "final", lookup, lookup_arg, &rules->final_outbound) < 0;
    } else {
        vr_cfg_known(route, "final");
        rules->final_outbound = lookup(lookup_arg, "direct");
        if (rules->final_outbound < 0) {
            vr_cfg_error(route, NULL, "missing 'final' (the outbound for flows no rule matches) and no outbound "
                                      "is tagged \"direct\"");
            bad = 1;
        }
    }
    int n = vr_cfg_list_len(route, "rules");
    if (n == -ENOENT)
        n = 0;
    if (n < 0)
        return -EINVAL;
    rules->rules = calloc((size_t)n + 1, sizeof(struct vr_rule));
    if (rules->rules == NULL)
        return -ENOMEM;
    rules->n = (size_t)n;
    for (int i = 0; i < n; i++) {
        const struct vr_cfg *r = vr_cfg_list_group(route, "rules", i);
        if (r == NULL) {
            bad = 1;
            continue;
        }
        if (compile_rule(&rules->rules[i], r, i, lookup, lookup_arg) < 0)
            bad = 1;
    }
    return bad ? -EINVAL : 0;
}

void vr_rules_free(struct vr_rules *rules)
{
    for (size_t i = 0; i < rules->n; i++) {
        struct vr_rule *r = &rules->rules[i];
        vr_ipset_free(r->dst_ips);
        vr_ipset_free(r->src_ips);
        vr_domainset_free(r->domains);
        for (size_t k = 0; k < r->n_protocols; k++)
            free(r->protocols[k]);
        free(r->protocols);
        free(r->dst_ports);
        free(r->src_ports);
        for (size_t k = 0; k < r->n_inbounds; k++)
            free(r->inbounds[k]);
        free(r->inbounds);
    }
    free(rules->rules);
    memset(rules, 0, sizeof(*rules));
}

static bool ports_match(const struct vr_port_range *p, size_t n, uint16_t port)
{
    for (size_t i = 0; i < n; i++)
        if (port >= p[i].lo && port <= p[i].hi)
            return true;
    return false;
}

static bool strings_match(char *const *list, size_t n, const char *s)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

bool vr_rule_needs_sniff(const struct vr_rule *r) { return r->domains != NULL || r->n_protocols > 0; }

bool vr_rule_address_matches(const struct vr_rule *r, const struct vr_match_input *in)
{
    if (r->network && !(r->network & in->network))
        return false;
    if (r->n_inbounds && !strings_match(r->inbounds, r->n_inbounds, in->inbound))
        return false;
    if (r->n_dst_ports && !ports_match(r->dst_ports, r->n_dst_ports, vr_sockaddr_port(in->dst)))
        return false;
    if (r->n_src_ports && !ports_match(r->src_ports, r->n_src_ports, vr_sockaddr_port(in->src)))
        return false;
    if (r->dst_ips && (in->dst_fake || !vr_ipset_contains_sa(r->dst_ips, in->dst)))
        return false;
    if (r->src_ips && !vr_ipset_contains_sa(r->src_ips, in->src))
        return false;
    return true;
}

/* The address keys (shared with the kernel fast path's compiler), then what
 * a sniff tells. */
static bool rule_matches(const struct vr_rule *r, const struct vr_match_input *in)
{
    if (r->n_protocols && !strings_match(r->protocols, r->n_protocols, in->protocol ? in->protocol : "unknown"))
        return false;
    if (!vr_rule_address_matches(r, in))
        return false;
    if (r->domains && (in->domain == NULL || !vr_domainset_match(r->domains, in->domain)))
        return false;
    return true;
}

const struct vr_rule *vr_rules_match(const struct vr_rules *rules, const struct vr_match_input *in)
{
    for (size_t i = 0; i < rules->n; i++)
        if (rule_matches(&rules->rules[i], in))
            return &rules->rules[i];
    return NULL;
}

int vr_rules_route(const struct vr_rules *rules, const struct vr_match_input *in, const struct vr_rule **rule)
{
    const struct vr_rule *r = vr_rules_match(rules, in);
    *rule = r;
    return r ? r->outbound : rules->final_outbound;
}

const char *vr_rule_action_name(enum vr_rule_action a)
{
    return a == VR_ACTION_REJECT ? "reject" : a == VR_ACTION_DROP ? "drop" : a == VR_ACTION_DNS ? "dns" : "route";
}
