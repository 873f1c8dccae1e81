/* Outbound "direct": connect to the original destination from this host,
 * with optional bind_address (IPv4/IPv6), bind_interface (SO_BINDTODEVICE),
 * routing_mark (SO_MARK; default: the daemon's bypass_mark) and
 * connect_timeout_ms. UDP: one connected-less socket per association. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vrouter/vr_plugin.h>

#include "vr_by_name.h"

struct direct {
    struct vr_instance *inst;
    const struct vr_host *host;
    struct sockaddr_storage bind4, bind6; /* family 0 = not set */
    char bind_interface[IFNAMSIZ];
    uint32_t routing_mark;
    uint32_t connect_timeout_ms;
    struct vr_counter *c_ok, *c_fail, *c_timeout;
    uint8_t *rxbuf; /* UDP replies: UDP_RX_BATCH x UDP_RX_DGRAM_MAX, on first use */
};

struct direct_connect {
    struct direct *d;
    struct vr_by_name *by_name; /* set: a connect by name (vr_by_name.h), fd unused */
    int fd;
    struct vr_watch *watch;
    struct vr_timer *timer;
    vr_connect_cb cb;
    void *arg;
};

struct direct_udp {
    struct direct *d;
    struct vr_by_name_udp *by_name; /* set: datagrams to dst go to its name (vr_by_name.h), through an inner association */
    int fd4, fd6;
    struct vr_watch *w4, *w6;
    vr_udp_recv_cb cb;
    void *arg;
};

static int parse_bind_address(struct direct *d, const struct vr_cfg *cfg)
{
    const struct vr_host *h = d->host;
    int n = h->cfg_list_len(cfg, "bind_address");
    if (n == -ENOENT)
        return 0;
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        const char *text;
        if (h->cfg_list_string(cfg, "bind_address", i, &text) < 0)
            return -EINVAL;
        struct sockaddr_in sin = {.sin_family = AF_INET};
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
        if (inet_pton(AF_INET, text, &sin.sin_addr) == 1 && d->bind4.ss_family == 0)
            memcpy(&d->bind4, &sin, sizeof(sin));
        else if (inet_pton(AF_INET6, text, &sin6.sin6_addr) == 1 && d->bind6.ss_family == 0)
            memcpy(&d->bind6, &sin6, sizeof(sin6));
        else {
            h->cfg_error(cfg, "bind_address",
                         "\"%s\" is not a numeric IPv4 or IPv6 address (at most one of each family)", text);
            return -EINVAL;
        }
    }
    return 0;
}

static int direct_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    const struct vr_cfg *cfg = host->instance_cfg(inst);
    struct direct *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -ENOMEM;
    d->inst = inst;
    d->host = host;
    d->connect_timeout_ms = 5000;
    int bad = parse_bind_address(d, cfg) < 0;
    const char *ifname;
    int r = host->cfg_string(cfg, "bind_interface", &ifname);
    if (r == 0) {
        if (strlen(ifname) == 0 || strlen(ifname) >= IFNAMSIZ) {
            host->cfg_error(cfg, "bind_interface", "\"%s\" is not an interface name (1 to %d characters)", ifname,
                            IFNAMSIZ - 1);
            bad = 1;
        } else
            strcpy(d->bind_interface, ifname);
    } else if (r != -ENOENT)
        bad = 1;
    int64_t v;
    r = host->cfg_int(cfg, "routing_mark", &v);
    if (r == 0) {
        if (v < 0 || v > 0xffffffffLL) {
            host->cfg_error(cfg, "routing_mark", "%lld is not a firewall mark (expected 0 to 0xffffffff)", (long long)v);
            bad = 1;
        } else
            d->routing_mark = (uint32_t)v;
    } else if (r != -ENOENT)
        bad = 1;
    r = host->cfg_int(cfg, "connect_timeout_ms", &v);
    if (r == 0) {
        if (v < 1 || v > 600000) {
            host->cfg_error(cfg, "connect_timeout_ms", "%lld is out of range (expected 1 to 600000)", (long long)v);
            bad = 1;
        } else
            d->connect_timeout_ms = (uint32_t)v;
    } else if (r != -ENOENT)
        bad = 1;
    if (bad) {
        free(d);
        return -EINVAL;
    }
    d->c_ok = host->counter(inst, "connects");
    d->c_fail = host->counter(inst, "connect_failures");
    d->c_timeout = host->counter(inst, "connect_timeouts");
    *state = d;
    return 0;
}

static void direct_destroy(void *state)
{
    struct direct *d = state;
    free(d->rxbuf);
    free(d);
}

/* A socket toward the outside with every bind option applied. */
static int open_socket(struct direct *d, int family, int type, const char **why)
{
    int fd = d->host->socket_open(d->inst, family, type, d->routing_mark);
    if (fd < 0) {
        *why = "socket";
        return fd;
    }
    if (d->bind_interface[0] &&
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, d->bind_interface, (socklen_t)strlen(d->bind_interface)) < 0) {
        *why = "SO_BINDTODEVICE";
        goto fail;
    }
    const struct sockaddr_storage *b = family == AF_INET ? &d->bind4 : &d->bind6;
    if (b->ss_family) {
        int one = 1;
        /* The port is chosen at connect time: many flows can share the address. */
        setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        if (bind(fd, (const struct sockaddr *)b, len) < 0) {
            *why = "bind_address";
            goto fail;
        }
    }
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

static void connect_finish(struct direct_connect *c, int err, const char *reason)
{
    struct direct *d = c->d;
    struct vr_watch *watch = c->watch;
    d->host->timer_del(c->timer);
    int fd = c->fd;
    vr_connect_cb cb = c->cb;
    void *arg = c->arg;
    free(c);
    if (err) {
        d->host->watch_del(watch);
        close(fd);
        d->host->counter_add(d->c_fail, 1);
        cb(arg, -1, err, reason);
    } else {
        d->host->counter_add(d->c_ok, 1);
        /* The watch goes after the hand-over: the receiver (the relay)
         * takes the socket's registration in the host's epoll set over with
         * one change, where removing it first would cost a DEL and an ADD
         *. */
        cb(arg, fd, 0, NULL);
        d->host->watch_del(watch);
    }
}

static void connect_writable(int fd, unsigned events, void *arg)
{
    struct direct_connect *c = arg;
    int err = 0;
    /* ABI 1.2 (this module needs a 1.2 host): a write report without
     * VR_EV_ERROR is a connect that succeeded; only a failure costs the
     * SO_ERROR read, which says why. */
    if (events & VR_EV_ERROR) {
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
    }
    connect_finish(c, err ? -err : 0, err ? strerror(err) : NULL);
}

static void connect_timeout(void *arg)
{
    struct direct_connect *c = arg;
    c->timer = NULL; /* one-shot: already gone */
    c->d->host->counter_add(c->d->c_timeout, 1);
    connect_finish(c, -ETIMEDOUT, "connect timeout");
}

static int direct_tcp_connect_addr(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                                   void **pending);
static void direct_tcp_cancel(void *state, void *pending);

static void by_name_done(void *arg, int fd, int err, const char *reason)
{
    struct direct_connect *c = arg;
    vr_connect_cb cb = c->cb;
    void *cb_arg = c->arg;
    free(c);
    cb(cb_arg, fd, err, reason);
}

/* dst stands for flow->domain (FakeIP, sniff_override): resolve it through
 * the host and connect to its addresses, never to dst. */
static int direct_tcp_connect_name(struct direct *d, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                                   void **pending)
{
    struct direct_connect *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->d = d;
    c->fd = -1;
    c->cb = cb;
    c->arg = arg;
    int r = vr_by_name_start(d->host, d->inst, "direct", flow, direct_tcp_connect_addr, direct_tcp_cancel, d,
                             by_name_done, c, &c->by_name);
    if (r < 0) {
        free(c);
        d->host->counter_add(d->c_fail, 1);
        return r;
    }
    *pending = c;
    return 0;
}

static int direct_tcp_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg, void **pending)
{
    if (vr_by_name_wanted(flow))
        return direct_tcp_connect_name(state, flow, cb, arg, pending);
    return direct_tcp_connect_addr(state, flow, cb, arg, pending);
}

static int direct_tcp_connect_addr(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                                   void **pending)
{
    struct direct *d = state;
    const struct sockaddr *dst = (const struct sockaddr *)&flow->dst;
    const char *why = NULL;
    int fd = open_socket(d, dst->sa_family, SOCK_STREAM, &why);
    if (fd < 0) {
        d->host->log(d->inst, VR_LOG_WARN, "flow %llu: %s: %s", (unsigned long long)flow->id, why, strerror(-fd));
        d->host->counter_add(d->c_fail, 1);
        return fd;
    }
    socklen_t len = dst->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (connect(fd, dst, len) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        d->host->counter_add(d->c_fail, 1);
        return -e;
    }
    struct direct_connect *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return -ENOMEM;
    }
    c->d = d;
    c->fd = fd;
    c->cb = cb;
    c->arg = arg;
    c->watch = d->host->watch_add(d->inst, fd, VR_EV_WRITE, connect_writable, c);
    c->timer = d->host->timer_add(d->inst, d->connect_timeout_ms, 0, connect_timeout, c);
    if (c->watch == NULL || c->timer == NULL) {
        d->host->watch_del(c->watch);
        d->host->timer_del(c->timer);
        close(fd);
        free(c);
        return -ENOMEM;
    }
    *pending = c;
    return 0;
}

static void direct_tcp_cancel(void *state, void *pending)
{
    struct direct *d = state;
    struct direct_connect *c = pending;
    if (c->by_name) {
        vr_by_name_cancel(c->by_name);
        free(c);
        return;
    }
    d->host->watch_del(c->watch);
    d->host->timer_del(c->timer);
    close(c->fd);
    free(c);
}

/* ---- UDP: one socket per family per association, opened on first use */

/* Replies are read in batches (one recvmmsg per UDP_RX_BATCH datagrams
 * instead of one recvfrom each), at most UDP_RX_MAX per wakeup so that one
 * busy association does not starve the others. Each slot of the buffer
 * holds a whole datagram, as the single recvfrom buffer did. */
#define UDP_RX_BATCH 16
#define UDP_RX_MAX 64
#define UDP_RX_DGRAM_MAX 65536
#define UDP_RCVBUF (4 << 20)

static void udp_readable(int fd, unsigned events, void *arg)
{
    (void)events;
    struct direct_udp *u = arg;
    uint8_t *buf = u->d->rxbuf;
    struct mmsghdr msgs[UDP_RX_BATCH];
    struct iovec iov[UDP_RX_BATCH];
    struct sockaddr_storage from[UDP_RX_BATCH];
    for (int done = 0; done < UDP_RX_MAX;) {
        for (int i = 0; i < UDP_RX_BATCH; i++) {
            iov[i].iov_base = buf + (size_t)i * UDP_RX_DGRAM_MAX;
            iov[i].iov_len = UDP_RX_DGRAM_MAX;
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int want = UDP_RX_MAX - done < UDP_RX_BATCH ? UDP_RX_MAX - done : UDP_RX_BATCH;
        int n = recvmmsg(fd, msgs, (unsigned)want, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return; /* EAGAIN, or an ICMP error we do not pass on */
        for (int i = 0; i < n; i++)
            u->cb(u->arg, (const struct sockaddr *)&from[i], msgs[i].msg_hdr.msg_namelen, iov[i].iov_base,
                  msgs[i].msg_len, 0);
        if (n < want)
            return; /* drained */
        done += n;
    }
}

static int direct_udp_open_plain(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg,
                                 void **assoc)
{
    (void)flow;
    struct direct *d = state;
    if (d->rxbuf == NULL && (d->rxbuf = malloc((size_t)UDP_RX_BATCH * UDP_RX_DGRAM_MAX)) == NULL)
        return -ENOMEM;
    struct direct_udp *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return -ENOMEM;
    u->d = d;
    u->fd4 = u->fd6 = -1;
    u->cb = cb;
    u->arg = arg;
    *assoc = u;
    return 0;
}

static int udp_socket(struct direct_udp *u, int family)
{
    int *fd = family == AF_INET ? &u->fd4 : &u->fd6;
    struct vr_watch **w = family == AF_INET ? &u->w4 : &u->w6;
    if (*fd >= 0)
        return *fd;
    const char *why;
    int s = open_socket(u->d, family, SOCK_DGRAM, &why);
    if (s < 0)
        return s;
    /* The replies' ingress: room for a burst while the daemon waits for the
     * CPU, as the core's listener and reply sockets have (the default
     * rmem_default, about 200 KiB, holds some 90 datagrams of 1,400 B). */
    int rcvbuf = UDP_RCVBUF;
    if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    *w = u->d->host->watch_add(u->d->inst, s, VR_EV_READ, udp_readable, u);
    if (*w == NULL) {
        close(s);
        return -ENOMEM;
    }
    *fd = s;
    return s;
}

static void udp_socket_drop(struct direct_udp *u, int family)
{
    int *fd = family == AF_INET ? &u->fd4 : &u->fd6;
    struct vr_watch **w = family == AF_INET ? &u->w4 : &u->w6;
    u->d->host->watch_del(*w);
    *w = NULL;
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int direct_udp_send_plain(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen,
                                 const uint8_t *data, size_t len)
{
    (void)state;
    struct direct_udp *u = assoc;
    for (int attempt = 0;; attempt++) {
        int fd = udp_socket(u, dst->sa_family);
        if (fd < 0)
            return fd; /* bind_interface missing now: the next datagram tries again */
        if (sendto(fd, data, len, 0, dst, dstlen) >= 0)
            return 0;
        if (errno != ENODEV || attempt > 0)
            return -errno;
        /* The bind_interface was deleted (a PPPoE or tunnel interface that
         * came back has a new index, and the socket stays bound to the old
         * one for ever): a new socket, i.e. a new mapping, on the
         * interface as it is now. */
        udp_socket_drop(u, dst->sa_family);
    }
}

static void direct_udp_close_plain(void *state, void *assoc)
{
    (void)state;
    struct direct_udp *u = assoc;
    udp_socket_drop(u, AF_INET);
    udp_socket_drop(u, AF_INET6);
    free(u);
}

/* A flow to a name (FakeIP, sniff_override): an association whose
 * datagrams to dst go to the name's address, resolved by the host. */
static const struct vr_by_name_udp_ops direct_udp_plain = {direct_udp_open_plain, direct_udp_send_plain,
                                                           direct_udp_close_plain};

static int direct_udp_open(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg, void **assoc)
{
    struct direct *d = state;
    if (!vr_by_name_wanted(flow))
        return direct_udp_open_plain(state, flow, cb, arg, assoc);
    struct direct_udp *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return -ENOMEM;
    u->d = d;
    u->fd4 = u->fd6 = -1;
    int r = vr_by_name_udp_open(d->host, d->inst, "direct", flow, &direct_udp_plain, d, cb, arg, &u->by_name);
    if (r < 0) {
        free(u);
        return r;
    }
    *assoc = u;
    return 0;
}

static int direct_udp_send(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen,
                           const uint8_t *data, size_t len)
{
    struct direct_udp *u = assoc;
    if (u->by_name)
        return vr_by_name_udp_send(u->by_name, dst, dstlen, data, len);
    return direct_udp_send_plain(state, assoc, dst, dstlen, data, len);
}

static void direct_udp_close(void *state, void *assoc)
{
    struct direct_udp *u = assoc;
    if (u->by_name) {
        vr_by_name_udp_close(u->by_name);
        free(u);
        return;
    }
    direct_udp_close_plain(state, assoc);
}

/* ABI 1.1 kernel_plan: the fast path forwards direct's flows with its
 * routing_mark on the packet, into bind_interface, from bind_address. */
static int direct_kernel_plan(const struct vr_host *host, const struct vr_cfg *cfg, struct vr_kernel_plan *plan)
{
    int64_t mark;
    if (host->cfg_int(cfg, "routing_mark", &mark) == 0 && mark > 0 && mark <= 0xffffffffLL)
        plan->mark = (uint32_t)mark;
    const char *ifname;
    if (host->cfg_string(cfg, "bind_interface", &ifname) == 0)
        snprintf(plan->interface, sizeof(plan->interface), "%s", ifname);
    int n = host->cfg_list_len(cfg, "bind_address");
    for (int i = 0; i < n; i++) {
        const char *text;
        if (host->cfg_list_string(cfg, "bind_address", i, &text) < 0)
            continue;
        if (!plan->has_src4 && inet_pton(AF_INET, text, plan->src4) == 1)
            plan->has_src4 = 1;
        else if (!plan->has_src6 && inet_pton(AF_INET6, text, plan->src6) == 1)
            plan->has_src6 = 1;
    }
    return 0;
}

static const struct vr_outbound_ops direct_ops = {
    .size = sizeof(struct vr_outbound_ops),
    .create = direct_create,
    .destroy = direct_destroy,
    .tcp_connect = direct_tcp_connect,
    .tcp_cancel = direct_tcp_cancel,
    .udp_open = direct_udp_open,
    .udp_send = direct_udp_send,
    .udp_close = direct_udp_close,
    .kernel_plan = direct_kernel_plan,
};

VR_MODULE_DEFINE(.name = "direct", .version = "1.0.0", .kind = VR_KIND_OUTBOUND, .ops = &direct_ops);
