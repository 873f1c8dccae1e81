/* The IPv6 stand-in prefix's local route over netlink: see vr_standin_route.h. */
#include "vr_standin_route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/route.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "vr_log.h"

static bool swept;        /* routes of a killed vrouterd looked for */
static bool have;         /* a route is in place: */
static struct vr_cidr in_place;

/* "2001:db8::/112" */
static const char *cidr_text(const struct vr_cidr *p, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, p->addr, a, sizeof(a));
    snprintf(buf, len, "%s/%u", a, (unsigned)p->prefix);
    return buf;
}

static struct nl_sock *nl_open(char *err, size_t errlen)
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

/* "local p dev lo table local proto VR_STANDIN_PROTO", or NULL. */
static struct rtnl_route *route_of(const struct vr_cidr *p)
{
    unsigned lo = if_nametoindex("lo");
    struct rtnl_route *rt = rtnl_route_alloc();
    struct nl_addr *dst = nl_addr_build(AF_INET6, p->addr, 16);
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    if (lo == 0 || rt == NULL || dst == NULL || nh == NULL) {
        rtnl_route_put(rt);
        nl_addr_put(dst);
        rtnl_route_nh_free(nh);
        return NULL;
    }
    nl_addr_set_prefixlen(dst, p->prefix);
    rtnl_route_set_family(rt, AF_INET6);
    rtnl_route_set_table(rt, RT_TABLE_LOCAL);
    rtnl_route_set_type(rt, RTN_LOCAL);
    rtnl_route_set_scope(rt, RT_SCOPE_HOST);
    rtnl_route_set_protocol(rt, VR_STANDIN_PROTO);
    rtnl_route_set_dst(rt, dst);
    nl_addr_put(dst);
    rtnl_route_nh_set_ifindex(nh, (int)lo);
    rtnl_route_add_nexthop(rt, nh);
    return rt;
}

/* Removes every IPv6 route of VR_STANDIN_PROTO in table local. */
static void sweep(struct nl_sock *sk)
{
    struct nl_cache *cache = NULL;
    int e = rtnl_route_alloc_cache(sk, AF_INET6, 0, &cache);
    if (e < 0) {
        vr_warn("capture_cgroup: cannot list routes to find stale stand-in routes: %s", nl_geterror(e));
        return;
    }
    for (struct nl_object *o = nl_cache_get_first(cache); o != NULL; o = nl_cache_get_next(o)) {
        struct rtnl_route *k = (struct rtnl_route *)o;
        if (rtnl_route_get_protocol(k) != VR_STANDIN_PROTO || rtnl_route_get_table(k) != RT_TABLE_LOCAL)
            continue;
        char text[INET6_ADDRSTRLEN + 8];
        nl_addr2str(rtnl_route_get_dst(k), text, sizeof(text));
        e = rtnl_route_delete(sk, k, 0);
        if (e < 0 && -e != NLE_OBJ_NOTFOUND)
            vr_warn("capture_cgroup: cannot remove the stale stand-in route local %s: %s", text, nl_geterror(e));
        else
            vr_info("capture_cgroup: removed the stand-in route local %s left by an earlier run", text);
    }
    nl_cache_free(cache);
}

static int del_route(struct nl_sock *sk, const struct vr_cidr *p)
{
    struct rtnl_route *rt = route_of(p);
    if (rt == NULL)
        return -NLE_NOMEM;
    int e = rtnl_route_delete(sk, rt, 0);
    rtnl_route_put(rt);
    return e;
}

int vr_standin_route_set(const struct vr_cidr *p, char *err, size_t errlen)
{
    if (have && p->prefix == in_place.prefix && memcmp(p->addr, in_place.addr, 16) == 0)
        return 0;
    struct nl_sock *sk = nl_open(err, errlen);
    if (sk == NULL)
        return -EIO;
    if (!swept) {
        sweep(sk);
        swept = true;
    }
    struct rtnl_route *rt = route_of(p);
    int e = rt ? rtnl_route_add(sk, rt, NLM_F_REPLACE) : -NLE_NOMEM;
    rtnl_route_put(rt);
    int ret = 0;
    if (e < 0) {
        char t[INET6_ADDRSTRLEN + 8];
        snprintf(err, errlen, "cannot add the route local %s dev lo table local: %s", cidr_text(p, t, sizeof(t)),
                 nl_geterror(e));
        ret = e == -NLE_PERM ? -EPERM : -EIO;
    } else {
        if (have) {
            e = del_route(sk, &in_place); /* the previous prefix */
            char t[INET6_ADDRSTRLEN + 8];
            if (e < 0 && -e != NLE_OBJ_NOTFOUND)
                vr_warn("capture_cgroup: cannot remove the old stand-in route local %s: %s",
                        cidr_text(&in_place, t, sizeof(t)), nl_geterror(e));
        }
        have = true;
        in_place = *p;
    }
    nl_socket_free(sk);
    return ret;
}

void vr_standin_route_clear(void)
{
    if (!have && swept)
        return;
    char err[200], t[INET6_ADDRSTRLEN + 8];
    struct nl_sock *sk = nl_open(err, sizeof(err));
    if (sk == NULL) {
        vr_warn("capture_cgroup: cannot remove stand-in routes: %s", err);
        return;
    }
    if (!swept) {
        sweep(sk);
        swept = true;
    }
    if (have) {
        int e = del_route(sk, &in_place);
        if (e < 0 && -e != NLE_OBJ_NOTFOUND)
            vr_warn("capture_cgroup: cannot remove the stand-in route local %s: %s",
                    cidr_text(&in_place, t, sizeof(t)), nl_geterror(e));
        else
            vr_info("capture_cgroup: removed the stand-in route local %s", cidr_text(&in_place, t, sizeof(t)));
        have = false;
    }
    nl_socket_free(sk);
}
