#include "vr_udp_reply.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "vr_addr.h"
#include "vr_log.h"

struct vr_udp_reply_sock {
    uint8_t family;
    uint8_t addr[16];
    uint16_t port;
    int fd;
    struct event *ev;
    struct vr_udp_replies *r;
    struct sockaddr_storage bound;
    uint64_t last_ms;
    struct vr_udp_reply_sock *hnext;
    struct vr_udp_reply_sock *newer, *older;
};

static size_t bucket_of(const struct vr_udp_replies *r, uint8_t family, const uint8_t *addr, uint16_t port)
{
    uint64_t h = r->seed ^ family ^ ((uint64_t)port << 8);
    for (int i = 0; i < 16; i += 8) {
        uint64_t w;
        memcpy(&w, addr + i, 8);
        h ^= w;
        h *= 0x9e3779b97f4a7c15ULL;
        h ^= h >> 31;
    }
    return (size_t)(h & (r->n_buckets - 1));
}

int vr_udp_replies_init(struct vr_udp_replies *r, size_t max_sockets, struct event_base *base,
                        uint8_t *rxbuf, vr_udp_rx_fn input, void *input_arg)
{
    memset(r, 0, sizeof(*r));
    r->base = base;
    r->input = input;
    r->rxbuf = rxbuf;
    r->input_arg = input_arg;
    r->n_buckets = 256;
    while (r->n_buckets < max_sockets && r->n_buckets < (1u << 20))
        r->n_buckets *= 2;
    r->buckets = calloc(r->n_buckets, sizeof(*r->buckets));
    if (r->buckets == NULL)
        return -ENOMEM;
    r->max = max_sockets;
    if (getrandom(&r->seed, sizeof(r->seed), GRND_NONBLOCK) != (ssize_t)sizeof(r->seed))
        r->seed = (uint64_t)(uintptr_t)r;
    return 0;
}

static void unlink_lru(struct vr_udp_replies *r, struct vr_udp_reply_sock *s)
{
    if (s->newer)
        s->newer->older = s->older;
    else
        r->newest = s->older;
    if (s->older)
        s->older->newer = s->newer;
    else
        r->oldest = s->newer;
    s->newer = s->older = NULL;
}

static void push_newest(struct vr_udp_replies *r, struct vr_udp_reply_sock *s)
{
    s->older = r->newest;
    s->newer = NULL;
    if (r->newest)
        r->newest->newer = s;
    r->newest = s;
    if (r->oldest == NULL)
        r->oldest = s;
}

static void drop(struct vr_udp_replies *r, struct vr_udp_reply_sock *s)
{
    for (struct vr_udp_reply_sock **p = &r->buckets[bucket_of(r, s->family, s->addr, s->port)]; *p;
         p = &(*p)->hnext)
        if (*p == s) {
            *p = s->hnext;
            break;
        }
    unlink_lru(r, s);
    if (r->reading == s)
        r->reading = NULL;
    if (s->ev)
        event_free(s->ev);
    close(s->fd);
    free(s);
    r->n--;
}

void vr_udp_replies_fini(struct vr_udp_replies *r)
{
    while (r->oldest)
        drop(r, r->oldest);
    free(r->buckets);
    r->buckets = NULL;
}

static int set_int(int fd, int level, int opt, int v) { return setsockopt(fd, level, opt, &v, sizeof(v)); }

/* A socket bound to endpoint from (transparent, usually non-local), used to
 * send; share_port sets SO_REUSEADDR, across_workers SO_REUSEPORT. */
static int open_bound_opts(const struct sockaddr *from, bool share_port, bool across_workers)
{
    int family = from->sa_family;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int ok = !share_port || set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) == 0;
    ok = ok && (!across_workers || set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1) == 0);
    if (family == AF_INET)
        ok = ok && set_int(fd, SOL_IP, IP_TRANSPARENT, 1) == 0 && set_int(fd, SOL_IP, IP_FREEBIND, 1) == 0;
    else
        ok = ok && set_int(fd, SOL_IPV6, IPV6_V6ONLY, 1) == 0 && set_int(fd, SOL_IPV6, IPV6_TRANSPARENT, 1) == 0;
    /* It is also an ingress (see the header): room for a burst. */
    if (set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20) < 0)
        set_int(fd, SOL_SOCKET, SO_RCVBUF, 4 << 20);
    if (!ok || bind(fd, from, vr_sockaddr_len(from)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* The reply socket for endpoint from. It does not share its port
 * (SO_REUSEADDR) when it can do without: a socket sharing an address:port
 * that a local service bound with SO_REUSEADDR takes that service's
 * datagrams (the newest socket wins), so a remote claiming 127.0.0.1:53 or
 * the gateway's LAN address would steal them. Only when the bind conflicts
 * is the port shared, and never on one of the host's own addresses: the
 * conflict is then with a wildcard socket on the same port (a DNS forwarder
 * on 0.0.0.0:53 while a client queries a public resolver), which keeps its
 * datagrams since a more specific bind only takes those sent to from. */
static int open_bound(const struct vr_udp_replies *r, const struct sockaddr *from)
{
    bool remote = !vr_sockaddr_is_local(from, true);
    /* With several workers, each may need a socket for the same remote
     * endpoint: they join one SO_REUSEPORT group (no local service binds a
     * non-local address). A client datagram that the capture rule delivers
     * to another worker's socket is handed to its session's owner
     * (vr_udp_owners.h). */
    int fd = open_bound_opts(from, false, r->across_workers && remote);
    if (fd == -EADDRINUSE && remote)
        fd = open_bound_opts(from, true, false);
    return fd;
}

/* Hands a datagram on while the socket still exists (handing on may close
 * it: a new reply socket can push the least recently used one out). */
static bool hand_on(void *arg, const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                    const uint8_t *data, size_t len)
{
    struct vr_udp_reply_sock *s = arg;
    struct vr_udp_replies *r = s->r;
    r->input(r->input_arg, src, dst, data, len);
    return r->reading == s;
}

static void readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct vr_udp_reply_sock *s = arg;
    struct vr_udp_replies *r = s->r;
    struct sockaddr_storage bound = s->bound; /* s may go while reading */
    r->reading = s;
    vr_udp_rx(fd, r->rxbuf, &bound, hand_on, s, &r->rx);
    r->reading = NULL;
}

static void addr_of(const struct sockaddr *sa, uint8_t out[16], uint16_t *port)
{
    memset(out, 0, 16);
    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        *port = ((const struct sockaddr_in *)sa)->sin_port;
    } else {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        *port = ((const struct sockaddr_in6 *)sa)->sin6_port;
    }
}

int vr_udp_reply_send(struct vr_udp_replies *r, const struct sockaddr *from, const struct sockaddr *client,
                      const uint8_t *data, size_t len, uint64_t now_ms)
{
    if (from->sa_family != client->sa_family)
        return -EAFNOSUPPORT;
    uint8_t addr[16];
    uint16_t port;
    addr_of(from, addr, &port);
    uint8_t family = (uint8_t)from->sa_family;
    size_t b = bucket_of(r, family, addr, port);
    struct vr_udp_reply_sock *s = r->buckets[b];
    while (s && !(s->family == family && s->port == port && memcmp(s->addr, addr, 16) == 0))
        s = s->hnext;
    if (s == NULL) {
        int fd = open_bound(r, from);
        if (fd < 0) {
            r->bind_failed++;
            char a[VR_ADDRSTRLEN];
            vr_debug("udp: cannot send replies from %s: %s", vr_sockaddr_str(from, a, sizeof(a)), strerror(-fd));
            return fd;
        }
        if (r->n >= r->max && r->oldest)
            drop(r, r->oldest);
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            close(fd);
            return -ENOMEM;
        }
        s->family = family;
        memcpy(s->addr, addr, 16);
        s->port = port;
        s->fd = fd;
        s->r = r;
        memset(&s->bound, 0, sizeof(s->bound));
        memcpy(&s->bound, from, vr_sockaddr_len(from));
        s->ev = event_new(r->base, fd, EV_READ | EV_PERSIST, readable, s);
        if (s->ev == NULL || event_add(s->ev, NULL) < 0) {
            if (s->ev)
                event_free(s->ev);
            close(fd);
            free(s);
            return -ENOMEM;
        }
        s->hnext = r->buckets[b];
        r->buckets[b] = s;
        push_newest(r, s);
        r->n++;
        r->opened++;
    } else if (r->newest != s) {
        unlink_lru(r, s);
        push_newest(r, s);
    }
    s->last_ms = now_ms;
    if (sendto(s->fd, data, len, 0, client, vr_sockaddr_len(client)) < 0) {
        r->send_failed++;
        return -errno;
    }
    return 0;
}

void vr_udp_replies_sweep(struct vr_udp_replies *r, uint64_t now_ms, uint64_t idle_ms)
{
    while (r->oldest && now_ms - r->oldest->last_ms >= idle_ms)
        drop(r, r->oldest);
}
