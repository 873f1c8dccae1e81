#include "vr_ct_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vrouter/vr_flow.h>

#include "vr_addr.h"
#include "vr_log.h"
#include "vr_offload.h"
#include "vr_offload_outbound.h"

/* Connections logged when they closed, skipped at their DESTROY: a
 * direct-mapped table of conntrack ids (a collision can log one twice). */
#define LOGGED_SLOTS 16384

/* Main thread only: one listener for the process. */
static struct {
    struct nfct_handle *h;     /* events: UPDATE (TCP closing) and DESTROY */
    struct nfct_handle *query; /* GET of a closing connection's counters */
    struct event *ev;
    uint32_t logged[LOGGED_SLOTS];
    struct vr_generation *const *active;
    uint64_t lost; /* events the kernel could not queue (ENOBUFS) */
    bool got;      /* the GET answered */
} ct;

/* A sysctl of the daemon's network namespace, switched on if it is off. */
static void sysctl_on(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    char v = 0;
    if (fd < 0 || pread(fd, &v, 1, 0) != 1 || (v == '0' && pwrite(fd, "1", 1, 0) != 1))
        vr_warn("log_offloaded: cannot switch on %s (%s): fast path flows are logged without %s", path,
                fd < 0 ? strerror(errno) : "write failed", strstr(path, "acct") ? "byte counts" : "their duration");
    if (fd >= 0)
        close(fd);
}

static bool tuple(const struct nf_conntrack *c, struct sockaddr_storage *src, struct sockaddr_storage *dst)
{
    memset(src, 0, sizeof(*src));
    memset(dst, 0, sizeof(*dst));
    uint16_t sport = nfct_get_attr_u16(c, ATTR_ORIG_PORT_SRC), dport = nfct_get_attr_u16(c, ATTR_ORIG_PORT_DST);
    switch (nfct_get_attr_u8(c, ATTR_ORIG_L3PROTO)) {
    case AF_INET: {
        struct sockaddr_in *s = (struct sockaddr_in *)src, *d = (struct sockaddr_in *)dst;
        s->sin_family = d->sin_family = AF_INET;
        s->sin_addr.s_addr = nfct_get_attr_u32(c, ATTR_ORIG_IPV4_SRC);
        d->sin_addr.s_addr = nfct_get_attr_u32(c, ATTR_ORIG_IPV4_DST);
        s->sin_port = sport; /* network order, as conntrack keeps them */
        d->sin_port = dport;
        return true;
    }
    case AF_INET6: {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)src, *d = (struct sockaddr_in6 *)dst;
        s->sin6_family = d->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, nfct_get_attr(c, ATTR_ORIG_IPV6_SRC), 16);
        memcpy(&d->sin6_addr, nfct_get_attr(c, ATTR_ORIG_IPV6_DST), 16);
        s->sin6_port = sport;
        d->sin6_port = dport;
        return true;
    }
    default: return false;
    }
}

/* The listener whose flows the fast path decides (the first one an
 * nftables installer captures to). */
static const char *fastpath_listener(const struct vr_config *cfg)
{
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (vr_offload_installer(cfg, cfg->listeners[i].tag))
            return cfg->listeners[i].tag;
    return "-";
}

/* A flow the fast path forwarded: its conntrack mark says so. */
static bool ours(const struct nf_conntrack *c)
{
    return nfct_attr_is_set(c, ATTR_MARK) &&
           vr_offload_is_flow_mark(nfct_get_attr_u32(c, ATTR_MARK));
}

/* destroyed: the entry is gone (its counters are final); else the
 * connection closed and its entry lingers in TIME_WAIT / CLOSE. */
static void log_flow(const struct nf_conntrack *c, bool destroyed)
{
    const struct vr_config *cfg = (*ct.active)->cfg;
    if (!ours(c))
        return;
    uint8_t l4 = nfct_get_attr_u8(c, ATTR_ORIG_L4PROTO);
    if (l4 != IPPROTO_TCP && l4 != IPPROTO_UDP)
        return;
    struct sockaddr_storage src, dst;
    if (!tuple(c, &src, &dst))
        return;
    const char *listener = fastpath_listener(cfg);
    struct vr_match_input in = {.network = l4 == IPPROTO_TCP ? VR_NET_TCP : VR_NET_UDP,
                                .src = (const struct sockaddr *)&src,
                                .dst = (const struct sockaddr *)&dst,
                                .inbound = listener};
    const struct vr_rule *rule = NULL;
    for (size_t i = 0; i < cfg->rules.n && rule == NULL; i++)
        if (vr_rule_address_matches(&cfg->rules.rules[i], &in))
            rule = &cfg->rules.rules[i];
    int ob = rule ? rule->outbound : cfg->rules.final_outbound;
    const char *tag = ob >= 0 && (size_t)ob < cfg->n_outbounds ? cfg->outbounds[ob].tag : "-";
    uint64_t ms = 0;
    if (nfct_attr_is_set(c, ATTR_TIMESTAMP_START)) {
        /* conntrack's timestamps are CLOCK_REALTIME nanoseconds */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        uint64_t t0 = nfct_get_attr_u64(c, ATTR_TIMESTAMP_START);
        uint64_t t1 = destroyed && nfct_attr_is_set(c, ATTR_TIMESTAMP_STOP)
                          ? nfct_get_attr_u64(c, ATTR_TIMESTAMP_STOP)
                          : (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
        ms = t1 > t0 ? (t1 - t0) / 1000000 : 0;
    }
    uint64_t up_p = nfct_get_attr_u64(c, ATTR_ORIG_COUNTER_PACKETS), up_b = nfct_get_attr_u64(c, ATTR_ORIG_COUNTER_BYTES);
    uint64_t dn_p = nfct_get_attr_u64(c, ATTR_REPL_COUNTER_PACKETS), dn_b = nfct_get_attr_u64(c, ATTR_REPL_COUNTER_BYTES);
    char s[VR_ADDRSTRLEN], d[VR_ADDRSTRLEN];
    vr_sockaddr_str((const struct sockaddr *)&src, s, sizeof(s));
    vr_sockaddr_str((const struct sockaddr *)&dst, d, sizeof(d));
    uint32_t id = nfct_get_attr_u32(c, ATTR_ID);
    const char *rname = rule ? rule->name : "final";
    if (l4 == IPPROTO_TCP) {
        /* a connection conntrack saw close ends in TIME_WAIT or CLOSE; others timed out */
        uint8_t st = nfct_attr_is_set(c, ATTR_TCP_STATE) ? nfct_get_attr_u8(c, ATTR_TCP_STATE) : 0;
        const char *end = !destroyed || st == TCP_CONNTRACK_TIME_WAIT || st == TCP_CONNTRACK_CLOSE ? "closed" : "timeout";
        vr_log_write(VR_LOG_INFO,
                     "conn %" PRIu32 " %s %s -> %s rule=%s outbound=%s up=%" PRIu64 " down=%" PRIu64 " time=%" PRIu64
                     ".%03" PRIu64 "s end=%s path=kernel",
                     id, listener, s, d, rname, tag, up_b, dn_b, ms / 1000, ms % 1000, end);
    } else
        vr_log_write(VR_LOG_INFO,
                     "udp %" PRIu32 " %s %s -> %s rule=%s outbound=%s up=%" PRIu64 "/%" PRIu64 " down=%" PRIu64
                     "/%" PRIu64 " dropped=0 time=%" PRIu64 ".%03" PRIu64 "s end=timeout path=kernel",
                     id, listener, s, d, rname, tag, up_p, up_b, dn_p, dn_b, ms / 1000, ms % 1000);
}

static int on_query(enum nf_conntrack_msg_type type, struct nf_conntrack *c, void *arg)
{
    (void)type, (void)arg;
    ct.got = true;
    log_flow(c, false);
    return NFCT_CB_CONTINUE;
}

/* A TCP connection is logged when conntrack sees it close (TIME_WAIT or
 * CLOSE): its entry lingers for nf_conntrack_tcp_timeout_time_wait (120 s)
 * and is reaped later still. UPDATE events carry no counters, so they are
 * read with a GET. Everything else (UDP, connections that time out) is
 * logged at DESTROY, which carries the final counters. */
static int on_event(enum nf_conntrack_msg_type type, struct nf_conntrack *c, void *arg)
{
    (void)arg;
    if (vr_log_level < VR_LOG_INFO || !nfct_attr_is_set(c, ATTR_ID))
        return NFCT_CB_CONTINUE;
    uint32_t id = nfct_get_attr_u32(c, ATTR_ID);
    uint32_t *slot = &ct.logged[id % LOGGED_SLOTS];
    if (type == NFCT_T_DESTROY) {
        if (*slot == id && id != 0)
            *slot = 0; /* logged when it closed */
        else
            log_flow(c, true);
    } else if (type == NFCT_T_UPDATE && *slot != id && nfct_attr_is_set(c, ATTR_TCP_STATE) &&
               ours(c)) {
        uint8_t st = nfct_get_attr_u8(c, ATTR_TCP_STATE);
        ct.got = false;
        if ((st == TCP_CONNTRACK_TIME_WAIT || st == TCP_CONNTRACK_CLOSE) && ct.query) {
            nfct_query(ct.query, NFCT_Q_GET, c);
            if (ct.got) /* logged by on_query */
                *slot = id;
        }
    }
    return NFCT_CB_CONTINUE;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    /* non-blocking: nfct_catch returns once the socket is drained (EAGAIN) */
    if (nfct_catch(ct.h) < 0 && errno == ENOBUFS && ct.lost++ % 1000 == 0)
        vr_warn("log_offloaded: conntrack events were lost (the kernel's queue overflowed): some fast path flows "
                "have no log line");
}

/* Only events of flows the fast path marked reach vrouterd: a socket
 * filter in the kernel (the userspace check stays, for a filter that
 * cannot be attached). One masked compare covers every generation's marks. */
static void attach_filter(void)
{
    struct nfct_filter *f = nfct_filter_create();
    if (f == NULL)
        return;
    struct nfct_filter_dump_mark m = {.val = VR_OFFLOAD_MARK_BASE, .mask = VR_OFFLOAD_MARK_MASK};
    nfct_filter_add_attr(f, NFCT_FILTER_MARK, &m);
    nfct_filter_set_logic(f, NFCT_FILTER_MARK, NFCT_FILTER_LOGIC_POSITIVE);
    if (nfct_filter_attach(nfct_fd(ct.h), f) < 0)
        vr_debug("log_offloaded: no kernel filter for conntrack events (%s): every event is read", strerror(errno));
    nfct_filter_destroy(f);
}

void vr_ct_log_close(void)
{
    if (ct.ev)
        event_free(ct.ev);
    if (ct.h)
        nfct_close(ct.h);
    if (ct.query)
        nfct_close(ct.query);
    ct.ev = NULL;
    ct.h = ct.query = NULL;
    memset(ct.logged, 0, sizeof(ct.logged));
}

void vr_ct_log_sync(struct event_base *base, struct vr_generation *const *active)
{
    const struct vr_daemon_cfg *d = &(*active)->cfg->daemon;
    bool want = d->offload && d->log_offloaded;
    ct.active = active;
    if (!want) {
        if (ct.h)
            vr_info("log_offloaded: no longer logging kernel fast path flows");
        vr_ct_log_close();
        return;
    }
    if (ct.h)
        return; /* the filter takes every generation's marks: nothing to change */
    sysctl_on("/proc/sys/net/netfilter/nf_conntrack_acct");
    sysctl_on("/proc/sys/net/netfilter/nf_conntrack_timestamp");
    ct.h = nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_UPDATE | NF_NETLINK_CONNTRACK_DESTROY);
    ct.query = nfct_open(CONNTRACK, 0); /* without it, connections are logged when conntrack drops them */
    if (ct.h == NULL) {
        vr_warn("log_offloaded: cannot listen to conntrack events (%s): kernel fast path flows are not logged",
                strerror(errno));
        return;
    }
    nfnl_rcvbufsiz(nfct_nfnlh(ct.h), 4 << 20); /* bursts of short flows end together */
    attach_filter();
    int fd = nfct_fd(ct.h);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    nfct_callback_register(ct.h, NFCT_T_UPDATE | NFCT_T_DESTROY, on_event, NULL);
    if (ct.query)
        nfct_callback_register(ct.query, NFCT_T_ALL, on_query, NULL);
    ct.ev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, NULL);
    if (ct.ev == NULL || event_add(ct.ev, NULL) < 0) {
        vr_warn("log_offloaded: out of memory: kernel fast path flows are not logged");
        vr_ct_log_close();
        return;
    }
    vr_info("log_offloaded: logging kernel fast path flows at their end (conntrack events)");
}
