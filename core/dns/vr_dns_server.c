#include "vr_dns_server.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vr_addr.h"
#include "vr_dns_config.h"
#include "vr_dns_resolver.h"
#include "vr_generation.h"
#include "vr_log.h"
#include "vr_worker.h"

#define TCP_IDLE_S 10
#define TCP_MAX_CLIENTS 256 /* per worker */
#define UDP_BATCH 64        /* datagrams per wakeup */

struct dns_sock {
    struct vr_dns_server *srv;
    int fd;
    bool tcp;
    struct event *ev;
};

struct vr_dns_socks {
    struct dns_sock *s;
    size_t n;
};

/* A query waiting for an upstream: where its answer goes. */
struct pending {
    struct vr_dns_server *srv;
    struct pending *prev, *next;
    struct vr_dns_job *job;
    struct vr_generation *gen; /* held while waiting: a reload must not end it */
    int fd;                    /* UDP: the socket it came in on; -1 for a callback */
    struct sockaddr_storage client;
    vr_dns_send_fn send;       /* hijacked UDP */
    void *arg;
    struct tcp_client *tc;     /* TCP */
};

struct tcp_client {
    struct vr_dns_server *srv;
    struct tcp_client *prev, *next;
    int fd;
    struct sockaddr_storage peer;
    struct event *ev, *idle;
    uint8_t in[2 + VR_DNS_MAX_MSG];
    size_t in_len;
    uint8_t *out;
    size_t out_len, out_sent;
    struct pending *waiting;
};

struct vr_dns_server {
    struct vr_worker *w;
    struct vr_dns_socks *socks;
    struct pending *pending;
    struct tcp_client *clients;
    size_t n_clients;
    uint8_t buf[VR_DNS_MAX_MSG], out[VR_DNS_MAX_MSG];
    struct vr_dns_server_stats stats;
};

static struct vr_dns_server *server_of(struct vr_worker *w)
{
    if (w->dns == NULL && (w->dns = calloc(1, sizeof(*w->dns))) != NULL)
        w->dns->w = w;
    return w->dns;
}

static struct vr_dns_resolver *resolver_of(struct vr_dns_server *srv)
{
    struct vr_generation *g = srv->w->gen;
    return g ? vr_generation_set(g, srv->w->index)->dns : NULL;
}

/* ---- pending answers */

static void pending_unlink(struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->srv->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    vr_generation_unref(p->gen);
    free(p);
}

static void tcp_answer(struct tcp_client *c, const uint8_t *msg, size_t len);
static void tcp_close(struct tcp_client *c);

static void on_answer(void *arg, const uint8_t *msg, size_t len)
{
    struct pending *p = arg;
    p->job = NULL;
    if (p->tc) {
        struct tcp_client *c = p->tc;
        c->waiting = NULL;
        pending_unlink(p);
        if (msg)
            tcp_answer(c, msg, len);
        else
            tcp_close(c);
        return;
    }
    if (msg && p->send)
        p->send(p->arg, msg, len);
    else if (msg && p->fd >= 0)
        (void)sendto(p->fd, msg, len, MSG_DONTWAIT, (struct sockaddr *)&p->client,
                     vr_sockaddr_len((struct sockaddr *)&p->client));
    pending_unlink(p);
}

/* Asks the resolver; returns the answer's length in srv->out (> 0), 0 for
 * none, or -1 when p now waits (p is then linked). */
static ssize_t ask(struct vr_dns_server *srv, const uint8_t *msg, size_t len, const struct sockaddr *client,
                   enum vr_dns_via via, struct pending *p)
{
    struct vr_dns_resolver *r = resolver_of(srv);
    if (r == NULL)
        return 0;
    struct vr_dns_job *job;
    ssize_t n = vr_dns_resolver_answer(r, msg, len, client, via, srv->out, sizeof(srv->out), on_answer, p, &job);
    if (n >= 0)
        return n;
    p->job = job;
    p->srv = srv;
    p->gen = vr_generation_ref(srv->w->gen);
    p->next = srv->pending;
    if (srv->pending)
        srv->pending->prev = p;
    srv->pending = p;
    return -1;
}

/* ---- UDP */

static void udp_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct dns_sock *s = arg;
    struct vr_dns_server *srv = s->srv;
    for (int i = 0; i < UDP_BATCH; i++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, srv->buf, sizeof(srv->buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return;
        srv->stats.udp_queries++;
        struct pending *p = calloc(1, sizeof(*p));
        if (p == NULL)
            return;
        p->fd = fd;
        p->client = from;
        ssize_t a = ask(srv, srv->buf, (size_t)n, (struct sockaddr *)&from, VR_DNS_VIA_UDP, p);
        if (a == -1)
            continue;
        free(p);
        if (a > 0)
            (void)sendto(fd, srv->out, (size_t)a, MSG_DONTWAIT, (struct sockaddr *)&from, fl);
    }
}

bool vr_dns_server_udp_query(struct vr_worker *w, const uint8_t *msg, size_t len, const struct sockaddr *client,
                             vr_dns_send_fn send, void *arg, void **handle)
{
    struct vr_dns_server *srv = server_of(w);
    *handle = NULL;
    if (srv == NULL || resolver_of(srv) == NULL)
        return false;
    srv->stats.hijacked++;
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return true;
    p->fd = -1;
    p->send = send;
    p->arg = arg;
    memcpy(&p->client, client, vr_sockaddr_len(client));
    ssize_t a = ask(srv, msg, len, client, VR_DNS_VIA_UDP, p);
    if (a == -1) {
        *handle = p;
        return true;
    }
    free(p);
    if (a > 0)
        send(arg, srv->out, (size_t)a);
    return true;
}

void vr_dns_server_udp_cancel(struct vr_worker *w, void *handle)
{
    (void)w;
    struct pending *p = handle;
    if (p == NULL)
        return;
    vr_dns_job_cancel(p->job);
    pending_unlink(p);
}

/* ---- TCP clients */

static void tcp_close(struct tcp_client *c)
{
    struct vr_dns_server *srv = c->srv;
    if (c->waiting) {
        vr_dns_job_cancel(c->waiting->job);
        pending_unlink(c->waiting);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->n_clients--;
    event_free(c->ev);
    event_free(c->idle);
    close(c->fd);
    free(c->out);
    free(c);
}

static void tcp_arm_idle(struct tcp_client *c)
{
    struct timeval tv = {TCP_IDLE_S, 0};
    evtimer_add(c->idle, &tv);
}

static void tcp_event(evutil_socket_t fd, short what, void *arg);

static void tcp_watch(struct tcp_client *c, short what)
{
    event_del(c->ev);
    event_assign(c->ev, c->srv->w->base, c->fd, what | EV_PERSIST, tcp_event, c);
    event_add(c->ev, NULL);
}

/* Sends what is buffered: 1 when all is out (the client is read again), 0
 * when the socket is full (a write watch waits), -1 when c was closed. */
static int tcp_flush(struct tcp_client *c)
{
    while (c->out_sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            tcp_watch(c, EV_WRITE);
            return 0;
        }
        if (n <= 0) {
            tcp_close(c);
            return -1;
        }
        c->out_sent += (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_sent = 0;
    tcp_watch(c, EV_READ);
    tcp_arm_idle(c);
    return 1;
}

/* Buffers one answer (with its length) and sends it. As tcp_flush. */
static int tcp_put(struct tcp_client *c, const uint8_t *msg, size_t len)
{
    c->out = malloc(len + 2);
    if (c->out == NULL) {
        tcp_close(c);
        return -1;
    }
    vr_dns_put16(c->out, (uint16_t)len);
    memcpy(c->out + 2, msg, len);
    c->out_len = len + 2;
    c->out_sent = 0;
    return tcp_flush(c);
}

/* Answers the whole queries in the buffer, one at a time, in a loop (a
 * client pipelining thousands of small queries costs no stack). Stops at
 * one waiting for an upstream, or at a full socket. */
static void tcp_serve(struct tcp_client *c)
{
    struct vr_dns_server *srv = c->srv;
    while (c->waiting == NULL && c->out == NULL && c->in_len >= 2) {
        size_t qlen = vr_dns_get16(c->in);
        if (c->in_len < 2 + qlen)
            return;
        srv->stats.tcp_queries++;
        uint8_t *q = malloc(qlen ? qlen : 1);
        struct pending *p = calloc(1, sizeof(*p));
        if (q == NULL || p == NULL) {
            free(q);
            free(p);
            tcp_close(c);
            return;
        }
        memcpy(q, c->in + 2, qlen);
        memmove(c->in, c->in + 2 + qlen, c->in_len - 2 - qlen);
        c->in_len -= 2 + qlen;
        p->fd = -1;
        p->tc = c;
        ssize_t a = ask(srv, q, qlen, (struct sockaddr *)&c->peer, VR_DNS_VIA_TCP, p);
        free(q);
        if (a == -1) {
            c->waiting = p;
            event_del(c->ev); /* read no more until this one is answered */
            return;
        }
        free(p);
        if (a == 0) {
            tcp_close(c); /* nothing to say (a response sent to us): end it */
            return;
        }
        if (tcp_put(c, srv->out, (size_t)a) <= 0)
            return;
    }
}

static void tcp_answer(struct tcp_client *c, const uint8_t *msg, size_t len)
{
    if (tcp_put(c, msg, len) == 1)
        tcp_serve(c);
}

static void tcp_event(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_client *c = arg;
    if (what & EV_WRITE) {
        if (tcp_flush(c) == 1)
            tcp_serve(c);
        return;
    }
    ssize_t n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        tcp_close(c);
        return;
    }
    c->in_len += (size_t)n;
    tcp_arm_idle(c);
    tcp_serve(c);
}

static void tcp_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tcp_close(arg);
}

static struct tcp_client *add_client(struct vr_dns_server *srv, int fd, const struct sockaddr *peer)
{
    if (srv->n_clients >= TCP_MAX_CLIENTS) {
        srv->stats.tcp_refused++;
        close(fd);
        return NULL;
    }
    struct tcp_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return NULL;
    }
    c->srv = srv;
    c->fd = fd;
    memcpy(&c->peer, peer, vr_sockaddr_len(peer));
    c->ev = event_new(srv->w->base, fd, EV_READ | EV_PERSIST, tcp_event, c);
    c->idle = evtimer_new(srv->w->base, tcp_idle, c);
    if (c->ev == NULL || c->idle == NULL) {
        if (c->ev)
            event_free(c->ev);
        if (c->idle)
            event_free(c->idle);
        close(fd);
        free(c);
        return NULL;
    }
    c->next = srv->clients;
    if (srv->clients)
        srv->clients->prev = c;
    srv->clients = c;
    srv->n_clients++;
    srv->stats.tcp_clients++;
    event_add(c->ev, NULL);
    tcp_arm_idle(c);
    return c;
}

static void tcp_acceptable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct dns_sock *s = arg;
    for (int i = 0; i < 16; i++) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof(peer);
        int c = accept4(fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0)
            return;
        add_client(s->srv, c, (struct sockaddr *)&peer);
    }
}

void vr_dns_server_take_tcp(struct vr_worker *w, int fd, const struct sockaddr *client, const uint8_t *prefix,
                            size_t len)
{
    struct vr_dns_server *srv = server_of(w);
    if (srv == NULL) {
        close(fd);
        return;
    }
    srv->stats.hijacked++;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    struct tcp_client *c = add_client(srv, fd, client);
    if (c && len > 0) {
        if (len > sizeof(c->in))
            len = sizeof(c->in);
        memcpy(c->in, prefix, len);
        c->in_len = len;
        tcp_serve(c);
    }
}

/* ---- sockets */

static void socks_free(struct vr_dns_socks *socks)
{
    if (socks == NULL)
        return;
    for (size_t i = 0; i < socks->n; i++) {
        if (socks->s[i].ev)
            event_free(socks->s[i].ev);
        if (socks->s[i].fd >= 0)
            close(socks->s[i].fd);
    }
    free(socks->s);
    free(socks);
}

static int open_one(const struct vr_dns_listen *l, bool tcp, const char **step)
{
    int one = 1;
    int fd = socket(l->addr.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    *step = "socket";
    if (fd < 0)
        return -errno;
    *step = "SO_REUSEPORT";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    *step = "IPV6_V6ONLY";
    if (l->addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        goto fail;
    *step = "bind";
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0)
        goto fail;
    *step = "listen";
    if (tcp && listen(fd, 256) < 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

int vr_dns_socks_open(struct vr_worker *w, const struct vr_config *cfg, struct vr_dns_socks **out,
                      struct vr_errors *errs)
{
    *out = NULL;
    const struct vr_dns_config *d = cfg->dns;
    struct vr_dns_server *srv = server_of(w);
    struct vr_dns_socks *socks = calloc(1, sizeof(*socks));
    if (srv == NULL || socks == NULL) {
        free(socks);
        vr_errors_add(errs, "dns: out of memory");
        return -ENOMEM;
    }
    size_t n = d ? d->n_listen * 2 : 0;
    socks->s = calloc(n + 1, sizeof(*socks->s));
    if (socks->s == NULL) {
        free(socks);
        vr_errors_add(errs, "dns: out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct vr_dns_listen *l = &d->listen[i / 2];
        bool tcp = i % 2 == 1;
        const char *step;
        struct dns_sock *s = &socks->s[socks->n];
        s->srv = srv;
        s->tcp = tcp;
        s->fd = open_one(l, tcp, &step);
        if (s->fd < 0) {
            vr_errors_at(errs, d->file, d->line, "dns: listen \"%s\" (%s): %s: %s (is the address on an "
                         "interface of this host, and is port 53 free?)", l->text, tcp ? "tcp" : "udp", step,
                         strerror(-s->fd));
            socks_free(socks);
            return -EINVAL;
        }
        socks->n++;
        s->ev = event_new(w->base, s->fd, EV_READ | EV_PERSIST, tcp ? tcp_acceptable : udp_readable, s);
        if (s->ev == NULL) {
            vr_errors_add(errs, "dns: out of memory");
            socks_free(socks);
            return -ENOMEM;
        }
    }
    if (w->index == 0)
        for (size_t i = 0; d && i < d->n_listen; i++)
            vr_info("dns: listening on %s (udp and tcp)", d->listen[i].text);
    *out = socks;
    return 0;
}

/* Pending UDP answers due on a socket that is going: dropped. */
static void drop_pending_on(struct vr_dns_server *srv, int fd)
{
    for (struct pending *p = srv->pending, *next; p; p = next) {
        next = p->next;
        if (p->fd == fd && fd >= 0) {
            vr_dns_job_cancel(p->job);
            pending_unlink(p);
        }
    }
}

void vr_dns_socks_commit(struct vr_worker *w, struct vr_dns_socks *socks)
{
    struct vr_dns_server *srv = server_of(w);
    if (srv == NULL) {
        socks_free(socks);
        return;
    }
    if (srv->socks)
        for (size_t i = 0; i < srv->socks->n; i++)
            drop_pending_on(srv, srv->socks->s[i].fd);
    socks_free(srv->socks);
    srv->socks = socks;
    for (size_t i = 0; socks && i < socks->n; i++)
        event_add(socks->s[i].ev, NULL);
}

void vr_dns_socks_abort(struct vr_dns_socks *socks) { socks_free(socks); }

void vr_dns_server_close(struct vr_worker *w)
{
    struct vr_dns_server *srv = w->dns;
    if (srv == NULL)
        return;
    while (srv->clients)
        tcp_close(srv->clients);
    while (srv->pending) {
        struct pending *p = srv->pending;
        vr_dns_job_cancel(p->job);
        pending_unlink(p);
    }
    socks_free(srv->socks);
    free(srv);
    w->dns = NULL;
}

void vr_dns_server_stats(const struct vr_worker *w, struct vr_dns_server_stats *out)
{
    if (w->dns)
        *out = w->dns->stats;
    else
        memset(out, 0, sizeof(*out));
}
