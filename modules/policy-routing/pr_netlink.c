/* policy-routing: rules and routes over netlink (libnl-route-3). */
#include "pr_state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

enum pr_step_kind { PR_ROUTE_ADD, PR_ROUTE_REPLACE, PR_ROUTE_DEL, PR_RULE_ADD, PR_RULE_DEL };

struct pr_step {
    enum pr_step_kind kind;
    const struct pr_rule *rule;
    const struct pr_route *route;
    const struct pr_route *prev; /* PR_ROUTE_REPLACE: what it replaces */
};

static int pr_nlerr(int nle)
{
    switch (-nle) {
    case NLE_EXIST: return -EEXIST;
    case NLE_OBJ_NOTFOUND: return -ENOENT;
    case NLE_NODEV: return -ENODEV;
    case NLE_PERM: return -EPERM;
    case NLE_NOMEM: return -ENOMEM;
    case NLE_INVAL: return -EINVAL;
    case NLE_RANGE: return -ERANGE;
    case NLE_NOADDR: return -EADDRNOTAVAIL;
    default: return -EIO;
    }
}

static struct nl_sock *pr_nl_open(char *err, size_t errlen)
{
    struct nl_sock *sk = nl_socket_alloc();
    if (sk == NULL) {
        snprintf(err, errlen, "netlink: out of memory");
        return NULL;
    }
    int e = nl_connect(sk, NETLINK_ROUTE);
    if (e < 0) {
        snprintf(err, errlen, "netlink: cannot connect: %s", nl_geterror(e));
        nl_socket_free(sk);
        return NULL;
    }
    return sk;
}

static struct nl_addr *pr_addr(int family, const uint8_t *bytes, unsigned prefix)
{
    struct nl_addr *a = nl_addr_build(family, bytes, family == AF_INET ? 4 : 16);
    if (a != NULL)
        nl_addr_set_prefixlen(a, prefix);
    return a;
}

static int pr_route_build(const struct pr_route *r, struct rtnl_route **out, char *err,
                          size_t errlen)
{
    struct rtnl_route *rt = rtnl_route_alloc();
    if (rt == NULL)
        return -ENOMEM;
    rtnl_route_set_family(rt, (uint8_t)r->family);
    rtnl_route_set_table(rt, r->table);
    rtnl_route_set_type(rt, (uint8_t)r->type);
    rtnl_route_set_protocol(rt, PR_PROTO);
    struct nl_addr *dst = pr_addr(r->family, r->dst, r->dst_len);
    if (dst == NULL)
        goto nomem;
    rtnl_route_set_dst(rt, dst);
    nl_addr_put(dst);
    for (int i = 0; i < r->n_nh; i++) {
        const struct pr_nh *h = &r->nh[i];
        struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
        if (nh == NULL)
            goto nomem;
        if (h->dev[0] != '\0') {
            unsigned idx = if_nametoindex(h->dev);
            if (idx == 0) {
                rtnl_route_nh_free(nh);
                rtnl_route_put(rt);
                snprintf(err, errlen, "table %u: device \"%s\" does not exist", r->table, h->dev);
                return -ENODEV;
            }
            rtnl_route_nh_set_ifindex(nh, (int)idx);
        }
        if (h->family != 0) {
            struct nl_addr *gw = pr_addr(h->family, h->via, h->family == AF_INET ? 32 : 128);
            if (gw == NULL) {
                rtnl_route_nh_free(nh);
                goto nomem;
            }
            rtnl_route_nh_set_gateway(nh, gw);
            nl_addr_put(gw);
        }
        /* libnl writes this byte to rtnh_hops as is; the kernel's weight is
         * rtnh_hops + 1. */
        if (r->n_nh > 1)
            rtnl_route_nh_set_weight(nh, (uint8_t)(h->weight - 1));
        rtnl_route_add_nexthop(rt, nh);
    }
    *out = rt;
    return 0;
nomem:
    rtnl_route_put(rt);
    snprintf(err, errlen, "netlink: out of memory");
    return -ENOMEM;
}

/* FRA_DSCP (Linux 6.13): IPv4 rules match the 6-bit DSCP with it, since
 * the IPv4 tos selector only takes the old TOS bits. Older headers lack it. */
#define PR_FRA_DSCP 25

/* Linux >= 6.13? Older kernels ignore FRA_DSCP silently (the rule would
 * then match every packet), so refuse rather than guess. */
static int pr_kernel_has_fra_dscp(void)
{
    struct utsname u;
    int maj = 0, min = 0;
    if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &maj, &min) != 2)
        return 0;
    return maj > 6 || (maj == 6 && min >= 13);
}

/* Rules are built by hand: libnl-route-3 cannot express FRA_DSCP. */
static int pr_rule_exec(struct nl_sock *sk, const struct pr_rule *r, int add, char *err,
                        size_t errlen)
{
    char what[256];
    pr_rule_format(r, add ? "add" : "del", what, sizeof(what));
    int v4dscp = r->family == AF_INET && r->dsfield >= 0;
    if (v4dscp && !pr_kernel_has_fra_dscp()) {
        snprintf(err, errlen, "%s: IPv4 dscp rules need Linux 6.13 or later (FRA_DSCP)", what);
        return -EOPNOTSUPP;
    }
    struct fib_rule_hdr frh = {
        .family = (uint8_t)r->family,
        .action = FR_ACT_TO_TBL,
        .table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC,
        .tos = r->family == AF_INET6 && r->dsfield >= 0 ? (uint8_t)r->dsfield : 0,
    };
    struct nl_msg *m = nlmsg_alloc_simple(add ? RTM_NEWRULE : RTM_DELRULE,
                                          add ? NLM_F_CREATE | NLM_F_EXCL : 0);
    if (m == NULL)
        goto nomem;
    if (nlmsg_append(m, &frh, sizeof(frh), NLMSG_ALIGNTO) < 0 ||
        nla_put_u32(m, FRA_PRIORITY, r->priority) < 0 || nla_put_u32(m, FRA_TABLE, r->table) < 0 ||
        nla_put_u8(m, FRA_PROTOCOL, PR_PROTO) < 0)
        goto nomem;
    if (r->mark != 0 &&
        (nla_put_u32(m, FRA_FWMARK, r->mark) < 0 || nla_put_u32(m, FRA_FWMASK, 0xffffffffu) < 0))
        goto nomem;
    if (v4dscp && nla_put_u8(m, PR_FRA_DSCP, (uint8_t)(r->dsfield >> 2)) < 0)
        goto nomem;
    int e = nl_send_sync(sk, m); /* frees m */
    if (e < 0) {
        snprintf(err, errlen, "%s: %s", what, nl_geterror(e));
        return pr_nlerr(e);
    }
    return 0;
nomem:
    nlmsg_free(m);
    snprintf(err, errlen, "%s: out of memory", what);
    return -ENOMEM;
}

static int pr_route_exec(struct nl_sock *sk, const struct pr_route *r, enum pr_step_kind kind,
                         char *err, size_t errlen)
{
    struct rtnl_route *rt = NULL;
    int e = pr_route_build(r, &rt, err, errlen);
    if (e < 0)
        return e;
    if (kind == PR_ROUTE_DEL)
        e = rtnl_route_delete(sk, rt, 0);
    else
        e = rtnl_route_add(sk, rt, kind == PR_ROUTE_ADD ? NLM_F_EXCL : NLM_F_REPLACE);
    rtnl_route_put(rt);
    if (e < 0) {
        char what[512];
        pr_route_format(r, kind == PR_ROUTE_DEL ? "del" : kind == PR_ROUTE_ADD ? "add" : "replace",
                        what, sizeof(what));
        snprintf(err, errlen, "%s: %s", what, nl_geterror(e));
        return pr_nlerr(e);
    }
    return 0;
}

/* ---- reading the kernel's objects back into our own form */

static int pr_family_bytes(struct nl_addr *a, uint8_t *out, uint8_t *prefix)
{
    memset(out, 0, 16);
    *prefix = 0;
    if (a == NULL)
        return 0;
    unsigned len = nl_addr_get_len(a);
    if (len > 16)
        len = 16;
    memcpy(out, nl_addr_get_binary_addr(a), len);
    *prefix = (uint8_t)nl_addr_get_prefixlen(a);
    return 0;
}

static void pr_rule_from_kernel(struct rtnl_rule *k, struct pr_rule *r)
{
    r->family = rtnl_rule_get_family(k);
    r->priority = rtnl_rule_get_prio(k);
    r->table = rtnl_rule_get_table(k);
    r->mark = rtnl_rule_get_mark(k);
    if (r->mark == 0xffffffffu) /* libnl's "unset" */
        r->mark = 0;
    r->dsfield = rtnl_rule_get_dsfield(k) ? rtnl_rule_get_dsfield(k) : -1;
}

static void pr_route_from_kernel(struct rtnl_route *k, struct pr_route *r)
{
    memset(r, 0, sizeof(*r));
    r->family = rtnl_route_get_family(k);
    r->table = rtnl_route_get_table(k);
    r->type = rtnl_route_get_type(k);
    pr_family_bytes(rtnl_route_get_dst(k), r->dst, &r->dst_len);
}

static uint8_t pr_rule_proto(struct rtnl_rule *k)
{
    uint8_t p = 0;
    if (rtnl_rule_get_protocol(k, &p) < 0)
        return 0;
    return p;
}

int pr_nl_remove_stale(pr_emit_fn emit, void *arg, char *err, size_t errlen)
{
    struct nl_sock *sk = pr_nl_open(err, errlen);
    if (sk == NULL)
        return -EIO;
    int ret = 0;
    struct nl_cache *cache = NULL;
    int e = rtnl_rule_alloc_cache(sk, AF_UNSPEC, &cache);
    if (e < 0) {
        snprintf(err, errlen, "netlink: cannot list rules: %s", nl_geterror(e));
        ret = pr_nlerr(e);
        goto out;
    }
    for (struct nl_object *o = nl_cache_get_first(cache); o != NULL; o = nl_cache_get_next(o)) {
        struct rtnl_rule *k = (struct rtnl_rule *)o;
        if (pr_rule_proto(k) != PR_PROTO)
            continue;
        struct pr_rule r;
        pr_rule_from_kernel(k, &r);
        char line[300];
        pr_rule_format(&r, "del", line, sizeof(line));
        e = rtnl_rule_delete(sk, k, 0);
        if (e < 0 && -e != NLE_OBJ_NOTFOUND) {
            snprintf(err, errlen, "stale %s: %s", line, nl_geterror(e));
            ret = pr_nlerr(e);
            break;
        }
        if (emit != NULL) {
            char msg[340];
            snprintf(msg, sizeof(msg), "stale (from an earlier run): %s", line);
            emit(arg, msg);
        }
    }
    nl_cache_free(cache);
    if (ret < 0)
        goto out;
    static const int fams[] = {AF_INET, AF_INET6};
    for (size_t f = 0; f < 2 && ret == 0; f++) {
        cache = NULL;
        e = rtnl_route_alloc_cache(sk, fams[f], 0, &cache);
        if (e < 0) {
            snprintf(err, errlen, "netlink: cannot list routes: %s", nl_geterror(e));
            ret = pr_nlerr(e);
            break;
        }
        for (struct nl_object *o = nl_cache_get_first(cache); o != NULL;
             o = nl_cache_get_next(o)) {
            struct rtnl_route *k = (struct rtnl_route *)o;
            if (rtnl_route_get_protocol(k) != PR_PROTO)
                continue;
            struct pr_route r;
            pr_route_from_kernel(k, &r);
            char line[600];
            pr_route_format(&r, "del", line, sizeof(line));
            e = rtnl_route_delete(sk, k, 0);
            if (e < 0 && -e != NLE_OBJ_NOTFOUND) {
                snprintf(err, errlen, "stale %s: %s", line, nl_geterror(e));
                ret = pr_nlerr(e);
                break;
            }
            if (emit != NULL) {
                char msg[640];
                snprintf(msg, sizeof(msg), "stale (from an earlier run): %s", line);
                emit(arg, msg);
            }
        }
        nl_cache_free(cache);
    }
out:
    nl_socket_free(sk);
    return ret;
}

static int pr_set_has_table(const struct pr_set *s, uint32_t t)
{
    for (int i = 0; i < s->n_tables; i++)
        if (s->tables[i] == t)
            return 1;
    return 0;
}

int pr_nl_check_conflicts(const struct pr_set *s, char *err, size_t errlen)
{
    struct nl_sock *sk = pr_nl_open(err, errlen);
    if (sk == NULL)
        return -EIO;
    int ret = 0;
    struct nl_cache *cache = NULL;
    int e = rtnl_rule_alloc_cache(sk, AF_UNSPEC, &cache);
    if (e < 0) {
        snprintf(err, errlen, "netlink: cannot list rules: %s", nl_geterror(e));
        ret = pr_nlerr(e);
        goto out;
    }
    for (struct nl_object *o = nl_cache_get_first(cache); o != NULL && ret == 0;
         o = nl_cache_get_next(o)) {
        struct rtnl_rule *k = (struct rtnl_rule *)o;
        uint8_t proto = pr_rule_proto(k);
        if (proto == PR_PROTO)
            continue;
        struct pr_rule r;
        pr_rule_from_kernel(k, &r);
        char line[300];
        pr_rule_format(&r, "", line, sizeof(line));
        /* show the foreign rule with its own protocol, not ours */
        char *p = strstr(line, " proto 0x");
        if (p != NULL)
            snprintf(p, sizeof(line) - (size_t)(p - line), " proto %u", proto);
        if (r.priority >= s->prio_base && r.priority < s->prio_base + PR_PRIO_SPAN) {
            snprintf(err, errlen,
                     "rule priority %u is already used by a rule vrouterd did not install (%s); "
                     "priorities %u-%u are reserved for policy-routing: remove that rule or "
                     "choose another tproxy.priority",
                     r.priority, line, s->prio_base, s->prio_base + PR_PRIO_SPAN - 1);
            ret = -EEXIST;
        } else if (rtnl_rule_get_action(k) == FR_ACT_TO_TBL && pr_set_has_table(s, r.table)) {
            snprintf(err, errlen,
                     "routing table %u is already used by a rule vrouterd did not install (%s): "
                     "choose another table",
                     r.table, line);
            ret = -EEXIST;
        }
    }
    nl_cache_free(cache);
    static const int fams[] = {AF_INET, AF_INET6};
    for (size_t f = 0; f < 2 && ret == 0; f++) {
        cache = NULL;
        e = rtnl_route_alloc_cache(sk, fams[f], 0, &cache);
        if (e < 0) {
            snprintf(err, errlen, "netlink: cannot list routes: %s", nl_geterror(e));
            ret = pr_nlerr(e);
            break;
        }
        for (struct nl_object *o = nl_cache_get_first(cache); o != NULL && ret == 0;
             o = nl_cache_get_next(o)) {
            struct rtnl_route *k = (struct rtnl_route *)o;
            if (rtnl_route_get_protocol(k) == PR_PROTO ||
                !pr_set_has_table(s, rtnl_route_get_table(k)))
                continue;
            char dst[INET6_ADDRSTRLEN + 8] = "default";
            if (rtnl_route_get_dst(k) != NULL && nl_addr_get_prefixlen(rtnl_route_get_dst(k)) > 0)
                nl_addr2str(rtnl_route_get_dst(k), dst, sizeof(dst));
            snprintf(err, errlen,
                     "routing table %u already holds a route vrouterd did not install (%s, "
                     "proto %u): choose another table",
                     rtnl_route_get_table(k), dst, rtnl_route_get_protocol(k));
            ret = -EEXIST;
        }
        nl_cache_free(cache);
    }
out:
    nl_socket_free(sk);
    return ret;
}

/* ---- the difference between two sets, as ordered steps */

static int pr_rule_in(const struct pr_rule *r, const struct pr_set *s)
{
    for (int i = 0; s != NULL && i < s->n_rules; i++)
        if (pr_rule_equal(r, &s->rules[i]))
            return 1;
    return 0;
}

static const struct pr_route *pr_route_key_in(const struct pr_route *r, const struct pr_set *s)
{
    for (int i = 0; s != NULL && i < s->n_routes; i++)
        if (pr_route_same_key(r, &s->routes[i]))
            return &s->routes[i];
    return NULL;
}

/* Routes first (a rule never points at an empty table longer than needed),
 * then new rules, then the rules and routes that went away. */
static int pr_steps_build(const struct pr_set *n, const struct pr_set *o, struct pr_step **out)
{
    size_t max = (size_t)n->n_routes + (size_t)n->n_rules +
                 (o ? (size_t)o->n_routes + (size_t)o->n_rules : 0);
    struct pr_step *st = calloc(max ? max : 1, sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    int k = 0;
    for (int i = 0; i < n->n_routes; i++) {
        const struct pr_route *prev = pr_route_key_in(&n->routes[i], o);
        if (prev == NULL)
            st[k++] = (struct pr_step){.kind = PR_ROUTE_ADD, .route = &n->routes[i]};
        else if (!pr_route_equal(prev, &n->routes[i]))
            st[k++] = (struct pr_step){.kind = PR_ROUTE_REPLACE, .route = &n->routes[i],
                                       .prev = prev};
    }
    for (int i = 0; i < n->n_rules; i++)
        if (!pr_rule_in(&n->rules[i], o))
            st[k++] = (struct pr_step){.kind = PR_RULE_ADD, .rule = &n->rules[i]};
    for (int i = 0; o != NULL && i < o->n_rules; i++)
        if (!pr_rule_in(&o->rules[i], n))
            st[k++] = (struct pr_step){.kind = PR_RULE_DEL, .rule = &o->rules[i]};
    for (int i = 0; o != NULL && i < o->n_routes; i++)
        if (pr_route_key_in(&o->routes[i], n) == NULL)
            st[k++] = (struct pr_step){.kind = PR_ROUTE_DEL, .route = &o->routes[i]};
    *out = st;
    return k;
}

static int pr_step_do(struct nl_sock *sk, const struct pr_step *s, int undo, char *err,
                      size_t errlen)
{
    switch (s->kind) {
    case PR_ROUTE_ADD:
        return pr_route_exec(sk, s->route, undo ? PR_ROUTE_DEL : PR_ROUTE_ADD, err, errlen);
    case PR_ROUTE_DEL:
        return pr_route_exec(sk, s->route, undo ? PR_ROUTE_ADD : PR_ROUTE_DEL, err, errlen);
    case PR_ROUTE_REPLACE:
        return pr_route_exec(sk, undo ? s->prev : s->route, PR_ROUTE_REPLACE, err, errlen);
    case PR_RULE_ADD:
        return pr_rule_exec(sk, s->rule, !undo, err, errlen);
    case PR_RULE_DEL:
        return pr_rule_exec(sk, s->rule, undo, err, errlen);
    }
    return -EINVAL;
}

static void pr_step_format(const struct pr_step *s, char *buf, size_t len)
{
    switch (s->kind) {
    case PR_ROUTE_ADD: pr_route_format(s->route, "add", buf, len); break;
    case PR_ROUTE_DEL: pr_route_format(s->route, "del", buf, len); break;
    case PR_ROUTE_REPLACE: pr_route_format(s->route, "replace", buf, len); break;
    case PR_RULE_ADD: pr_rule_format(s->rule, "add", buf, len); break;
    case PR_RULE_DEL: pr_rule_format(s->rule, "del", buf, len); break;
    }
}

int pr_nl_apply(const struct pr_set *new_set, const struct pr_set *old_set, char *err,
                size_t errlen)
{
    struct pr_step *st = NULL;
    int n = pr_steps_build(new_set, old_set, &st);
    if (n < 0) {
        snprintf(err, errlen, "out of memory");
        return n;
    }
    struct nl_sock *sk = pr_nl_open(err, errlen);
    if (sk == NULL) {
        free(st);
        return -EIO;
    }
    int ret = 0, i;
    for (i = 0; i < n; i++) {
        ret = pr_step_do(sk, &st[i], 0, err, errlen);
        if (ret < 0)
            break;
    }
    if (ret < 0) {
        /* put back exactly what we changed, newest first */
        int undo_failed = 0;
        char uerr[512];
        while (--i >= 0)
            if (pr_step_do(sk, &st[i], 1, uerr, sizeof(uerr)) < 0)
                undo_failed++;
        if (undo_failed) {
            size_t l = strlen(err);
            snprintf(err + l, errlen - l, " (rollback incomplete: %d step(s) failed, last: %s)",
                     undo_failed, uerr);
        }
    }
    nl_socket_free(sk);
    free(st);
    return ret;
}

void pr_nl_plan(const struct pr_set *new_set, const struct pr_set *old_set, pr_emit_fn emit,
                void *arg)
{
    struct pr_step *st = NULL;
    int n = pr_steps_build(new_set, old_set, &st);
    if (n < 0) {
        emit(arg, "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        char line[600];
        pr_step_format(&st[i], line, sizeof(line));
        emit(arg, line);
    }
    free(st);
}

int pr_nl_remove_all(const struct pr_set *s, char *err, size_t errlen)
{
    struct nl_sock *sk = pr_nl_open(err, errlen);
    if (sk == NULL)
        return -EIO;
    int ret = 0;
    char e1[512];
    for (int i = 0; i < s->n_rules; i++) {
        int e = pr_rule_exec(sk, &s->rules[i], 0, e1, sizeof(e1));
        if (e < 0 && e != -ENOENT && ret == 0) {
            snprintf(err, errlen, "%s", e1);
            ret = e;
        }
    }
    for (int i = 0; i < s->n_routes; i++) {
        int e = pr_route_exec(sk, &s->routes[i], PR_ROUTE_DEL, e1, sizeof(e1));
        /* a vanished device took its routes with it: not an error */
        if (e < 0 && e != -ENOENT && e != -ENODEV && ret == 0) {
            snprintf(err, errlen, "%s", e1);
            ret = e;
        }
    }
    nl_socket_free(sk);
    return ret;
}
