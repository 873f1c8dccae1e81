/* The gateway's own addresses, from a getifaddrs snapshot retaken at most
 * once a second, on demand (only while reply datagrams arrive).
 *
 * Why a snapshot and not the alternatives:
 *  - a bind test (bind a plain socket to addr:0, success = local) reports
 *    every address as local when net.ipv4.ip_nonlocal_bind = 1 (usual on
 *    keepalived/VRRP gateways), which would refuse every reply, and costs
 *    three system calls per datagram;
 *  - a netlink subscription (RTMGRP_IPV4_IFADDR...) is exact but is a
 *    socket and a watch per instance, and a resync protocol on overrun,
 *    to gain less than a second of freshness.
 * The window this leaves (an address added less than a second ago, or an
 * AnyIP "local" route that no interface carries) cannot be used to steal a
 * local service's datagrams: the core never shares a port (SO_REUSEADDR)
 * on one of the host's own addresses (core/flow/vr_udp_reply.c). */
#include "socks5_local.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* family and bytes of sa, an IPv4-mapped IPv6 address as IPv4. */
static void s5_local_key(const struct sockaddr *sa, struct s5_local_addr *k)
{
    memset(k, 0, sizeof(*k));
    if (sa->sa_family == AF_INET) {
        k->family = AF_INET;
        memcpy(k->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return;
    }
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
        k->family = AF_INET;
        memcpy(k->addr, a->s6_addr + 12, 4);
    } else {
        k->family = AF_INET6;
        memcpy(k->addr, a->s6_addr, 16);
    }
}

static int s5_local_usable(const struct sockaddr *sa)
{
    return sa != NULL && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

static int s5_local_take(struct s5_local *l)
{
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) < 0)
        return -1;
    size_t n = 0;
    for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next)
        n += 2; /* the address, and maybe a broadcast address */
    struct s5_local_addr *v = calloc(n ? n : 1, sizeof(*v));
    if (v == NULL) {
        freeifaddrs(ifs);
        return -1;
    }
    size_t k = 0;
    for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
        if (s5_local_usable(i->ifa_addr))
            s5_local_key(i->ifa_addr, &v[k++]);
        /* ifa_broadaddr shares storage with the point-to-point peer: only
         * a broadcast address when the interface says so */
        if ((i->ifa_flags & IFF_BROADCAST) && s5_local_usable(i->ifa_broadaddr) &&
            i->ifa_broadaddr->sa_family == AF_INET)
            s5_local_key(i->ifa_broadaddr, &v[k++]);
    }
    freeifaddrs(ifs);
    free(l->v);
    l->v = v;
    l->n = k;
    return 0;
}

int s5_local_is_own(struct s5_local *l, const struct sockaddr *sa, uint64_t now_ms)
{
    if (l->taken_ms == 0 || now_ms - l->taken_ms >= S5_LOCAL_TTL_MS) {
        /* on failure the old snapshot stays; retried after the TTL */
        s5_local_take(l);
        l->taken_ms = now_ms ? now_ms : 1;
    }
    struct s5_local_addr k;
    s5_local_key(sa, &k);
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].family == k.family && memcmp(l->v[i].addr, k.addr, 16) == 0)
            return 1;
    return 0;
}

void s5_local_free(struct s5_local *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
    l->taken_ms = 0;
}
