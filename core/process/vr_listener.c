#include "vr_listener.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vrouter/vr_flow.h>

#include "vr_addr.h"
#include "vr_conn.h"
#include "vr_listener_reload.h"
#include "vr_log.h"
#include "vr_worker.h"

#define VR_LISTEN_BACKLOG 4096
/* Connections accepted per wakeup before other events get a turn. */
#define VR_ACCEPT_BATCH 64

static void accept_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct vr_listener *l = arg;
    for (int i = 0; i < VR_ACCEPT_BATCH; i++) {
        if (!vr_worker_may_accept(l->worker))
            return; /* paused: max_connections, short of files, or draining */
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int cfd = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                vr_worker_accept_starved(l->worker, l->tag, errno);
                return;
            }
            vr_warn("listener %s: accept: %s", l->tag, strerror(errno));
            return;
        }
        vr_worker_accepted(l->worker);
        vr_conn_accept(l, cfd, &peer);
    }
}

static int set_int(int fd, int level, int opt, int v) { return setsockopt(fd, level, opt, &v, sizeof(v)); }

bool vr_listener_matches(const struct vr_listener *l, const struct vr_listener_cfg *cfg)
{
    return l->mode == cfg->mode && vr_sockaddr_equal((const struct sockaddr *)&l->addr,
                                                     (const struct sockaddr *)&cfg->addr);
}

struct vr_listener *vr_listener_open(const struct vr_listener_cfg *cfg, struct vr_worker *w, const char *file,
                                     struct vr_errors *errs)
{
    struct vr_listener *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->fd = -1;
    l->match = -1;
    l->tag = strdup(cfg->tag);
    const char *step = "out of memory";
    errno = ENOMEM;
    if (l->tag == NULL)
        goto fail;
    l->mode = cfg->mode;
    l->addr = cfg->addr;
    l->addrlen = cfg->addrlen;
    l->port = cfg->port;
    l->worker = w;
    l->cfg = cfg;
    int family = cfg->addr.ss_family;
    l->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    step = "socket";
    if (l->fd < 0)
        goto fail;
    step = "SO_REUSEADDR";
    if (set_int(l->fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
        goto fail;
    /* Several workers may share the port later (one accept queue each). */
    set_int(l->fd, SOL_SOCKET, SO_REUSEPORT, 1);
    /* Accepted sockets inherit it: a relay must not add Nagle's wait to the
     * small segments it passes on (best effort, no extra call per connection). */
    set_int(l->fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (family == AF_INET6) {
        step = "IPV6_V6ONLY";
        if (set_int(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, 0) < 0)
            goto fail;
    }
    if (cfg->mode == VR_MODE_TPROXY) {
        step = "IP_TRANSPARENT (needs CAP_NET_ADMIN)";
        if (set_int(l->fd, SOL_IP, IP_TRANSPARENT, 1) < 0)
            goto fail;
        if (family == AF_INET6 && set_int(l->fd, SOL_IPV6, IPV6_TRANSPARENT, 1) < 0)
            goto fail;
    }
    step = "bind";
    if (bind(l->fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) < 0)
        goto fail;
    step = "listen";
    if (listen(l->fd, VR_LISTEN_BACKLOG) < 0)
        goto fail;
    l->ev = event_new(w->base, l->fd, EV_READ | EV_PERSIST, accept_ready, l);
    step = "event";
    if (l->ev == NULL || event_add(l->ev, NULL) < 0)
        goto fail;
    return l;
fail:;
    int e = errno;
    char a[VR_ADDRSTRLEN];
    vr_errors_at(errs, file, cfg->line, "listener \"%s\": cannot listen on %s: %s: %s%s", cfg->tag,
                 vr_sockaddr_str((const struct sockaddr *)&cfg->addr, a, sizeof(a)), step, strerror(e),
                 e == EADDRINUSE ? " (another process holds the port; reserve it with "
                                   "net.ipv4.ip_local_reserved_ports so outgoing sockets cannot take it)"
                                 : "");
    vr_listener_close(l);
    return NULL;
}

void vr_listener_log(const struct vr_listener *l, const char *suffix)
{
    char a[VR_ADDRSTRLEN];
    vr_info("listener %s: %s on %s%s", l->tag, l->mode == VR_MODE_TPROXY ? "tproxy" : "redirect",
            vr_sockaddr_str((const struct sockaddr *)&l->addr, a, sizeof(a)), suffix);
}

/* ---- reload (vr_listener_reload.h) */

static void *tcp_next(void *l) { return ((struct vr_listener *)l)->next; }
static void tcp_set_next(void *l, void *next) { ((struct vr_listener *)l)->next = next; }
static int *tcp_match(void *l) { return &((struct vr_listener *)l)->match; }
static bool tcp_serves(void *l, const struct vr_listener_cfg *lc) { return vr_listener_matches(l, lc); }

static void *tcp_open(const struct vr_listener_cfg *lc, struct vr_worker *w, const char *file, struct vr_errors *errs)
{
    return vr_listener_open(lc, w, file, errs);
}

static void tcp_close(void *arg, bool dropped)
{
    struct vr_listener *l = arg;
    if (dropped) {
        char a[VR_ADDRSTRLEN];
        vr_info("listener %s on %s closed", l->tag, vr_sockaddr_str((const struct sockaddr *)&l->addr, a, sizeof(a)));
    }
    vr_listener_close(l);
}

static void tcp_bind(void *arg, const struct vr_listener_cfg *lc, const struct vr_config *cfg, bool opened)
{
    (void)cfg;
    struct vr_listener *l = arg;
    l->cfg = lc;
    char *tag = strdup(lc->tag);
    if (tag) {
        free(l->tag);
        l->tag = tag;
    } else {
        vr_err("listener %s: out of memory renaming it to %s; it keeps its old name", l->tag, lc->tag);
    }
    if (opened)
        vr_listener_log(l, " opened");
}

static const struct vr_listen_ops tcp_ops = {
    .network = VR_NET_TCP,
    .next = tcp_next,
    .set_next = tcp_set_next,
    .match = tcp_match,
    .serves = tcp_serves,
    .open = tcp_open,
    .close = tcp_close,
    .bind = tcp_bind,
};

int vr_listeners_prepare(struct vr_listener *current, const struct vr_config *cfg, struct vr_worker *w,
                         struct vr_listener **opened, struct vr_errors *errs)
{
    void *o = NULL;
    int r = vr_listen_prepare(&tcp_ops, current, cfg, w, &o, errs);
    *opened = o;
    return r;
}

void vr_listeners_commit(struct vr_listener **current, struct vr_listener *opened, const struct vr_config *cfg,
                         bool reloading)
{
    *current = vr_listen_commit(&tcp_ops, *current, opened, cfg, reloading);
}

void vr_listeners_abort(struct vr_listener *opened) { vr_listen_abort(&tcp_ops, opened); }

void vr_listener_pause(struct vr_listener *l)
{
    if (!l->paused && l->ev) {
        event_del(l->ev);
        l->paused = true;
    }
}

void vr_listener_resume(struct vr_listener *l)
{
    /* If epoll cannot take the fd back (ENOMEM) it stays paused and the
     * next resume (a connection closing, the back-off timer) tries again. */
    if (l->paused && l->ev && event_add(l->ev, NULL) == 0)
        l->paused = false;
}

void vr_listener_close(struct vr_listener *l)
{
    if (l == NULL)
        return;
    if (l->ev)
        event_free(l->ev);
    if (l->fd >= 0)
        close(l->fd);
    free(l->tag);
    free(l);
}

bool vr_listener_is_own(const struct vr_listener *all, const struct sockaddr *dst)
{
    for (const struct vr_listener *l = all; l; l = l->next)
        if (vr_sockaddr_listener_takes((const struct sockaddr *)&l->addr, l->port, dst))
            return true;
    return false;
}
