/* The UDP datagram path through UDP ASSOCIATE (RFC 1928 section 7): the
 * control connection lives as long as the association; datagrams to the
 * relay carry the SOCKS UDP header; fragments (FRAG != 0) are dropped. */
#include "socks5.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define S5_UDP_QUEUE 32   /* datagrams held while the association is set up */
#define S5_UDP_BURST 64   /* datagrams read per wakeup */

struct s5_dgram {
    struct sockaddr_storage dst;
    size_t len;
    uint8_t data[];
};

struct s5_udp {
    struct s5_link link; /* first: the list holds struct s5_udp */
    struct s5_state *st;
    struct s5_hs hs;
    int in_hs;
    int ctl_fd, udp_fd;
    struct vr_watch *ctl_watch, *udp_watch;
    vr_udp_recv_cb cb;
    void *arg;
    int dead;       /* ended: sends fail, nothing more is delivered */
    int busy;       /* inside cb: udp_close defers the free */
    int closing;
    uint64_t flow_id;
    struct s5_dgram *queue[S5_UDP_QUEUE];
    int queued;
    char relay_str[64]; /* the relay's address, for log lines */
    /* A flow that connects by name (FakeIP): datagrams to by_addr carry
     * by_name (ATYP 3), and replies are handed on as coming from by_addr,
     * the address the client sent to. by_name[0] == 0: off. */
    char by_name[256];
    struct sockaddr_storage by_addr;
};

static void s5_udp_teardown(struct s5_udp *u)
{
    const struct vr_host *h = u->st->host;
    if (u->in_hs) {
        s5_hs_abort(&u->hs);
        u->in_hs = 0;
    }
    h->watch_del(u->ctl_watch);
    h->watch_del(u->udp_watch);
    u->ctl_watch = u->udp_watch = NULL;
    if (u->ctl_fd >= 0)
        close(u->ctl_fd);
    if (u->udp_fd >= 0)
        close(u->udp_fd);
    u->ctl_fd = u->udp_fd = -1;
    /* Datagrams queued during a handshake that never finished were accepted
     * (udp_send returned 0) but never reach the relay: count them dropped. */
    if (u->queued > 0)
        h->counter_add(u->st->c_udp_dropped, (int64_t)u->queued);
    for (int i = 0; i < u->queued; i++)
        free(u->queue[i]);
    u->queued = 0;
}

/* "198.19.2.2:1080" or "[2001:db8::1]:1080". */
static void s5_addr_str(const struct sockaddr *sa, char *out, size_t cap)
{
    char a[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
        snprintf(out, cap, "%s:%u", a, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
        snprintf(out, cap, "[%s]:%u", a, ntohs(in6->sin6_port));
    }
}

static void s5_udp_free(struct s5_udp *u)
{
    s5_udp_teardown(u);
    s5_link_del(&u->link);
    free(u);
}

/* Ends the association and tells the receiver (data == NULL, err < 0). */
static void s5_udp_end(struct s5_udp *u, int err, const char *reason)
{
    if (u->dead)
        return;
    u->dead = 1;
    u->st->host->log(u->st->inst, VR_LOG_INFO, "flow %" PRIu64 ": UDP association ended: %s",
                     u->flow_id, reason);
    s5_udp_teardown(u);
    u->busy++;
    u->cb(u->arg, NULL, 0, NULL, 0, err);
    u->busy--;
    if (u->closing)
        s5_udp_free(u);
}

/* ICMP port unreachable from the relay (reported as ECONNREFUSED on the
 * connected socket): nothing listens where the server said its relay is,
 * so every datagram of the association would vanish. End it now; the
 * client's next datagram starts a new association. */
static void s5_udp_relay_refused(struct s5_udp *u)
{
    char why[160];
    snprintf(why, sizeof(why), "the UDP relay %s refused datagrams (ICMP port unreachable)",
             u->relay_str);
    s5_udp_end(u, -ECONNREFUSED, why);
}

static int s5_same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return 0;
    if (a->sa_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr, &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static int s5_udp_sendto_relay(struct s5_udp *u, const struct sockaddr *dst, const uint8_t *data,
                               size_t len)
{
    uint8_t hdr[S5_REQUEST_MAX];
    int hl = u->by_name[0] && s5_same_ip(dst, (const struct sockaddr *)&u->by_addr)
                 ? s5_udp_header_build_name(hdr, dst, u->by_name)
                 : s5_udp_header_build(hdr, dst);
    if (hl < 0)
        return hl;
    struct iovec iov[2] = {{hdr, (size_t)hl}, {(void *)data, len}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    if (sendmsg(u->udp_fd, &m, MSG_NOSIGNAL) < 0) {
        int err = errno;
        u->st->host->counter_add(u->st->c_udp_dropped, 1);
        if (err == ECONNREFUSED) {
            /* the error the relay's ICMP left on the socket: it is not there */
            s5_udp_relay_refused(u);
            return -err;
        }
        return err == EAGAIN ? 0 : -err; /* a full socket buffer drops, like the wire */
    }
    return 0;
}

/* Why a reply may not claim from as its source, or NULL when it may. The
 * core binds a transparent reply socket to that source to answer the
 * client, so a server naming loopback, one of the gateway's own addresses,
 * a multicast, broadcast or unspecified address (or, with
 * udp_reject_private, a private one) would make vrouterd send from it and
 * take the datagrams of a local service bound there. */
static const char *s5_udp_source_refusal(struct s5_state *st, const struct sockaddr *from)
{
    int cls = s5_src_classify(from);
    if (cls == S5_SRC_PRIVATE && st->udp_reject_private)
        return "private";
    if (cls != S5_SRC_GLOBAL && cls != S5_SRC_PRIVATE)
        return s5_src_class_str(cls);
    if (s5_local_is_own(&st->local, from, st->host->now_ms()))
        return "this gateway's own";
    return NULL;
}

/* Counts a refused source; logs it at debug, at most once a second per
 * instance (a hostile server could send thousands a second). */
static void s5_udp_source_refused(struct s5_udp *u, const struct sockaddr *from, const char *what)
{
    struct s5_state *st = u->st;
    st->host->counter_add(st->c_udp_src_refused, 1);
    uint64_t left_out;
    if (!s5_log_limit_pass(&st->src_log, st->host->now_ms(), &left_out))
        return;
    char a[80], more[64] = "";
    s5_addr_str(from, a, sizeof(a));
    if (left_out > 0)
        snprintf(more, sizeof(more), " (%" PRIu64 " more since the last such line)", left_out);
    st->host->log(st->inst, VR_LOG_DEBUG,
                  "flow %" PRIu64 ": relay %s: dropped a datagram claiming to come from %s, "
                  "a %s address%s",
                  u->flow_id, u->relay_str, a, what, more);
}

static void s5_udp_on_relay(int fd, unsigned events, void *arg)
{
    struct s5_udp *u = arg;
    struct s5_state *st = u->st;
    (void)events;
    u->busy++;
    for (int i = 0; i < S5_UDP_BURST && !u->dead && !u->closing; i++) {
        ssize_t n = recv(fd, st->udp_buf, sizeof(st->udp_buf), 0);
        if (n < 0) {
            if (errno == ECONNREFUSED)
                s5_udp_relay_refused(u);
            break; /* EAGAIN, or another ICMP error (transient: the datagram is lost) */
        }
        size_t hl = 0;
        struct sockaddr_storage from;
        const char *why = NULL;
        int r = s5_udp_header_parse(st->udp_buf, (size_t)n, &hl, &from, &why);
        if (r == S5_UDP_FRAGMENT) {
            st->host->counter_add(st->c_udp_frag, 1);
            continue;
        }
        if (r != S5_UDP_OK) {
            st->host->counter_add(st->c_udp_bad, 1);
            st->host->log(st->inst, VR_LOG_DEBUG, "flow %" PRIu64 ": dropped datagram: %s",
                          u->flow_id, r == S5_UDP_DOMAIN ? "domain source address" : why);
            continue;
        }
        if (u->by_name[0]) {
            /* the name's server answered: to the client it is the fake address */
            uint16_t port = from.ss_family == AF_INET ? ((struct sockaddr_in *)&from)->sin_port
                                                      : ((struct sockaddr_in6 *)&from)->sin6_port;
            memcpy(&from, &u->by_addr, sizeof(from));
            if (from.ss_family == AF_INET)
                ((struct sockaddr_in *)&from)->sin_port = port;
            else
                ((struct sockaddr_in6 *)&from)->sin6_port = port;
        }
        const char *refusal = u->by_name[0] ? NULL : s5_udp_source_refusal(st, (struct sockaddr *)&from);
        if (refusal != NULL) {
            s5_udp_source_refused(u, (struct sockaddr *)&from, refusal);
            continue;
        }
        socklen_t fl = from.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                 : sizeof(struct sockaddr_in6);
        u->cb(u->arg, (struct sockaddr *)&from, fl, st->udp_buf + hl, (size_t)n - hl, 0);
    }
    u->busy--;
    if (u->closing)
        s5_udp_free(u);
}

/* The control connection carries nothing after the reply: data is a
 * protocol violation, EOF or an error ends the association. */
static void s5_udp_on_control(int fd, unsigned events, void *arg)
{
    struct s5_udp *u = arg;
    uint8_t b[64];
    (void)events;
    ssize_t n = recv(fd, b, sizeof(b), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0)
        s5_udp_end(u, -EPROTO, "server sent data on the control connection");
    else if (n == 0)
        s5_udp_end(u, -ECONNRESET, "server closed the control connection");
    else
        s5_udp_end(u, -errno, "control connection failed");
}

static void s5_udp_hs_done(struct s5_hs *hs, int err, const char *reason)
{
    struct s5_udp *u = (struct s5_udp *)((char *)hs - offsetof(struct s5_udp, hs));
    struct s5_state *st = u->st;
    const struct vr_host *h = st->host;
    u->in_hs = 0;
    if (err != 0) {
        h->log(st->inst, VR_LOG_WARN, "flow %" PRIu64 ": UDP ASSOCIATE: %s", u->flow_id, reason);
        s5_udp_end(u, err, reason);
        return;
    }
    u->ctl_fd = hs->fd;
    hs->fd = -1;

    /* The relay: BND.ADDR:BND.PORT, or the server's address when the
     * server answers with an unspecified address. */
    struct sockaddr_storage relay = hs->bound;
    if (relay.ss_family == AF_INET &&
        ((struct sockaddr_in *)&relay)->sin_addr.s_addr == htonl(INADDR_ANY) &&
        st->server.ss_family == AF_INET) {
        ((struct sockaddr_in *)&relay)->sin_addr = ((struct sockaddr_in *)&st->server)->sin_addr;
    } else if (relay.ss_family == AF_INET6 &&
               IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&relay)->sin6_addr) &&
               st->server.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&relay)->sin6_addr =
            ((struct sockaddr_in6 *)&st->server)->sin6_addr;
    } else if (relay.ss_family != AF_INET && relay.ss_family != AF_INET6) {
        s5_udp_end(u, -EPROTO, "UDP ASSOCIATE: server named its relay by domain");
        return;
    }
    socklen_t rl = relay.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                              : sizeof(struct sockaddr_in6);
    s5_addr_str((struct sockaddr *)&relay, u->relay_str, sizeof(u->relay_str));
    u->udp_fd = h->socket_open(st->inst, relay.ss_family, SOCK_DGRAM, st->mark);
    if (u->udp_fd < 0 || connect(u->udp_fd, (struct sockaddr *)&relay, rl) < 0) {
        int e = u->udp_fd < 0 ? u->udp_fd : -errno;
        char why[160];
        snprintf(why, sizeof(why), "cannot reach the UDP relay %s: %s", u->relay_str,
                 strerror(-e));
        s5_udp_end(u, e, why);
        return;
    }
    u->ctl_watch = h->watch_add(st->inst, u->ctl_fd, VR_EV_READ, s5_udp_on_control, u);
    u->udp_watch = h->watch_add(st->inst, u->udp_fd, VR_EV_READ, s5_udp_on_relay, u);
    if (u->ctl_watch == NULL || u->udp_watch == NULL) {
        s5_udp_end(u, -ENOMEM, "out of memory");
        return;
    }
    h->log(st->inst, VR_LOG_DEBUG, "flow %" PRIu64 ": UDP association ready, relay %s",
           u->flow_id, u->relay_str);
    /* Flush what was queued; a send may end the association (its teardown
     * frees u->queue), so the queue is taken over first. */
    struct s5_dgram *q[S5_UDP_QUEUE];
    int nq = u->queued;
    memcpy(q, u->queue, sizeof(q[0]) * (size_t)nq);
    u->queued = 0;
    for (int i = 0; i < nq; i++) {
        if (!u->dead)
            s5_udp_sendto_relay(u, (struct sockaddr *)&q[i]->dst, q[i]->data, q[i]->len);
        free(q[i]);
    }
}

/* A client over udp_associate_rate: its new session gets no association
 * (the core drops that session's datagrams until it idles out). */
static void s5_udp_rate_limited(struct s5_state *st, const struct vr_flow *flow)
{
    st->host->counter_add(st->c_udp_rate_limited, 1);
    uint64_t left_out;
    if (!s5_log_limit_pass(&st->rate_log, st->host->now_ms(), &left_out))
        return;
    char a[80], more[64] = "";
    s5_addr_str((const struct sockaddr *)&flow->src, a, sizeof(a));
    if (left_out > 0)
        snprintf(more, sizeof(more), " (%" PRIu64 " more since the last such line)", left_out);
    st->host->log(st->inst, VR_LOG_INFO,
                  "flow %" PRIu64 ": client %s opens UDP associations faster than "
                  "udp_associate_rate (%u/s): refused%s",
                  flow->id, a, st->udp_rate.per_s, more);
}

int s5_udp_open(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg,
                void **assoc)
{
    struct s5_state *st = state;
    if (!s5_rate_take(&st->udp_rate, (const struct sockaddr *)&flow->src, st->host->now_ms())) {
        s5_udp_rate_limited(st, flow);
        return -EAGAIN;
    }
    struct s5_udp *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return -ENOMEM;
    u->st = st;
    u->cb = cb;
    u->arg = arg;
    u->ctl_fd = u->udp_fd = -1;
    u->flow_id = flow->id;
    if (VR_HAS(flow, flags) && (flow->flags & VR_FLOW_CONNECT_BY_NAME) && flow->domain &&
        strlen(flow->domain) < sizeof(u->by_name)) {
        memcpy(u->by_name, flow->domain, strlen(flow->domain) + 1);
        memcpy(&u->by_addr, &flow->dst, sizeof(u->by_addr));
    }
    /* DST.ADDR/PORT of the request: we do not know our UDP source yet, so
     * all zeros ("any") of the server's family, as RFC 1928 allows. */
    struct sockaddr_storage any;
    memset(&any, 0, sizeof(any));
    any.ss_family = st->server.ss_family;
    int len = s5_request_build(u->hs.req, S5_CMD_UDP_ASSOCIATE, (struct sockaddr *)&any, NULL);
    if (len < 0) {
        free(u);
        return len;
    }
    u->hs.req_len = (size_t)len;
    int r = s5_hs_start(&u->hs, st, flow->id, s5_udp_hs_done);
    if (r < 0) {
        free(u);
        return r;
    }
    u->in_hs = 1;
    st->host->counter_add(st->c_udp_assocs, 1);
    s5_link_add(&st->assocs, &u->link);
    *assoc = u;
    return 0;
}

int s5_udp_send(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen,
                const uint8_t *data, size_t len)
{
    struct s5_state *st = state;
    struct s5_udp *u = assoc;
    if (u->dead || u->closing)
        return -ENOTCONN;
    if (len > 65535 - S5_REQUEST_MAX || dstlen > sizeof(struct sockaddr_storage) ||
        (dst->sa_family != AF_INET && dst->sa_family != AF_INET6))
        return -EINVAL;
    if (!u->in_hs)
        return s5_udp_sendto_relay(u, dst, data, len);
    if (u->queued == S5_UDP_QUEUE) {
        st->host->counter_add(st->c_udp_dropped, 1);
        return 0;
    }
    struct s5_dgram *d = malloc(sizeof(*d) + len);
    if (d == NULL)
        return -ENOMEM;
    memset(&d->dst, 0, sizeof(d->dst));
    memcpy(&d->dst, dst, dstlen);
    d->len = len;
    memcpy(d->data, data, len);
    u->queue[u->queued++] = d;
    return 0;
}

void s5_udp_close(void *state, void *assoc)
{
    struct s5_udp *u = assoc;
    (void)state;
    if (u->busy) {
        u->closing = 1;
        return;
    }
    s5_udp_free(u);
}

void s5_udp_free_all(struct s5_state *st)
{
    while (st->assocs.next != &st->assocs)
        s5_udp_free((struct s5_udp *)st->assocs.next);
}
