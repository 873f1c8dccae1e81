/*
 * policy-routing: the set of kernel objects (rules, routes) one config
 * generation wants, and the netlink operations that move the kernel from one
 * set to another.
 *
 * Ownership: every rule and route this module creates carries the protocol
 * id PR_PROTO (rtm_protocol for routes, FRA_PROTOCOL for rules) and every
 * rule sits in the priority range [prio_base, prio_base + PR_PRIO_SPAN).
 * Objects with another protocol are someone else's and are never touched.
 */
#ifndef PR_STATE_H
#define PR_STATE_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#define PR_PROTO 0xf7         /* "vrouterd" in rtm_protocol / FRA_PROTOCOL */
#define PR_PRIO_SPAN 100      /* rule priorities [base, base+100) are ours */
#define PR_PRIO_TABLES 1      /* tables[i] rule at base + 1 + i */
#define PR_PRIO_DSCP 50       /* dscp[j] rule at base + 50 + j */
#define PR_MAX_TABLES 49
#define PR_MAX_DSCP 50
#define PR_MAX_NH 16

struct pr_nh {
    int family; /* of via; 0 when there is no gateway */
    uint8_t via[16];
    char dev[IFNAMSIZ]; /* "" when none */
    int weight;         /* 1..256, as `ip route ... weight N` */
};

struct pr_rule {
    int family;
    uint32_t priority;
    uint32_t table;
    uint32_t mark;   /* 0: no fwmark selector */
    int dsfield;     /* -1: no tos selector, else dscp << 2 */
};

struct pr_route {
    int family;
    uint32_t table;
    int type; /* RTN_UNICAST or RTN_LOCAL */
    uint8_t dst[16];
    uint8_t dst_len;
    int n_nh;
    int multipath; /* encode as RTA_MULTIPATH even with one nexthop */
    struct pr_nh nh[PR_MAX_NH];
};

struct pr_set {
    uint32_t prio_base;
    struct pr_rule *rules;
    int n_rules;
    struct pr_route *routes;
    int n_routes;
    uint32_t *tables; /* tables whose routes this set owns */
    int n_tables;
};

/* Append helpers; return 0 or -ENOMEM. */
int pr_set_add_rule(struct pr_set *s, const struct pr_rule *r);
int pr_set_add_route(struct pr_set *s, const struct pr_route *r);
int pr_set_add_table(struct pr_set *s, uint32_t table);
void pr_set_free(struct pr_set *s);

int pr_rule_equal(const struct pr_rule *a, const struct pr_rule *b);
/* Same (family, table, dst): the kernel's identity of a route. */
int pr_route_same_key(const struct pr_route *a, const struct pr_route *b);
int pr_route_equal(const struct pr_route *a, const struct pr_route *b);

/* "ip rule add priority 10000 fwmark 0x1 lookup 100 proto 0xf7" style text
 * (verb is "add", "del", "replace"). */
void pr_rule_format(const struct pr_rule *r, const char *verb, char *buf, size_t len);
void pr_route_format(const struct pr_route *r, const char *verb, char *buf, size_t len);

/* Sink for human-readable lines (plan output, errors). */
typedef void (*pr_emit_fn)(void *arg, const char *line);

/* The netlink side (pr_netlink.c). err receives a one-line explanation on
 * failure. All return 0 or a negative errno. */

/* Delete every rule and route carrying PR_PROTO (left by a run that died),
 * emitting one line per object removed (emit may be NULL). */
int pr_nl_remove_stale(pr_emit_fn emit, void *arg, char *err, size_t errlen);
/* Refuse if a rule not ours sits in the set's priority range or looks up one
 * of its tables, or a route not ours lives in one of its tables. */
int pr_nl_check_conflicts(const struct pr_set *s, char *err, size_t errlen);
/* Move the kernel from old (may be NULL: nothing) to new; on failure undo
 * what was done, so the kernel holds old again. */
int pr_nl_apply(const struct pr_set *new_set, const struct pr_set *old_set, char *err,
                size_t errlen);
/* What pr_nl_apply would do, one line per change, without doing it. */
void pr_nl_plan(const struct pr_set *new_set, const struct pr_set *old_set, pr_emit_fn emit,
                void *arg);
/* Remove every object of s; missing ones are not an error. */
int pr_nl_remove_all(const struct pr_set *s, char *err, size_t errlen);

#endif
