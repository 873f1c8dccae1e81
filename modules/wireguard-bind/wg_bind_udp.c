/* UDP through the interface: one bound socket per association. */
#include "wg_bind.h"

#include <stdio.h>

#include "vr_by_name.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WGB_UDP_BURST 64

struct wgb_udp {
    struct wgb_link link; /* first */
    struct wgb_state *st;
    int fd;
    int family;
    struct vr_watch *watch;
    vr_udp_recv_cb cb;
    void *arg;
    uint64_t flow_id;
    int ifindex; /* of the interface the socket was bound to */
    int ended;   /* the interface went away: fd closed, sends refused */
    int busy, closing;
    int send_warned; /* the first failed send of the association is logged */
    /* set: a flow to a name (FakeIP, sniff_override), carried by an inner
     * association (vr_by_name.h); this one holds no socket and is not in
     * st->assocs */
    struct vr_by_name_udp *by_name;
};

static void wgb_udp_release_socket(struct wgb_udp *u)
{
    u->st->host->watch_del(u->watch);
    u->watch = NULL;
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
}

static void wgb_udp_free(struct wgb_udp *u)
{
    wgb_udp_release_socket(u);
    wgb_link_del(&u->link);
    free(u);
}

static void wgb_udp_event(int fd, unsigned events, void *arg)
{
    struct wgb_udp *u = arg;
    struct wgb_state *st = u->st;
    (void)events;
    u->busy++;
    for (int i = 0; i < WGB_UDP_BURST && !u->closing; i++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, st->udp_buf, sizeof(st->udp_buf), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            break;
        u->cb(u->arg, (struct sockaddr *)&from, fl, st->udp_buf, (size_t)n, 0);
    }
    u->busy--;
    if (u->closing)
        wgb_udp_free(u);
}

static int wgb_udp_open_plain(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg,
                              void **assoc);
static int wgb_udp_send_plain(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen,
                              const uint8_t *data, size_t len);
static void wgb_udp_close_plain(void *state, void *assoc);

static const struct vr_by_name_udp_ops wgb_udp_plain = {wgb_udp_open_plain, wgb_udp_send_plain,
                                                        wgb_udp_close_plain};

int wgb_udp_open(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg,
                 void **assoc)
{
    struct wgb_state *st = state;
    if (!vr_by_name_wanted(flow))
        return wgb_udp_open_plain(state, flow, cb, arg, assoc);
    struct wgb_udp *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return -ENOMEM;
    u->st = st;
    u->fd = -1;
    u->flow_id = flow->id;
    char who[64];
    snprintf(who, sizeof(who), "wireguard-bind %s", st->ifname);
    int r = vr_by_name_udp_open(st->host, st->inst, who, flow, &wgb_udp_plain, st, cb, arg, &u->by_name);
    if (r < 0) {
        free(u);
        return r;
    }
    *assoc = u;
    return 0;
}

int wgb_udp_send(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen,
                 const uint8_t *data, size_t len)
{
    struct wgb_udp *u = assoc;
    if (u->by_name)
        return vr_by_name_udp_send(u->by_name, dst, dstlen, data, len);
    return wgb_udp_send_plain(state, assoc, dst, dstlen, data, len);
}

void wgb_udp_close(void *state, void *assoc)
{
    struct wgb_udp *u = assoc;
    if (u->by_name) {
        vr_by_name_udp_close(u->by_name);
        free(u);
        return;
    }
    wgb_udp_close_plain(state, assoc);
}

static int wgb_udp_open_plain(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg,
                              void **assoc)
{
    struct wgb_state *st = state;
    const char *why = NULL;
    struct sockaddr_storage src;
    int fd = wgb_socket(st, flow->dst.ss_family, SOCK_DGRAM, &src, &why);
    if (fd < 0) {
        st->host->log(st->inst, VR_LOG_INFO, "flow %" PRIu64 ": UDP: wireguard-bind %s: %s",
                      flow->id, st->ifname, why);
        return fd;
    }
    struct wgb_udp *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        close(fd);
        return -ENOMEM;
    }
    u->st = st;
    u->fd = fd;
    u->family = flow->dst.ss_family;
    u->flow_id = flow->id;
    u->ifindex = st->ifindex;
    u->cb = cb;
    u->arg = arg;
    u->watch = st->host->watch_add(st->inst, fd, VR_EV_READ, wgb_udp_event, u);
    if (u->watch == NULL) {
        close(fd);
        free(u);
        return -ENOMEM;
    }
    st->host->counter_add(st->c_udp, 1);
    wgb_link_add(&st->assocs, &u->link);
    *assoc = u;
    return 0;
}

static int wgb_udp_send_plain(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen,
                              const uint8_t *data, size_t len)
{
    struct wgb_state *st = state;
    struct wgb_udp *u = assoc;
    if (u->ended)
        return -ENOTCONN;
    if (dst->sa_family != u->family)
        return -EAFNOSUPPORT;
    if (sendto(u->fd, data, len, MSG_NOSIGNAL, dst, dstlen) < 0) {
        int err = errno;
        if (err == EAGAIN)
            return 0; /* a full socket buffer drops, like the wire */
        if (!u->send_warned) {
            /* Once per association: the core only counts the drops. A
             * socket bound to the device finds only routes through it;
             * IPv4 falls back to "on link", IPv6 does not. */
            u->send_warned = 1;
            st->host->log(st->inst, VR_LOG_WARN,
                          "flow %" PRIu64 ": UDP through %s: send failed: %s%s", u->flow_id,
                          st->ifname, strerror(err),
                          err == ENETUNREACH && u->family == AF_INET6
                              ? " (IPv6 needs a route through the interface, e.g. a default "
                                "route via it in a table that routing_mark selects)"
                              : "");
        }
        return -err;
    }
    return 0;
}

static void wgb_udp_close_plain(void *state, void *assoc)
{
    struct wgb_udp *u = assoc;
    (void)state;
    if (u->busy) {
        u->closing = 1;
        return;
    }
    wgb_udp_free(u);
}

void wgb_udp_end_stale(struct wgb_state *st)
{
    struct wgb_link *l = st->assocs.next;
    while (l != &st->assocs) {
        struct wgb_udp *u = (struct wgb_udp *)l;
        l = l->next;
        if (u->ended || u->closing || (st->usable && u->ifindex == st->ifindex))
            continue;
        u->ended = 1;
        wgb_udp_release_socket(u);
        st->host->log(st->inst, VR_LOG_INFO, "flow %" PRIu64 ": UDP association ended: %s", u->flow_id,
                      st->usable ? "the interface was replaced" : st->reason);
        u->busy++;
        u->cb(u->arg, NULL, 0, NULL, 0, -ENETDOWN);
        u->busy--;
        if (u->closing)
            wgb_udp_free(u);
    }
}

void wgb_udp_free_all(struct wgb_state *st)
{
    while (st->assocs.next != &st->assocs)
        wgb_udp_free((struct wgb_udp *)st->assocs.next);
}
