/* Interface state from netlink: a libnl cache manager holds the link and
 * address caches, subscribed to RTNLGRP_LINK and the IPv4/IPv6 address
 * groups; its fd is watched through the host, and every change
 * re-evaluates whether the interface can carry flows. */
#include "wg_bind.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>


static void wgb_addr_visit(struct nl_object *obj, void *arg)
{
    struct wgb_state *st = arg;
    struct rtnl_addr *a = (struct rtnl_addr *)obj;
    if (rtnl_addr_get_ifindex(a) != st->ifindex)
        return;
    struct nl_addr *local = rtnl_addr_get_local(a);
    if (local == NULL)
        return;
    int fam = rtnl_addr_get_family(a);
    if (fam == AF_INET && !st->has4 && nl_addr_get_len(local) == 4) {
        memcpy(&st->addr4, nl_addr_get_binary_addr(local), 4);
        st->has4 = 1;
    } else if (fam == AF_INET6 && !st->has6 && nl_addr_get_len(local) == 16 &&
               rtnl_addr_get_scope(a) == RT_SCOPE_UNIVERSE) {
        /* a global address: link-local ones cannot source routed traffic */
        memcpy(&st->addr6, nl_addr_get_binary_addr(local), 16);
        st->has6 = 1;
    }
}

/* The link cache also holds per-family objects (AF_INET6, AF_BRIDGE link
 * events) that are not removed with the link: only AF_UNSPEC is the link. */
static void wgb_link_visit(struct nl_object *obj, void *arg)
{
    struct wgb_state *st = arg;
    struct rtnl_link *l = (struct rtnl_link *)obj;
    const char *name = rtnl_link_get_name(l);
    if (rtnl_link_get_family(l) != AF_UNSPEC || name == NULL || strcmp(name, st->ifname) != 0)
        return;
    st->ifindex = rtnl_link_get_ifindex(l);
    st->up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
}

static void wgb_evaluate(struct wgb_state *st)
{
    const struct vr_host *h = st->host;
    st->ifindex = 0;
    st->up = st->has4 = st->has6 = 0;
    nl_cache_foreach(st->links, wgb_link_visit, st);
    if (st->ifindex != 0)
        nl_cache_foreach(st->addrs, wgb_addr_visit, st);
    char reason[sizeof(st->reason)];
    int usable = 0;
    if (st->ifindex == 0)
        snprintf(reason, sizeof(reason), "interface %s does not exist", st->ifname);
    else if (!st->up)
        snprintf(reason, sizeof(reason), "interface %s is down", st->ifname);
    else if (!st->has4 && !st->has6)
        snprintf(reason, sizeof(reason), "interface %s has no address", st->ifname);
    else {
        usable = 1;
        snprintf(reason, sizeof(reason), "interface %s is up (%s%s%s)", st->ifname,
                 st->has4 ? "IPv4" : "", st->has4 && st->has6 ? "+" : "", st->has6 ? "IPv6" : "");
    }
    if (usable != st->usable || strcmp(reason, st->reason) != 0) {
        h->log(st->inst, usable ? VR_LOG_INFO : VR_LOG_WARN, "%s", reason);
        if (usable != st->usable)
            h->health_set(st->inst, usable, reason);
        st->usable = usable;
        snprintf(st->reason, sizeof(st->reason), "%s", reason);
    }
    wgb_udp_end_stale(st);
}

static void wgb_change(struct nl_cache *c, struct nl_object *o, int action, void *arg)
{
    (void)c;
    (void)o;
    (void)action;
    (void)arg;
}

static int wgb_mngr_open(struct wgb_state *st)
{
    int r = nl_cache_mngr_alloc(NULL, NETLINK_ROUTE, 0, &st->mngr);
    if (r < 0)
        return -ENOMEM;
    if (nl_cache_mngr_add(st->mngr, "route/link", wgb_change, st, &st->links) < 0 ||
        nl_cache_mngr_add(st->mngr, "route/addr", wgb_change, st, &st->addrs) < 0) {
        nl_cache_mngr_free(st->mngr);
        st->mngr = NULL;
        return -EIO;
    }
    return 0;
}

static void wgb_nl_event(int fd, unsigned events, void *arg);

static int wgb_watch_open(struct wgb_state *st)
{
    int r = wgb_mngr_open(st);
    if (r < 0)
        return r;
    st->nl_watch = st->host->watch_add(st->inst, nl_cache_mngr_get_fd(st->mngr), VR_EV_READ,
                                       wgb_nl_event, st);
    if (st->nl_watch == NULL) {
        nl_cache_mngr_free(st->mngr);
        st->mngr = NULL;
        return -ENOMEM;
    }
    return 0;
}

static void wgb_nl_event(int fd, unsigned events, void *arg)
{
    struct wgb_state *st = arg;
    (void)fd;
    (void)events;
    int r = nl_cache_mngr_data_ready(st->mngr);
    if (r < 0) {
        /* Lost events (socket overrun): start over from a fresh dump. */
        st->host->log(st->inst, VR_LOG_WARN, "netlink: %s; resynchronising", nl_geterror(r));
        wgb_watch_stop(st);
        if (wgb_watch_open(st) < 0) {
            st->usable = 0;
            st->host->health_set(st->inst, 0, "netlink monitor lost");
            return;
        }
    }
    wgb_evaluate(st);
}

int wgb_watch_start(struct wgb_state *st)
{
    st->usable = 1; /* instances start healthy: report only a change */
    st->reason[0] = 0;
    int r = wgb_watch_open(st);
    if (r < 0)
        return r;
    wgb_evaluate(st);
    return 0;
}

void wgb_watch_stop(struct wgb_state *st)
{
    st->host->watch_del(st->nl_watch);
    st->nl_watch = NULL;
    if (st->mngr != NULL)
        nl_cache_mngr_free(st->mngr); /* frees the caches too */
    st->mngr = NULL;
    st->links = st->addrs = NULL;
}
