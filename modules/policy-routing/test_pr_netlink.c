/* policy-routing netlink layer against the real kernel, in a private network
 * namespace (unshare(CLONE_NEWNET)): apply, diff, conflicts, rollback,
 * stale cleanup, removal. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pr_state.h"
#include "vr_test.h"

static char *sh(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return strdup("");
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    buf[len] = '\0';
    pclose(f);
    return buf;
}

static int contains(const char *cmd, const char *needle)
{
    char *out = sh(cmd);
    int ok = strstr(out, needle) != NULL;
    if (!ok)
        fprintf(stderr, "  [%s] lacks [%s]; output:\n%s", cmd, needle, out);
    free(out);
    return ok;
}

static int count(const char *cmd, const char *needle)
{
    char *out = sh(cmd);
    int n = 0;
    for (const char *p = out; (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(out);
    return n;
}

#define KERNEL_STATE "ip -4 rule; ip -6 rule; ip -4 route show table all; ip -6 route show table all"

static void rules2(struct pr_set *s, uint32_t prio, uint32_t table, uint32_t mark, int ds)
{
    struct pr_rule r = {.family = AF_INET, .priority = prio, .table = table, .mark = mark,
                        .dsfield = ds};
    pr_set_add_rule(s, &r);
    r.family = AF_INET6;
    pr_set_add_rule(s, &r);
}

static struct pr_route dev_route(int family, uint32_t table, const char *dev)
{
    struct pr_route r = {.family = family, .table = table, .type = RTN_UNICAST, .n_nh = 1};
    snprintf(r.nh[0].dev, sizeof(r.nh[0].dev), "%s", dev);
    r.nh[0].weight = 1;
    return r;
}

/* tproxy 0x1/100/10000, table 201 default dev d1, table 202 multipath, dscp 46 -> 301 */
static void set_a(struct pr_set *s)
{
    memset(s, 0, sizeof(*s));
    s->prio_base = 10000;
    pr_set_add_table(s, 100);
    rules2(s, 10000, 100, 0x1, -1);
    for (int f = 0; f < 2; f++) {
        struct pr_route r = dev_route(f ? AF_INET6 : AF_INET, 100, "lo");
        r.type = RTN_LOCAL;
        pr_set_add_route(s, &r);
    }
    pr_set_add_table(s, 201);
    rules2(s, 10001, 201, 0xc9, -1);
    struct pr_route r = dev_route(AF_INET, 201, "d1");
    pr_set_add_route(s, &r);
    r.family = AF_INET6;
    pr_set_add_route(s, &r);
    pr_set_add_table(s, 202);
    rules2(s, 10002, 202, 0xca, -1);
    struct pr_route m = {.family = AF_INET, .table = 202, .type = RTN_UNICAST, .n_nh = 2,
                         .multipath = 1};
    m.nh[0].family = AF_INET;
    inet_pton(AF_INET, "198.19.2.1", m.nh[0].via);
    strcpy(m.nh[0].dev, "d2");
    m.nh[0].weight = 2;
    strcpy(m.nh[1].dev, "d1");
    m.nh[1].weight = 1;
    pr_set_add_route(s, &m);
    rules2(s, 10050, 301, 0, 46 << 2);
}

/* Like A, but table 201 now goes via d2, table 202 is gone, table 203 is new. */
static void set_b(struct pr_set *s)
{
    set_a(s);
    s->n_rules = 4;  /* tproxy + 201 rules */
    s->n_routes = 2; /* tproxy routes */
    s->n_tables = 2;
    struct pr_route r = dev_route(AF_INET, 201, "d2");
    pr_set_add_route(s, &r);
    r.family = AF_INET6;
    pr_set_add_route(s, &r);
    pr_set_add_table(s, 203);
    rules2(s, 10003, 203, 0xcb, -1);
    struct pr_route n = dev_route(AF_INET, 203, "d1");
    inet_pton(AF_INET, "203.0.113.0", n.dst);
    n.dst_len = 24;
    pr_set_add_route(s, &n);
    rules2(s, 10050, 301, 0, 46 << 2);
}

static void emit_count(void *arg, const char *line)
{
    (void)line;
    (*(int *)arg)++;
}

int main(void)
{
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "unshare(CLONE_NEWNET): %s (this test needs root)\n", strerror(errno));
        CHECK(!"network namespace");
        return vr_test_report();
    }
    if (system("ip link set lo up && ip link add d1 type veth peer name d1p && ip link add d2 type veth peer name d2p && "
               "ip link set d1p up && ip link set d2p up && "
               "ip link set d1 up && ip link set d2 up && ip addr add 198.19.2.3/24 dev d2") != 0) {
        CHECK(!"namespace setup");
        return vr_test_report();
    }
    char err[1024];
    struct pr_set a, b;
    set_a(&a);
    set_b(&b);

    /* fresh apply */
    err[0] = '\0';
    CHECK(pr_nl_check_conflicts(&a, err, sizeof(err)) == 0);
    int e = pr_nl_apply(&a, NULL, err, sizeof(err));
    if (e < 0)
        fprintf(stderr, "apply A: %s\n", err);
    CHECK(e == 0);
    CHECK(contains("ip rule", "10000:\tfrom all fwmark 0x1 lookup 100 proto 247"));
    CHECK(contains("ip -6 rule", "10000:\tfrom all fwmark 0x1 lookup 100 proto 247"));
    CHECK(contains("ip rule", "10001:\tfrom all fwmark 0xc9 lookup 201 proto 247"));
    /* iproute2 6.1 cannot print FRA_DSCP; the IPv6 rule shows its tclass */
    CHECK(contains("ip rule", "10050:\tfrom all lookup 301 proto 247"));
    CHECK(contains("ip -6 rule", "10050:\tfrom all tos EF lookup 301 proto 247"));
    CHECK(contains("ip route show table 100", "local default dev lo proto 247"));
    CHECK(contains("ip -6 route show table 100", "local default dev lo proto 247"));
    CHECK(contains("ip route show table 201", "default dev d1 proto 247"));
    CHECK(contains("ip -6 route show table 201", "default dev d1 proto 247"));
    CHECK(contains("ip route show table 202", "nexthop via 198.19.2.1 dev d2 weight 2"));
    CHECK(contains("ip route show table 202", "nexthop dev d1 weight 1"));
    CHECK(count("ip rule", "proto 247") == 4 && count("ip -6 rule", "proto 247") == 4);

    /* applying the same set again is a no-op, and changes nothing */
    char *before = sh(KERNEL_STATE);
    int steps = 0;
    pr_nl_plan(&a, &a, emit_count, &steps);
    CHECK(steps == 0);
    CHECK(pr_nl_apply(&a, &a, err, sizeof(err)) == 0);
    char *after = sh(KERNEL_STATE);
    CHECK(strcmp(before, after) == 0);
    free(before);
    free(after);

    /* conflicts: a foreign rule in our priority range, a foreign route in our table */
    CHECK(system("ip rule add priority 10099 fwmark 0x55 lookup 55") == 0);
    err[0] = '\0';
    CHECK(pr_nl_check_conflicts(&a, err, sizeof(err)) == -EEXIST);
    CHECK_STR_CONTAINS(err, "rule priority 10099 is already used");
    CHECK(system("ip rule del priority 10099") == 0);
    CHECK(system("ip rule add priority 20000 lookup 202") == 0);
    err[0] = '\0';
    CHECK(pr_nl_check_conflicts(&a, err, sizeof(err)) == -EEXIST);
    CHECK_STR_CONTAINS(err, "routing table 202 is already used");
    CHECK(system("ip rule del priority 20000") == 0);
    CHECK(system("ip -6 route add 2001:db8:5::/48 dev d1 table 201") == 0);
    err[0] = '\0';
    CHECK(pr_nl_check_conflicts(&a, err, sizeof(err)) == -EEXIST);
    CHECK_STR_CONTAINS(err, "routing table 201 already holds a route");
    CHECK(system("ip -6 route del 2001:db8:5::/48 dev d1 table 201") == 0);
    CHECK(pr_nl_check_conflicts(&a, err, sizeof(err)) == 0);

    /* reload A -> B: exactly the difference */
    steps = 0;
    pr_nl_plan(&b, &a, emit_count, &steps);
    /* replace 201 v4+v6, add 203 route, add 203 rules x2, del 202 rules x2, del 202 route */
    CHECK(steps == 8);
    e = pr_nl_apply(&b, &a, err, sizeof(err));
    if (e < 0)
        fprintf(stderr, "apply B: %s\n", err);
    CHECK(e == 0);
    CHECK(contains("ip route show table 201", "default dev d2 proto 247"));
    CHECK(contains("ip -6 route show table 201", "default dev d2 proto 247"));
    CHECK(count("ip route show table 202", "default") == 0);
    CHECK(contains("ip route show table 203", "203.0.113.0/24 dev d1 proto 247"));
    CHECK(count("ip rule", "lookup 202") == 0 && count("ip -6 rule", "lookup 202") == 0);
    CHECK(contains("ip rule", "10003:\tfrom all fwmark 0xcb lookup 203 proto 247"));

    /* a failing reload (B -> A with a missing device last) leaves B intact */
    struct pr_set c;
    set_a(&c);
    struct pr_route bad = dev_route(AF_INET, 209, "nodev0");
    pr_set_add_table(&c, 209);
    pr_set_add_route(&c, &bad);
    before = sh(KERNEL_STATE);
    err[0] = '\0';
    e = pr_nl_apply(&c, &b, err, sizeof(err));
    CHECK(e == -ENODEV);
    CHECK_STR_CONTAINS(err, "\"nodev0\" does not exist");
    CHECK(strstr(err, "rollback incomplete") == NULL);
    after = sh(KERNEL_STATE);
    CHECK(strcmp(before, after) == 0);
    if (strcmp(before, after) != 0)
        fprintf(stderr, "before:\n%s\nafter:\n%s\n", before, after);
    free(before);
    free(after);
    /* failure inside the kernel (a gateway that is not reachable) rolls back too */
    struct pr_set d;
    set_a(&d);
    struct pr_route unreach = dev_route(AF_INET, 208, "d1");
    unreach.nh[0].family = AF_INET;
    inet_pton(AF_INET, "192.0.2.77", unreach.nh[0].via);
    unreach.nh[0].dev[0] = '\0';
    pr_set_add_table(&d, 208);
    pr_set_add_route(&d, &unreach);
    before = sh(KERNEL_STATE);
    e = pr_nl_apply(&d, &b, err, sizeof(err));
    CHECK(e < 0);
    after = sh(KERNEL_STATE);
    CHECK(strcmp(before, after) == 0);
    free(before);
    free(after);

    /* a run that died: stale objects (and only they) are removed */
    CHECK(system("ip rule add priority 30000 fwmark 0x77 lookup 77 && "
                 "ip route add 198.51.100.0/24 dev d1 table 77") == 0);
    int stale = 0;
    CHECK(pr_nl_remove_stale(emit_count, &stale, err, sizeof(err)) == 0);
    CHECK(stale == 4 + 4 + 2 + 2 + 1); /* B: 8 rules, 5 routes */
    CHECK(count(KERNEL_STATE, "proto 247") == 0);
    CHECK(contains("ip rule", "30000:\tfrom all fwmark 0x77 lookup 77"));
    CHECK(contains("ip route show table 77", "198.51.100.0/24 dev d1"));

    /* revert removes everything, and is idempotent */
    CHECK(pr_nl_apply(&b, NULL, err, sizeof(err)) == 0);
    int n13 = count(KERNEL_STATE, "proto 247");
    if (n13 != 13) {
        char *st = sh(KERNEL_STATE);
        fprintf(stderr, "expected 13 objects, got %d:\n%s", n13, st);
        free(st);
    }
    CHECK(n13 == 13);
    CHECK(pr_nl_remove_all(&b, err, sizeof(err)) == 0);
    CHECK(count(KERNEL_STATE, "proto 247") == 0);
    CHECK(pr_nl_remove_all(&b, err, sizeof(err)) == 0);
    CHECK(contains("ip rule", "30000:\tfrom all fwmark 0x77 lookup 77"));

    pr_set_free(&a);
    pr_set_free(&b);
    pr_set_free(&c);
    pr_set_free(&d);
    return vr_test_report();
}
