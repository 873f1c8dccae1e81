/* tcp_connect through the interface; fails at once (returning the errno,
 * with the reason through host->connect_fail_reason) while the interface
 * cannot carry flows. */
#include "wg_bind.h"

#include "vr_by_name.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct wgb_conn {
    struct wgb_link link; /* first */
    struct wgb_state *st;
    int fd;
    uint64_t flow_id;
    struct vr_watch *watch;
    struct vr_timer *timer;
    vr_connect_cb cb;
    void *arg;
    char reason[192];
};

static void wgb_conn_finish(struct wgb_conn *c, int fd, int err)
{
    struct wgb_state *st = c->st;
    st->host->watch_del(c->watch);
    st->host->timer_del(c->timer);
    wgb_link_del(&c->link);
    if (err != 0) {
        if (c->fd >= 0)
            close(c->fd);
        st->host->log(st->inst, VR_LOG_INFO, "flow %" PRIu64 ": %s", c->flow_id, c->reason);
        c->cb(c->arg, -1, err, c->reason);
    } else {
        c->cb(c->arg, fd, 0, NULL);
    }
    free(c);
}

static void wgb_conn_event(int fd, unsigned events, void *arg)
{
    struct wgb_conn *c = arg;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    (void)events;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
    if (soerr != 0) {
        c->st->host->counter_add(c->st->c_connect_fail, 1);
        snprintf(c->reason, sizeof(c->reason), "wireguard-bind %s: connect: %s", c->st->ifname,
                 strerror(soerr));
        wgb_conn_finish(c, -1, -soerr);
        return;
    }
    wgb_conn_finish(c, fd, 0);
}

static void wgb_conn_timer(void *arg)
{
    struct wgb_conn *c = arg;
    c->timer = NULL;
    c->st->host->counter_add(c->st->c_connect_fail, 1);
    snprintf(c->reason, sizeof(c->reason), "wireguard-bind %s: connect timeout after %u ms", c->st->ifname,
             c->st->connect_timeout_ms);
    wgb_conn_finish(c, -1, -ETIMEDOUT);
}

/* A connect by name: resolving, then one inner wgb_conn at a time. */
struct wgb_named {
    struct wgb_link link; /* first: st->by_name */
    struct wgb_state *st;
    struct vr_by_name *b;
    vr_connect_cb cb;
    void *arg;
};

static int wgb_tcp_connect_addr(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                                void **pending);

static void wgb_named_done(void *arg, int fd, int err, const char *reason)
{
    struct wgb_named *n = arg;
    vr_connect_cb cb = n->cb;
    void *cb_arg = n->arg;
    wgb_link_del(&n->link);
    free(n);
    cb(cb_arg, fd, err, reason);
}

static int wgb_is_named(struct wgb_state *st, void *pending)
{
    for (struct wgb_link *l = st->by_name.next; l != &st->by_name; l = l->next)
        if ((void *)l == pending)
            return 1;
    return 0;
}

int wgb_tcp_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                    void **pending)
{
    struct wgb_state *st = state;
    if (!vr_by_name_wanted(flow))
        return wgb_tcp_connect_addr(state, flow, cb, arg, pending);
    /* dst stands for flow->domain (FakeIP, sniff_override): resolve it
     * through the host, connect to its addresses, never to dst. */
    struct wgb_named *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    n->st = st;
    n->cb = cb;
    n->arg = arg;
    char who[64];
    snprintf(who, sizeof(who), "wireguard-bind %s", st->ifname);
    int r = vr_by_name_start(st->host, st->inst, who, flow, wgb_tcp_connect_addr, wgb_tcp_cancel, st,
                             wgb_named_done, n, &n->b);
    if (r < 0) {
        st->host->counter_add(st->c_fail_fast, 1);
        free(n);
        return r;
    }
    wgb_link_add(&st->by_name, &n->link);
    *pending = n;
    return 0;
}

static int wgb_tcp_connect_addr(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                                void **pending)
{
    struct wgb_state *st = state;
    const struct vr_host *h = st->host;
    const char *why = NULL;
    struct sockaddr_storage src;
    int family = flow->dst.ss_family;
    int fd = wgb_socket(st, family, SOCK_STREAM, &src, &why);
    if (fd >= 0) {
        socklen_t dl = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        if (connect(fd, (const struct sockaddr *)&flow->dst, dl) < 0 && errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            fd = -e;
            why = strerror(e);
        }
    }
    if (fd < 0) {
        /* Fail fast, at once: the reason goes on the connection's log line
         * (ABI 1.1; on an older host only the errno does). */
        h->counter_add(st->c_fail_fast, 1);
        h->log(st->inst, VR_LOG_INFO, "flow %" PRIu64 ": wireguard-bind %s: %s", flow->id, st->ifname, why);
        if (VR_HAS(h, connect_fail_reason))
            h->connect_fail_reason(flow, "wireguard-bind %s: %s", st->ifname, why);
        return fd;
    }
    struct wgb_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return -ENOMEM;
    }
    c->st = st;
    c->cb = cb;
    c->arg = arg;
    c->flow_id = flow->id;
    c->fd = fd;
    c->watch = h->watch_add(st->inst, fd, VR_EV_WRITE, wgb_conn_event, c);
    c->timer = h->timer_add(st->inst, st->connect_timeout_ms, 0, wgb_conn_timer, c);
    if (c->watch == NULL || c->timer == NULL) {
        h->watch_del(c->watch);
        h->timer_del(c->timer);
        close(c->fd);
        free(c);
        return -ENOMEM;
    }
    h->counter_add(st->c_connects, 1);
    wgb_link_add(&st->pending, &c->link);
    *pending = c;
    return 0;
}

void wgb_tcp_cancel(void *state, void *pending)
{
    struct wgb_state *st = state;
    if (wgb_is_named(st, pending)) {
        struct wgb_named *n = pending;
        wgb_link_del(&n->link);
        vr_by_name_cancel(n->b); /* cancels its inner connect too */
        free(n);
        return;
    }
    struct wgb_conn *c = pending;
    st->host->watch_del(c->watch);
    st->host->timer_del(c->timer);
    if (c->fd >= 0)
        close(c->fd);
    wgb_link_del(&c->link);
    free(c);
}

void wgb_tcp_free_all(struct wgb_state *st)
{
    while (st->by_name.next != &st->by_name)
        wgb_tcp_cancel(st, st->by_name.next);
    while (st->pending.next != &st->pending)
        wgb_tcp_cancel(st, st->pending.next);
}
