/* policy-routing: the desired object set, comparison and text form. */
#include "pr_state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Arrays grow to 4, 8, 16, ... elements: room is short exactly when n is 0
 * or a power of two of at least 4. */
static int pr_grow(void **arr, int n, size_t elem)
{
    if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
        return 0;
    size_t cap = n == 0 ? 4 : (size_t)n * 2;
    void *p = realloc(*arr, cap * elem);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    return 0;
}

int pr_set_add_rule(struct pr_set *s, const struct pr_rule *r)
{
    if (pr_grow((void **)&s->rules, s->n_rules, sizeof(*r)) < 0)
        return -ENOMEM;
    s->rules[s->n_rules++] = *r;
    return 0;
}

int pr_set_add_route(struct pr_set *s, const struct pr_route *r)
{
    if (pr_grow((void **)&s->routes, s->n_routes, sizeof(*r)) < 0)
        return -ENOMEM;
    s->routes[s->n_routes++] = *r;
    return 0;
}

int pr_set_add_table(struct pr_set *s, uint32_t table)
{
    for (int i = 0; i < s->n_tables; i++)
        if (s->tables[i] == table)
            return 0;
    if (pr_grow((void **)&s->tables, s->n_tables, sizeof(*s->tables)) < 0)
        return -ENOMEM;
    s->tables[s->n_tables++] = table;
    return 0;
}

void pr_set_free(struct pr_set *s)
{
    free(s->rules);
    free(s->routes);
    free(s->tables);
    memset(s, 0, sizeof(*s));
}

int pr_rule_equal(const struct pr_rule *a, const struct pr_rule *b)
{
    return a->family == b->family && a->priority == b->priority && a->table == b->table &&
           a->mark == b->mark && a->dsfield == b->dsfield;
}

static size_t pr_addr_len(int family)
{
    return family == AF_INET ? 4 : 16;
}

int pr_route_same_key(const struct pr_route *a, const struct pr_route *b)
{
    return a->family == b->family && a->table == b->table && a->dst_len == b->dst_len &&
           memcmp(a->dst, b->dst, pr_addr_len(a->family)) == 0;
}

static int pr_nh_equal(const struct pr_nh *a, const struct pr_nh *b)
{
    if (a->family != b->family || a->weight != b->weight || strcmp(a->dev, b->dev) != 0)
        return 0;
    return a->family == 0 || memcmp(a->via, b->via, pr_addr_len(a->family)) == 0;
}

int pr_route_equal(const struct pr_route *a, const struct pr_route *b)
{
    if (!pr_route_same_key(a, b) || a->type != b->type || a->n_nh != b->n_nh ||
        a->multipath != b->multipath)
        return 0;
    for (int i = 0; i < a->n_nh; i++)
        if (!pr_nh_equal(&a->nh[i], &b->nh[i]))
            return 0;
    return 1;
}

static const char *pr_ip(int family)
{
    return family == AF_INET6 ? "ip -6" : "ip";
}

void pr_rule_format(const struct pr_rule *r, const char *verb, char *buf, size_t len)
{
    char sel[64] = "";
    if (r->mark != 0)
        snprintf(sel, sizeof(sel), " fwmark 0x%x", r->mark);
    else if (r->dsfield >= 0)
        snprintf(sel, sizeof(sel), " dsfield 0x%02x", (unsigned)r->dsfield);
    snprintf(buf, len, "%s rule %s%spriority %u%s lookup %u proto 0x%x", pr_ip(r->family), verb,
             verb[0] ? " " : "", r->priority, sel, r->table, PR_PROTO);
}

void pr_route_format(const struct pr_route *r, const char *verb, char *buf, size_t len)
{
    char dst[INET6_ADDRSTRLEN + 8];
    char a[INET6_ADDRSTRLEN];
    if (r->dst_len == 0) {
        snprintf(dst, sizeof(dst), "default");
    } else {
        inet_ntop(r->family, r->dst, a, sizeof(a));
        snprintf(dst, sizeof(dst), "%s/%u", a, r->dst_len);
    }
    size_t off = (size_t)snprintf(buf, len, "%s route %s table %u %s%s", pr_ip(r->family), verb,
                                  r->table, r->type == RTN_LOCAL ? "local " : "", dst);
    for (int i = 0; i < r->n_nh && off < len; i++) {
        const struct pr_nh *nh = &r->nh[i];
        char via[INET6_ADDRSTRLEN + 8] = "";
        if (nh->family != 0) {
            inet_ntop(nh->family, nh->via, a, sizeof(a));
            snprintf(via, sizeof(via), " via %s", a);
        }
        char dev[IFNAMSIZ + 8] = "";
        if (nh->dev[0] != '\0')
            snprintf(dev, sizeof(dev), " dev %s", nh->dev);
        if (r->multipath)
            off += (size_t)snprintf(buf + off, len - off, " nexthop%s%s weight %d", via, dev,
                                    nh->weight);
        else
            off += (size_t)snprintf(buf + off, len - off, "%s%s", via, dev);
    }
    if (off < len)
        snprintf(buf + off, len - off, " proto 0x%x", PR_PROTO);
}
