#include "vr_udp_listener.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vrouter/vr_flow.h>

#include "vr_addr.h"
#include "vr_listener_reload.h"
#include "vr_log.h"
#include "vr_udp_rx.h"
#include "vr_udp_session.h"
#include "vr_watch.h"
#include "vr_worker.h"

static int set_int(int fd, int level, int opt, int v) { return setsockopt(fd, level, opt, &v, sizeof(v)); }

static bool listener_input(void *arg, const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                           const uint8_t *data, size_t len)
{
    vr_udp_session_input(arg, src, dst, data, len);
    return true;
}

static void readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct vr_udp_listener *l = arg;
    struct vr_udp_rx_counts counts = {0};
    vr_udp_rx(fd, l->rxbuf, NULL, listener_input, l, &counts);
    l->stats.no_origdst += counts.no_origdst;
    l->stats.dropped += counts.truncated;
}

/* The sweep runs at the next session deadline, at most VR_UDP_SWEEP_MAX_MS
 * apart: a session that starts after a sweep has a timeout of at least 1 s,
 * so the next regular sweep sees it in time to aim at its deadline. A fixed
 * 1 s period let a 1 s DNS timeout end after up to 2 s. The slack covers the
 * coarse clock lagging the timer. */
#define VR_UDP_SWEEP_MAX_MS 1000u
#define VR_UDP_SWEEP_SLACK_MS 10u

static void sweep_arm(struct vr_udp_listener *l, uint64_t in_ms)
{
    if (in_ms > VR_UDP_SWEEP_MAX_MS)
        in_ms = VR_UDP_SWEEP_MAX_MS;
    struct timeval tv = {.tv_sec = (time_t)(in_ms / 1000u), .tv_usec = (suseconds_t)(in_ms % 1000u) * 1000};
    evtimer_add(l->sweep, &tv);
}

static void sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_udp_listener *l = arg;
    uint64_t next_ms = vr_udp_sessions_sweep(l, vr_now_ms_coarse());
    sweep_arm(l, next_ms == UINT64_MAX ? VR_UDP_SWEEP_MAX_MS : next_ms + VR_UDP_SWEEP_SLACK_MS);
}

static void reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    vr_udp_sessions_reap(arg);
}

static void listener_close(struct vr_udp_listener *l)
{
    if (l == NULL)
        return;
    vr_udp_sessions_close_all(l, "listener closed");
    vr_udp_sessions_reap(l);
    if (l->ev)
        event_free(l->ev);
    if (l->sweep)
        event_free(l->sweep);
    if (l->reap)
        event_free(l->reap);
    if (l->fd >= 0)
        close(l->fd);
    if (l->table.buckets)
        vr_udp_table_fini(&l->table);
    if (l->replies.buckets)
        vr_udp_replies_fini(&l->replies);
    free(l->rxbuf);
    free(l->tag);
    free(l);
}

static struct vr_udp_listener *listener_open(const struct vr_listener_cfg *cfg, struct vr_worker *w,
                                             struct vr_errors *errs)
{
    struct event_base *base = w->base;
    struct vr_udp_listener *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->fd = -1;
    l->tag = strdup(cfg->tag);
    l->addr = cfg->addr;
    l->addrlen = cfg->addrlen;
    l->port = cfg->port;
    l->base = base;
    l->worker = w;
    l->cfg = cfg;
    l->match = -1;
    const char *step = "out of memory";
    errno = ENOMEM;
    l->rxbuf = malloc(VR_UDP_RX_BUF_SIZE);
    if (l->tag == NULL || l->rxbuf == NULL || vr_udp_table_init(&l->table) < 0 ||
        vr_udp_replies_init(&l->replies, VR_UDP_REPLY_SOCKETS, base, l->rxbuf, listener_input, l) < 0)
        goto fail;
    int family = cfg->addr.ss_family;
    step = "socket";
    l->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0)
        goto fail;
    step = "SO_REUSEADDR";
    if (set_int(l->fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
        goto fail;
    /* One socket per worker on the same address (SO_REUSEPORT). Measured
     * on Linux 6.18: TPROXY's UDP lookup hands every datagram of the
     * listener to the same socket of the group, so UDP is served by one
     * worker; vr_udp_owners keeps sessions whole should the kernel ever
     * spread them (docs/UDP.md, "Several workers"). */
    step = "SO_REUSEPORT";
    if (set_int(l->fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0)
        goto fail;
    l->replies.across_workers = w->shared && w->shared->n_workers > 1;
    step = "IP_TRANSPARENT (needs CAP_NET_ADMIN)";
    if (set_int(l->fd, SOL_IP, IP_TRANSPARENT, 1) < 0)
        goto fail;
    /* IPv4 packets on a dual-stack socket report through SOL_IP. */
    step = "IP_RECVORIGDSTADDR";
    if (set_int(l->fd, SOL_IP, IP_RECVORIGDSTADDR, 1) < 0)
        goto fail;
    if (family == AF_INET6) {
        step = "IPV6_V6ONLY";
        if (set_int(l->fd, SOL_IPV6, IPV6_V6ONLY, 0) < 0)
            goto fail;
        step = "IPV6_TRANSPARENT";
        if (set_int(l->fd, SOL_IPV6, IPV6_TRANSPARENT, 1) < 0)
            goto fail;
        step = "IPV6_RECVORIGDSTADDR";
        if (set_int(l->fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, 1) < 0)
            goto fail;
    }
    /* Bursts (a QUIC flight, a game tick) should wait in the kernel, not be
     * dropped: ask for 4 MiB, past rmem_max when we may. */
    if (set_int(l->fd, SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20) < 0)
        set_int(l->fd, SOL_SOCKET, SO_RCVBUF, 4 << 20);
    step = "bind";
    if (bind(l->fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) < 0)
        goto fail;
    step = "event";
    errno = ENOMEM;
    l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, readable, l);
    l->sweep = evtimer_new(base, sweep, l);
    l->reap = event_new(base, -1, 0, reap, l);
    struct timeval tv = {1, 0};
    if (l->ev == NULL || l->sweep == NULL || l->reap == NULL || event_add(l->ev, NULL) < 0 ||
        event_add(l->sweep, &tv) < 0)
        goto fail;
    return l;
fail:;
    int e = errno;
    char a[VR_ADDRSTRLEN];
    vr_errors_at(errs, cfg->file, cfg->line, "listener \"%s\": cannot receive UDP on %s: %s: %s%s", cfg->tag,
                 vr_sockaddr_str((const struct sockaddr *)&cfg->addr, a, sizeof(a)), step, strerror(e),
                 e == EADDRINUSE ? " (another process holds the UDP port)" : "");
    listener_close(l);
    return NULL;
}

/* ---- reload (vr_listener_reload.h) */

static void *udp_next(void *l) { return ((struct vr_udp_listener *)l)->next; }
static void udp_set_next(void *l, void *next) { ((struct vr_udp_listener *)l)->next = next; }
static int *udp_match(void *l) { return &((struct vr_udp_listener *)l)->match; }

static bool udp_serves(void *arg, const struct vr_listener_cfg *lc)
{
    struct vr_udp_listener *l = arg;
    return vr_sockaddr_equal((const struct sockaddr *)&l->addr, (const struct sockaddr *)&lc->addr);
}

static void *udp_open(const struct vr_listener_cfg *lc, struct vr_worker *w, const char *file, struct vr_errors *errs)
{
    (void)file; /* lc carries its own file */
    return listener_open(lc, w, errs);
}

static void udp_close(void *arg, bool dropped)
{
    struct vr_udp_listener *l = arg;
    if (dropped) {
        char a[VR_ADDRSTRLEN];
        vr_info("listener %s: UDP on %s closed (%zu sessions ended)", l->tag,
                vr_sockaddr_str((const struct sockaddr *)&l->addr, a, sizeof(a)), l->table.n);
    }
    listener_close(l);
}

static void udp_bind(void *arg, const struct vr_listener_cfg *lc, const struct vr_config *cfg, bool opened)
{
    struct vr_udp_listener *l = arg;
    if (opened) {
        char a[VR_ADDRSTRLEN];
        vr_info("listener %s: tproxy UDP on %s opened", lc->tag,
                vr_sockaddr_str((const struct sockaddr *)&l->addr, a, sizeof(a)));
    }
    l->table.client_prefix_v6 = cfg->daemon.client_prefix_v6;
    l->cfg = lc;
    char *tag = strdup(lc->tag);
    if (tag) {
        free(l->tag);
        l->tag = tag;
    }
}

static const struct vr_listen_ops udp_ops = {
    .network = VR_NET_UDP,
    .next = udp_next,
    .set_next = udp_set_next,
    .match = udp_match,
    .serves = udp_serves,
    .open = udp_open,
    .close = udp_close,
    .bind = udp_bind,
};

int vr_udp_listeners_prepare(struct vr_udp_listener *current, const struct vr_config *cfg, struct vr_worker *w,
                             struct vr_udp_listener **opened, struct vr_errors *errs)
{
    void *o = NULL;
    int r = vr_listen_prepare(&udp_ops, current, cfg, w, &o, errs);
    *opened = o;
    return r;
}

void vr_udp_listeners_commit(struct vr_udp_listener **current, struct vr_udp_listener *opened,
                             const struct vr_config *cfg, bool reloading)
{
    *current = vr_listen_commit(&udp_ops, *current, opened, cfg, reloading);
}

void vr_udp_listeners_abort(struct vr_udp_listener *opened) { vr_listen_abort(&udp_ops, opened); }

void vr_udp_listeners_close_all(struct vr_udp_listener **current)
{
    vr_udp_listeners_abort(*current);
    *current = NULL;
}

bool vr_udp_listener_is_own(const struct vr_udp_listener *all, const struct sockaddr *dst)
{
    for (const struct vr_udp_listener *l = all; l; l = l->next)
        if (vr_sockaddr_listener_takes((const struct sockaddr *)&l->addr, l->port, dst))
            return true;
    return false;
}

void vr_udp_listener_log_stats(const struct vr_udp_listener *const *ls, size_t n)
{
    struct vr_udp_stats s = {0};
    size_t open = 0, clients = 0, replies = 0;
    for (size_t i = 0; i < n; i++) {
        const struct vr_udp_stats *w = &ls[i]->stats;
        open += ls[i]->table.n;
        clients += ls[i]->table.n_clients; /* a client using two workers counts twice */
        replies += ls[i]->replies.n;
        s.sessions += w->sessions;
        s.expired += w->expired;
        s.evicted += w->evicted;
        s.evicted_by_client += w->evicted_by_client;
        s.dgrams_up += w->dgrams_up;
        s.bytes_up += w->bytes_up;
        s.dgrams_down += w->dgrams_down;
        s.bytes_down += w->bytes_down;
        s.dropped += w->dropped;
        s.filtered += w->filtered;
        s.loops += w->loops;
        s.no_fd += w->no_fd;
        s.handed_over += w->handed_over;
    }
    vr_log_write(VR_LOG_INFO,
                 "stats: udp %s: %zu sessions open (%zu clients), %" PRIu64 " created, %" PRIu64 " expired, %" PRIu64
                 " evicted (table full), %" PRIu64 " evicted (client over its share); up %" PRIu64 " datagrams %" PRIu64
                 " bytes, down %" PRIu64 " datagrams %" PRIu64 " bytes; %" PRIu64 " dropped, %" PRIu64
                 " filtered, %" PRIu64 " loops, %zu reply sockets, %" PRIu64 " dropped for want of file descriptors, %"
                 PRIu64 " handed over to the worker owning the session",
                 ls[0]->tag, open, clients, s.sessions, s.expired, s.evicted, s.evicted_by_client, s.dgrams_up,
                 s.bytes_up, s.dgrams_down, s.bytes_down, s.dropped, s.filtered, s.loops, replies, s.no_fd,
                 s.handed_over);
}

void vr_udp_listeners_take_inbox(struct vr_worker *w)
{
    struct vr_udp_handed *h = vr_udp_inbox_take(&w->udp_inbox);
    while (h) {
        struct vr_udp_handed *next = h->next;
        struct vr_udp_listener *l = w->udp_listeners;
        while (l && !vr_sockaddr_equal((const struct sockaddr *)&l->addr, (const struct sockaddr *)&h->listener))
            l = l->next;
        if (l)
            vr_udp_session_input(l, &h->src, &h->dst, h->data, h->len);
        free(h);
        h = next;
    }
}
