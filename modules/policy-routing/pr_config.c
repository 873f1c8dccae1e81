/* policy-routing: config block -> the set of rules and routes it wants.
 *
 *   tproxy = { mark = 0x1; table = 100; priority = 10000; };
 *   tables = ( { table = 201; mark = 0xc9; routes = ( { dst; dev; via; } ); },
 *              { table = 202; mark = 0xca; multipath = ( { via; dev; weight; } ); } );
 *   dscp = ( { dscp = 46; table = 301; } );
 */
#include "pr_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PR_DEFAULT_MARK 0x1
#define PR_DEFAULT_TABLE 100
#define PR_DEFAULT_PRIORITY 10000

/* Read an integer key within [lo, hi]; *out keeps its default when absent. */
static int pr_cfg_uint(const struct vr_host *h, const struct vr_cfg *c, const char *key,
                       int64_t lo, int64_t hi, int required, uint32_t *out)
{
    int64_t v;
    int e = h->cfg_int(c, key, &v);
    if (e == -ENOENT) {
        if (required) {
            h->cfg_error(c, NULL, "missing \"%s\" (an integer from %lld to %lld)", key,
                         (long long)lo, (long long)hi);
            return -EINVAL;
        }
        return 0;
    }
    if (e < 0)
        return -EINVAL;
    if (v < lo || v > hi) {
        h->cfg_error(c, key, "%lld is out of range (expected %lld to %lld)", (long long)v,
                     (long long)lo, (long long)hi);
        return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

static int pr_table_ok(const struct vr_host *h, const struct vr_cfg *c, const char *key,
                       uint32_t t)
{
    if (t >= 253 && t <= 255) {
        h->cfg_error(c, key, "table %u is a kernel table (default/main/local); use a table of its own", t);
        return -EINVAL;
    }
    return 0;
}

/* "default", "198.51.100.0/24", "2001:db8::/32", or a bare address. */
static int pr_parse_dst(const char *text, struct pr_route *r)
{
    memset(r->dst, 0, sizeof(r->dst));
    if (strcmp(text, "default") == 0) {
        r->family = 0;
        r->dst_len = 0;
        return 0;
    }
    char buf[INET6_ADDRSTRLEN + 8];
    if (strlen(text) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, text);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash != NULL) {
        char *end;
        *slash = '\0';
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0' || end == slash + 1)
            return -EINVAL;
    }
    if (inet_pton(AF_INET, buf, r->dst) == 1)
        r->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, r->dst) == 1)
        r->family = AF_INET6;
    else
        return -EINVAL;
    int bits = r->family == AF_INET ? 32 : 128;
    if (prefix < 0)
        prefix = bits;
    if (prefix > bits)
        return -EINVAL;
    for (int b = (int)prefix; b < bits; b++)
        if (r->dst[b / 8] & (0x80 >> (b % 8)))
            return -EINVAL; /* host bits set */
    r->dst_len = (uint8_t)prefix;
    return 0;
}

/* One nexthop group { via; dev; weight; } */
static int pr_cfg_nh(const struct vr_host *h, const struct vr_cfg *c, int with_weight,
                     struct pr_nh *nh)
{
    memset(nh, 0, sizeof(*nh));
    nh->weight = 1;
    const char *via = NULL, *dev = NULL;
    int e = h->cfg_string(c, "via", &via);
    if (e < 0 && e != -ENOENT)
        return -EINVAL;
    e = h->cfg_string(c, "dev", &dev);
    if (e < 0 && e != -ENOENT)
        return -EINVAL;
    if (with_weight) {
        uint32_t w = 1;
        if (pr_cfg_uint(h, c, "weight", 1, 256, 0, &w) < 0)
            return -EINVAL;
        nh->weight = (int)w;
    }
    if (via == NULL && dev == NULL) {
        h->cfg_error(c, NULL, "a route needs \"dev\", \"via\" or both");
        return -EINVAL;
    }
    if (via != NULL) {
        if (inet_pton(AF_INET, via, nh->via) == 1)
            nh->family = AF_INET;
        else if (inet_pton(AF_INET6, via, nh->via) == 1)
            nh->family = AF_INET6;
        else {
            h->cfg_error(c, "via", "\"%s\" is not an IPv4 or IPv6 address", via);
            return -EINVAL;
        }
    }
    if (dev != NULL) {
        if (dev[0] == '\0' || strlen(dev) >= IFNAMSIZ) {
            h->cfg_error(c, "dev", "\"%s\" is not an interface name (1-%d characters)", dev,
                         IFNAMSIZ - 1);
            return -EINVAL;
        }
        strcpy(nh->dev, dev);
    }
    return 0;
}

/* Settle the family of r from its dst and gateways, then add it once, or
 * for both families when nothing pins one ("default" via a device). */
static int pr_route_add_families(const struct vr_host *h, const struct vr_cfg *c,
                                 struct pr_route *r, struct pr_set *s)
{
    int fam = r->family;
    for (int i = 0; i < r->n_nh; i++) {
        if (r->nh[i].family == 0)
            continue;
        if (fam != 0 && fam != r->nh[i].family) {
            h->cfg_error(c, NULL, "mixes IPv4 and IPv6 (destination and gateways must be of one family)");
            return -EINVAL;
        }
        fam = r->nh[i].family;
    }
    if (fam != 0) {
        r->family = fam;
        return pr_set_add_route(s, r);
    }
    r->family = AF_INET;
    if (pr_set_add_route(s, r) < 0)
        return -ENOMEM;
    r->family = AF_INET6;
    return pr_set_add_route(s, r);
}

static int pr_cfg_table(const struct vr_host *h, const struct vr_cfg *t, int idx,
                        struct pr_set *s, uint32_t *table_out, uint32_t *mark_out)
{
    uint32_t table = 0, mark = 0;
    int bad = 0;
    if (pr_cfg_uint(h, t, "table", 1, 0xffffffffLL, 1, &table) < 0 ||
        pr_table_ok(h, t, "table", table) < 0)
        bad = 1;
    if (pr_cfg_uint(h, t, "mark", 1, 0xffffffffLL, 1, &mark) < 0)
        bad = 1;
    int nr = h->cfg_list_len(t, "routes");
    int nm = h->cfg_list_len(t, "multipath");
    if (nr == -EINVAL || nm == -EINVAL)
        return -EINVAL;
    if (bad)
        return -EINVAL;
    if ((nr >= 0) == (nm >= 0)) {
        h->cfg_error(t, NULL, "tables[%d]: give exactly one of \"routes\" or \"multipath\"", idx);
        return -EINVAL;
    }
    if (nr >= 0) {
        if (nr == 0) {
            h->cfg_error(t, "routes", "is empty");
            return -EINVAL;
        }
        for (int i = 0; i < nr; i++) {
            const struct vr_cfg *rc = h->cfg_list_group(t, "routes", i);
            if (rc == NULL)
                return -EINVAL;
            struct pr_route r = {.table = table, .type = RTN_UNICAST, .n_nh = 1};
            const char *dst = "default";
            int e = h->cfg_string(rc, "dst", &dst);
            if (e < 0 && e != -ENOENT)
                return -EINVAL;
            if (pr_parse_dst(dst, &r) < 0) {
                h->cfg_error(rc, "dst", "\"%s\" is not \"default\" or a CIDR prefix", dst);
                return -EINVAL;
            }
            if (pr_cfg_nh(h, rc, 0, &r.nh[0]) < 0 || pr_route_add_families(h, rc, &r, s) < 0)
                return -EINVAL;
        }
    } else {
        if (nm == 0 || nm > PR_MAX_NH) {
            h->cfg_error(t, "multipath", "needs 1 to %d nexthops", PR_MAX_NH);
            return -EINVAL;
        }
        struct pr_route r = {.table = table, .type = RTN_UNICAST, .n_nh = nm, .multipath = 1};
        for (int i = 0; i < nm; i++) {
            const struct vr_cfg *nc = h->cfg_list_group(t, "multipath", i);
            if (nc == NULL || pr_cfg_nh(h, nc, 1, &r.nh[i]) < 0)
                return -EINVAL;
        }
        if (pr_route_add_families(h, t, &r, s) < 0)
            return -EINVAL;
    }
    *table_out = table;
    *mark_out = mark;
    return 0;
}

static int pr_add_rule2(struct pr_set *s, uint32_t prio, uint32_t table, uint32_t mark, int ds)
{
    static const int fams[] = {AF_INET, AF_INET6};
    for (int f = 0; f < 2; f++) {
        struct pr_rule r = {.family = fams[f], .priority = prio, .table = table, .mark = mark,
                            .dsfield = ds};
        if (pr_set_add_rule(s, &r) < 0)
            return -ENOMEM;
    }
    return 0;
}

int pr_config_read(const struct vr_host *h, const struct vr_cfg *cfg, struct pr_set *s)
{
    memset(s, 0, sizeof(*s));
    uint32_t tp_mark = PR_DEFAULT_MARK, tp_table = PR_DEFAULT_TABLE, prio = PR_DEFAULT_PRIORITY;
    const struct vr_cfg *tp = h->cfg_group(cfg, "tproxy");
    if (tp != NULL) {
        int bad = 0;
        bad |= pr_cfg_uint(h, tp, "mark", 1, 0xffffffffLL, 0, &tp_mark) < 0;
        bad |= pr_cfg_uint(h, tp, "table", 1, 0xffffffffLL, 0, &tp_table) < 0 ||
               pr_table_ok(h, tp, "table", tp_table) < 0;
        /* stay clear of the kernel's rules at 0, 32766 and 32767 */
        bad |= pr_cfg_uint(h, tp, "priority", 1, 32765 - PR_PRIO_SPAN, 0, &prio) < 0;
        if (bad)
            goto fail;
    }
    s->prio_base = prio;
    if (tp != NULL) {
        if (pr_set_add_table(s, tp_table) < 0 || pr_add_rule2(s, prio, tp_table, tp_mark, -1) < 0)
            goto nomem;
        static const int fams[] = {AF_INET, AF_INET6};
        for (int f = 0; f < 2; f++) {
            struct pr_route r = {.family = fams[f], .table = tp_table, .type = RTN_LOCAL,
                                 .n_nh = 1};
            strcpy(r.nh[0].dev, "lo");
            r.nh[0].weight = 1;
            if (pr_set_add_route(s, &r) < 0)
                goto nomem;
        }
    }

    int nt = h->cfg_list_len(cfg, "tables");
    if (nt == -EINVAL)
        goto fail;
    if (nt > PR_MAX_TABLES) {
        h->cfg_error(cfg, "tables", "at most %d tables", PR_MAX_TABLES);
        goto fail;
    }
    uint32_t tabs[PR_MAX_TABLES], marks[PR_MAX_TABLES];
    for (int i = 0; i < nt; i++) {
        const struct vr_cfg *t = h->cfg_list_group(cfg, "tables", i);
        if (t == NULL || pr_cfg_table(h, t, i, s, &tabs[i], &marks[i]) < 0)
            goto fail;
        for (int j = 0; j < i; j++) {
            if (tabs[j] == tabs[i]) {
                h->cfg_error(t, "table", "table %u is listed twice", tabs[i]);
                goto fail;
            }
            if (marks[j] == marks[i]) {
                h->cfg_error(t, "mark", "mark 0x%x is used by two tables", marks[i]);
                goto fail;
            }
        }
        if (tp != NULL && tabs[i] == tp_table) {
            h->cfg_error(t, "table", "table %u is already the tproxy table", tabs[i]);
            goto fail;
        }
        if (tp != NULL && marks[i] == tp_mark) {
            h->cfg_error(t, "mark", "mark 0x%x is already the tproxy mark", marks[i]);
            goto fail;
        }
        if (pr_set_add_table(s, tabs[i]) < 0 ||
            pr_add_rule2(s, prio + PR_PRIO_TABLES + (uint32_t)i, tabs[i], marks[i], -1) < 0)
            goto nomem;
    }

    int nd = h->cfg_list_len(cfg, "dscp");
    if (nd == -EINVAL)
        goto fail;
    if (nd > PR_MAX_DSCP) {
        h->cfg_error(cfg, "dscp", "at most %d entries", PR_MAX_DSCP);
        goto fail;
    }
    for (int i = 0; i < nd; i++) {
        const struct vr_cfg *d = h->cfg_list_group(cfg, "dscp", i);
        uint32_t dscp = 0, table = 0;
        if (d == NULL || pr_cfg_uint(h, d, "dscp", 1, 63, 1, &dscp) < 0 ||
            pr_cfg_uint(h, d, "table", 1, 0xffffffffLL, 1, &table) < 0 ||
            pr_table_ok(h, d, "table", table) < 0)
            goto fail;
        if (pr_add_rule2(s, prio + PR_PRIO_DSCP + (uint32_t)i, table, 0, (int)(dscp << 2)) < 0)
            goto nomem;
    }
    return 0;
nomem:
    h->cfg_error(cfg, NULL, "out of memory");
fail:
    pr_set_free(s);
    return -EINVAL;
}
