/* policy-routing: the kernel fast path's routes (host->route_plan_routes).
 *
 * Each line "table T mark 0xM [family 4] dev A weight w [dev B weight w ...]"
 * becomes, in both families (IPv4 only with "family 4"), a rule "fwmark M lookup T" placed after the config's
 * tables[] rules, and a default route in T out of the listed interfaces
 * (multipath when there are several). They join the set, so they are
 * applied, replaced on reload and removed like the configured ones. */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pr_fastpath.h"

/* The first rule priority after the tables[] rules. */
static uint32_t next_table_prio(const struct pr_set *s)
{
    uint32_t next = s->prio_base + PR_PRIO_TABLES;
    for (int i = 0; i < s->n_rules; i++)
        if (s->rules[i].priority >= next && s->rules[i].priority < s->prio_base + PR_PRIO_DSCP)
            next = s->rules[i].priority + 1;
    return next;
}

static int add_line(const struct vr_host *h, const struct vr_instance *inst, struct pr_set *s, const char *line)
{
    unsigned table, mark;
    int off = 0;
    if (sscanf(line, "table %u mark %x%n", &table, &mark, &off) != 2)
        return -EINVAL;
    struct pr_route r = {.table = table, .type = RTN_UNICAST};
    const char *p = line + off;
    int families = 2; /* IPv4 and IPv6, or IPv4 only ("family 4") */
    if (strncmp(p, " family 4", 9) == 0) {
        families = 1;
        p += 9;
    }
    char dev[IFNAMSIZ];
    int weight, n;
    while (r.n_nh < PR_MAX_NH && sscanf(p, " dev %15s weight %d%n", dev, &weight, &n) == 2) {
        struct pr_nh *nh = &r.nh[r.n_nh++];
        snprintf(nh->dev, sizeof(nh->dev), "%s", dev);
        nh->weight = weight;
        p += n;
    }
    if (r.n_nh == 0)
        return -EINVAL;
    r.multipath = r.n_nh > 1;
    uint32_t prio = next_table_prio(s);
    if (prio >= s->prio_base + PR_PRIO_DSCP) {
        h->log(inst, VR_LOG_ERROR, "fast path: no rule priority left for table %u (at most %d tables)", table,
               PR_MAX_TABLES);
        return -ENOSPC;
    }
    for (int i = 0; i < s->n_tables; i++)
        if (s->tables[i] == table) {
            h->log(inst, VR_LOG_ERROR, "fast path: table %u is already in tables[]", table);
            return -EEXIST;
        }
    if (pr_set_add_table(s, table) < 0)
        return -ENOMEM;
    static const int fams[] = {AF_INET, AF_INET6};
    for (int f = 0; f < families; f++) {
        struct pr_rule rule = {.family = fams[f], .priority = prio, .table = table, .mark = mark, .dsfield = -1};
        r.family = fams[f];
        if (pr_set_add_rule(s, &rule) < 0 || pr_set_add_route(s, &r) < 0)
            return -ENOMEM;
    }
    return 0;
}

int pr_fastpath_add(const struct vr_host *h, const struct vr_instance *inst, struct pr_set *s)
{
    if (!VR_HAS(h, route_plan_routes))
        return 0;
    char *plan = NULL;
    int e = h->route_plan_routes(inst, &plan);
    if (e < 0 || plan == NULL)
        return e == -ENOENT ? 0 : e;
    char *save = NULL;
    for (char *line = strtok_r(plan, "\n", &save); line && e == 0; line = strtok_r(NULL, "\n", &save)) {
        e = add_line(h, inst, s, line);
        if (e == -EINVAL)
            h->log(inst, VR_LOG_ERROR, "fast path: cannot read the route plan line \"%s\"", line);
    }
    free(plan);
    return e;
}
