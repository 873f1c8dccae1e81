#include "vr_conn.h"
#include "vr_conn_action.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vr_addr.h"
#include "vr_cgroup_capture.h"
#include "vr_clients.h"
#include "vr_connect_reason.h"
#include "vr_fdloop.h"
#include "vr_flow_name.h"
#include "vr_generation.h"
#include "vr_listener.h"
#include "vr_log.h"
#include "vr_relay_sockmap.h"
#include "vr_sniff.h"
#include "vr_sockmap.h"
#include "vr_watch.h"
#include "vr_worker.h"

/* A client that sends its first bytes a few at a time (one byte per
 * segment, say) would cost one wakeup and one recv per segment while the
 * sniffers wait for more: thousands for one head, and a few such clients
 * starve the loop. After PACE_AFTER small undecided reads in a row the
 * client is not watched for a while, so its bytes pile up in the kernel and
 * one recv takes them all; the pause doubles up to PACE_MAX_MS. A head sent
 * whole or in full segments is never paused, and the sniff timeout still
 * bounds the whole wait. */
#define PACE_SMALL_READ 256
#define PACE_AFTER 4
#define PACE_FIRST_MS 5
#define PACE_MAX_MS 80

struct vr_sniff_state {
    uint8_t *buf;
    size_t len, cap;
    int fd;              /* the client's, registered on the worker's fdloop with the relay's events */
    bool registered;     /* until the relay takes the registration over */
    /* Edge-triggered: an epoll report since the client was last read to
     * empty (readable), and whether it told of a FIN (rdhup). */
    bool readable, rdhup;
    bool paced;          /* the pace timer is armed: the client is not read until it fires */
    bool decided;        /* the sniffers are done: the client is left to the relay */
    struct event *timer;
    struct event *pace;  /* see pace_reads */
    uint8_t small_reads; /* undecided reads of a few bytes in a row */
    uint8_t pace_ms;
    const struct vr_listener_cfg *lcfg;
    struct vr_sniff_set set;       /* the listener's TCP sniffers, in c->gen */
    struct vr_sniff_stream stream; /* decides when they run: linear CPU per connection */
    bool timed_out;
};

static void route_and_connect(struct vr_conn *c);

static const char *stage_name(int stage)
{
    switch (stage) {
    case VR_CONN_SNIFFING: return "sniffing";
    case VR_CONN_CONNECTING: return "connecting";
    case VR_CONN_RELAYING: return "relaying";
    default: return "closing";
    }
}

static void log_close(const struct vr_conn *c)
{
    if (vr_log_level < VR_LOG_INFO)
        return;
    char src[VR_ADDRSTRLEN], dst[VR_ADDRSTRLEN];
    uint64_t ms = vr_now_ms() - c->started_ms;
    vr_log_write(VR_LOG_INFO,
                 "conn %" PRIu64 " %s %s -> %s%s%s%s%s rule=%s outbound=%s up=%" PRIu64 " down=%" PRIu64
                 " time=%" PRIu64 ".%03" PRIu64 "s end=%s",
                 c->flow.id, c->flow.inbound, vr_sockaddr_str((const struct sockaddr *)&c->flow.src, src, sizeof(src)),
                 vr_sockaddr_str((const struct sockaddr *)&c->flow.dst, dst, sizeof(dst)), c->domain ? " " : "",
                 c->domain ? c->domain : "", c->protocol[0] ? " " : "", c->protocol,
                 c->flow.rule ? c->flow.rule : "-", c->outbound ? c->outbound->tag : "-", c->relay.up.bytes,
                 c->relay.down.bytes, ms / 1000, ms % 1000, c->end ? c->end : stage_name(c->stage));
}

/* Counts c under (its listener, outbound) from now on. */
static void stats_move(struct vr_conn *c, const char *outbound)
{
    struct vr_flow_stats *fs = &c->worker->flows;
    if (c->stats_slot >= 0)
        fs->slots[c->stats_slot].active--;
    c->stats_slot = vr_flow_stats_slot(fs, c->flow.inbound, outbound);
    if (c->stats_slot >= 0)
        fs->slots[c->stats_slot].active++;
}

static void stats_close(const struct vr_conn *c)
{
    if (c->stats_slot < 0)
        return;
    struct vr_flow_slot *s = &c->worker->flows.slots[c->stats_slot];
    s->active--;
    s->ends[vr_end_of(c->end)]++;
    s->bytes_up += c->relay.up.bytes;
    s->bytes_down += c->relay.down.bytes;
}

static void sniff_free(struct vr_conn *c, bool keep_buf)
{
    struct vr_sniff_state *s = c->sniff;
    if (s == NULL)
        return;
    if (s->registered) {
        /* Closed next (no system call), or handed to the DNS server, which
         * keeps the socket open: then out of the set (EPOLL_CTL_DEL). */
        if (c->client_fd >= 0)
            vr_fdloop_forget(c->worker->fdloop, s->fd, c);
        else
            vr_fdloop_del(c->worker->fdloop, s->fd, c);
        s->registered = false;
    }
    if (s->timer)
        event_free(s->timer);
    if (s->pace)
        event_free(s->pace);
    if (!keep_buf)
        free(s->buf);
    free(s);
    c->sniff = NULL;
}

void vr_conn_close(struct vr_conn *c, const char *why)
{
    if (c->stage == VR_CONN_CLOSING)
        return;
    if (why && c->end == NULL)
        c->end = why;
    if (c->pending && c->outbound) {
        vr_instance_outbound(c->outbound)->tcp_cancel(c->outbound->state, c->pending);
        c->pending = NULL;
    }
    if (c->relay.kernel)
        vr_relay_sockmap_sync(&c->relay); /* the bytes the kernel moved, for the log line */
    log_close(c);
    stats_close(c);
    c->stage = VR_CONN_CLOSING;
    sniff_free(c, false);
    if (c->held)
        event_free(c->held);
    vr_relay_stop(&c->relay);
    if (c->client_fd >= 0)
        close(c->client_fd);
    if (c->server_fd >= 0)
        close(c->server_fd);
    struct vr_worker *w = c->worker;
    vr_wheel_cancel(&w->deadlines, &c->deadline);
    bool was_at_limit = vr_worker_unlink(w, c);
    vr_worker_client_leave(w, c->client);
    vr_generation_unref(c->gen);
    if (c->fakeip_pinned)
        vr_flow_name_release((const struct sockaddr *)&c->flow.dst, c->domain);
    free(c->domain);
    free(c);
    vr_worker_conn_closed(w, was_at_limit);
}

void vr_conn_deadline(struct vr_conn *c, uint64_t now_ms)
{
    uint64_t idle_ms = (uint64_t)c->worker->idle_timeout_s * 1000u;
    /* The kernel relay moves bytes without waking us: ask its counters. */
    if (c->relay.kernel && vr_relay_sockmap_moved(&c->relay))
        c->last_active_ms = now_ms;
    uint64_t idle_due = c->last_active_ms + idle_ms;
    if (now_ms >= idle_due) {
        vr_conn_close(c, "idle timeout");
        return;
    }
    uint64_t stall_due = vr_relay_unstick(&c->relay, vr_now_ms_coarse(), VR_RELAY_STALL_MS);
    /* ... often enough that an idle kernel-relayed connection ends within
     * a quarter of the timeout past it. */
    if (c->relay.kernel)
        stall_due = now_ms + (idle_ms / 4 ? idle_ms / 4 : 1);
    vr_wheel_schedule(&c->worker->deadlines, &c->deadline,
                      stall_due != 0 && stall_due < idle_due ? stall_due : idle_due);
}

/* A relay direction started to stall with a pipe full: look again when it
 * may be given back, if that comes before the idle deadline. */
static void relay_stalled(void *arg, uint64_t due_ms)
{
    struct vr_conn *c = arg;
    vr_wheel_advance(&c->worker->deadlines, &c->deadline, due_ms);
}

static void relay_done(void *arg, int err)
{
    struct vr_conn *c = arg;
    if (err == 0)
        vr_conn_close(c, "closed");
    else
        vr_conn_close(c, err == -ECONNRESET ? "reset" : err == -EPIPE ? "broken pipe" : strerror(-err));
}

static void on_connected(void *arg, int fd, int err, const char *reason)
{
    struct vr_conn *c = arg;
    c->pending = NULL;
    if (fd < 0) {
        char buf[160]; /* close logs it before returning: the stack is enough */
        snprintf(buf, sizeof(buf), "connect failed: %s", reason ? reason : strerror(-err));
        if (err == -ECONNREFUSED) {
            /* Mirror the server's RST so the client fails as fast as it would without us. */
            struct linger lg = {1, 0};
            setsockopt(c->client_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        vr_conn_close(c, buf);
        return;
    }
    c->server_fd = fd;
    if (c->stats_slot >= 0)
        vr_histogram_observe(&c->worker->flows.slots[c->stats_slot].connect, vr_now_ms() - c->connect_ms);
    /* No Nagle toward the server either (the client side inherits it from
     * the listener); fails harmlessly if an outbound hands over a non-TCP fd. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->stage = VR_CONN_RELAYING;
    c->last_active_ms = vr_now_ms();
    uint8_t *early = c->sniff ? c->sniff->buf : NULL;
    size_t early_len = c->sniff ? c->sniff->len : 0;
    struct vr_relay_owner owner = {relay_done, relay_stalled, c, &c->last_active_ms, false, false, false};
    struct vr_sockmap *sm = c->worker->sockmap;
    if (c->sniff && c->sniff->registered) {
        if (sm) {
            /* The kernel relay watches the client through libevent: out of
             * the set (a fall-back to splice adds it again). */
            vr_fdloop_del(c->worker->fdloop, c->sniff->fd, c);
        } else {
            /* The sniff registered the client with the relay's events: the
             * relay takes that registration over, no epoll change. */
            owner.client_registered = true;
            owner.client_readable = c->sniff->readable;
            owner.client_rdhup = c->sniff->rdhup;
        }
        c->sniff->registered = false;
    }
    sniff_free(c, true);
    /* Scheduled first: the relay may finish (and close c) inside start. */
    vr_wheel_schedule(&c->worker->deadlines, &c->deadline,
                      c->last_active_ms + (uint64_t)c->worker->idle_timeout_s * 1000u);
    int r;
    if (sm) {
        bool fell_back;
        r = vr_relay_sockmap_start(&c->relay, c->worker->base, c->worker->fdloop, &c->worker->pipes, sm,
                                   vr_sockmap_slot(sm, false, c->flow.inbound),
                                   vr_sockmap_slot(sm, true, c->outbound->tag), c->client_fd, c->server_fd, early,
                                   early_len, &owner, &fell_back);
    } else {
        r = vr_relay_start(&c->relay, c->worker->fdloop, &c->worker->pipes, c->client_fd, c->server_fd, early,
                           early_len, &owner);
    }
    if (r < 0)
        vr_conn_close(c, strerror(-r));
}

static void route_and_connect(struct vr_conn *c)
{
    const struct vr_config *cfg = c->gen->cfg;
    struct vr_match_input in = {
        .network = VR_NET_TCP,
        .src = (const struct sockaddr *)&c->flow.src,
        .dst = (const struct sockaddr *)&c->flow.dst,
        .inbound = c->flow.inbound,
        .domain = c->domain,
        .protocol = c->protocol[0] ? c->protocol : NULL,
        .dst_fake = c->fakeip_pinned,
    };
    const struct vr_rule *rule;
    int idx = vr_rules_route(&cfg->rules, &in, &rule);
    c->flow.rule = rule ? rule->name : "final";
    if (vr_flow_name_override(cfg, c->flow.inbound, rule, c->domain))
        c->flow.flags |= VR_FLOW_CONNECT_BY_NAME; /* sniff_override: a fresh resolution, not dst */
    vr_gen_set_count_rule(vr_generation_set(c->gen, c->worker->index), rule);
    if (idx < 0 && rule->action == VR_ACTION_DNS) { /* hijack: the bytes sniffed so far go along */
        vr_conn_to_dns(c, rule, c->sniff ? c->sniff->buf : NULL, c->sniff ? c->sniff->len : 0);
        return;
    }
    if (idx < 0) { /* action = "reject" / "drop" */
        vr_conn_rule_action(c, rule);
        return;
    }
    c->outbound = vr_generation_set(c->gen, c->worker->index)->outbounds[idx];
    stats_move(c, c->outbound->tag);
    c->connect_ms = vr_now_ms();
    c->stage = VR_CONN_CONNECTING;
    vr_connect_reason_arm(&c->flow); /* ABI 1.1: a reason for a failure at once */
    int r = vr_instance_outbound(c->outbound)->tcp_connect(c->outbound->state, &c->flow, on_connected, c,
                                                           &c->pending);
    const char *reason = vr_connect_reason_take(&c->flow); /* and disarm */
    if (r < 0) {
        c->pending = NULL;
        char buf[192]; /* logged by close before it returns */
        snprintf(buf, sizeof(buf), "connect failed: %s", reason ? reason : strerror(-r));
        vr_conn_close(c, buf);
    }
}

/* ---- sniffing: read the first bytes, ask the sniffers, wait a bounded time */

static void sniff_finish(struct vr_conn *c, const struct vr_sniff_out *out)
{
    if (out && out->protocol[0]) {
        snprintf(c->protocol, sizeof(c->protocol), "%s", out->protocol);
        /* Without its name the flow could slip past a domain rule: close. */
        if (out->domain[0] && (c->domain = strdup(out->domain)) == NULL) {
            vr_conn_close(c, "out of memory");
            return;
        }
    } else {
        snprintf(c->protocol, sizeof(c->protocol), "unknown");
    }
    vr_flow_stats_sniffed(&c->worker->flows, out && out->protocol[0] ? c->protocol : NULL,
                          vr_now_ms() - c->started_ms, c->sniff->timed_out);
    c->flow.domain = c->domain;
    c->flow.protocol = strcmp(c->protocol, "unknown") == 0 ? NULL : c->protocol;
    /* The client's registration stays for the relay to take over (see
     * on_connected); what the client sends meanwhile only marks it
     * readable (sniff_event). */
    c->sniff->decided = true;
    event_free(c->sniff->timer);
    c->sniff->timer = NULL;
    if (c->sniff->pace) {
        event_free(c->sniff->pace);
        c->sniff->pace = NULL;
    }
    route_and_connect(c);
}

/* Makes room for more bytes; false when out of memory. */
static bool sniff_room(struct vr_sniff_state *s)
{
    if (s->len < s->cap)
        return true;
    size_t cap = s->cap ? s->cap * 2 : 2048;
    if (cap > VR_SNIFF_MAX_BYTES)
        cap = VR_SNIFF_MAX_BYTES;
    if (cap <= s->cap)
        return true; /* full at the bound: the driver decides */
    uint8_t *b = realloc(s->buf, cap);
    if (b == NULL)
        return false;
    s->buf = b;
    s->cap = cap;
    return true;
}

static void sniff_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_conn *c = arg;
    struct vr_sniff_state *s = c->sniff;
    s->timed_out = true;
    /* Bytes may wait in the kernel while reads are paced: take them. */
    while (sniff_room(s) && s->len < s->cap) {
        ssize_t n = recv(c->client_fd, s->buf + s->len, s->cap - s->len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            s->readable = false; /* empty: the relay waits for a report */
        if (n <= 0)
            break;
        s->len += (size_t)n;
    }
    /* The driver may have skipped runs over the last bytes: one last look. */
    struct vr_sniff_out out;
    int v = s->len > 0 ? vr_sniff_stream_settle(&s->set, &s->stream, s->buf, s->len, &out) : VR_SNIFF_DONE_UNKNOWN;
    sniff_finish(c, v == VR_SNIFF_DONE_FOUND ? &out : NULL);
}


static void sniff_read(struct vr_conn *c);

static void pace_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_conn *c = arg;
    c->sniff->paced = false;
    if (c->stage == VR_CONN_SNIFFING && !c->sniff->decided && c->sniff->readable)
        sniff_read(c);
}

/* True when reads pause for a while (the pace timer reads on). */
static bool pace_reads(struct vr_conn *c, size_t got)
{
    struct vr_sniff_state *s = c->sniff;
    if (got >= PACE_SMALL_READ) {
        s->small_reads = 0;
        s->pace_ms = 0;
        return false;
    }
    if (++s->small_reads < PACE_AFTER)
        return false;
    s->small_reads = 0;
    s->pace_ms = s->pace_ms == 0 ? PACE_FIRST_MS : s->pace_ms * 2 > PACE_MAX_MS ? PACE_MAX_MS : s->pace_ms * 2;
    if (s->pace == NULL)
        s->pace = evtimer_new(c->worker->base, pace_over, c);
    struct timeval tv;
    /* Without the timer, keep reading as before: slower, never stuck. */
    if (s->pace != NULL && evtimer_add(s->pace, vr_common_timeout(c->worker->base, s->pace_ms, &tv)) == 0)
        s->paced = true;
    return s->paced;
}

/* Reads the client until it is empty (edge-triggered), the sniffers
 * decide, or the reads are paced. A recv shorter than asked emptied the
 * socket (TCP): unless a FIN was reported, whatever comes after is a new
 * report, so the read that would only say EAGAIN is skipped. */
static void sniff_read(struct vr_conn *c)
{
    struct vr_sniff_state *s = c->sniff;
    while (s->readable) {
        if (!sniff_room(s)) {
            vr_conn_close(c, "out of memory");
            return;
        }
        size_t want = s->cap - s->len;
        ssize_t n = recv(s->fd, s->buf + s->len, want, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                s->readable = false;
                return;
            }
            if (errno == EINTR)
                continue;
            vr_conn_close(c, errno == ECONNRESET ? "reset while sniffing" : strerror(errno));
            return;
        }
        if (n == 0) {
            if (s->len == 0) {
                vr_conn_close(c, "client closed before sending");
                return;
            }
            struct vr_sniff_out out;
            int v = vr_sniff_stream_settle(&s->set, &s->stream, s->buf, s->len, &out);
            sniff_finish(c, v == VR_SNIFF_DONE_FOUND ? &out : NULL);
            return;
        }
        s->len += (size_t)n;
        if ((size_t)n < want && !s->rdhup)
            s->readable = false;
        struct vr_sniff_out out;
        int v = vr_sniff_stream_feed(&s->set, &s->stream, s->buf, s->len, &out);
        if (v != VR_SNIFF_WAIT) {
            sniff_finish(c, v == VR_SNIFF_DONE_FOUND ? &out : NULL); /* may close c */
            return;
        }
        if (pace_reads(c, (size_t)n))
            return;
    }
}

static void sniff_event(void *arg, int fd, uint32_t events)
{
    (void)fd;
    struct vr_conn *c = arg;
    struct vr_sniff_state *s = c->sniff;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        s->readable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        s->rdhup = true;
    /* Decided (connecting, or held by a rule): the relay reads the rest; no
     * pause needed, edge-triggered reports do not repeat. Paced: the timer
     * reads. */
    if (c->stage != VR_CONN_SNIFFING || s->decided || s->paced)
        return;
    sniff_read(c);
}

static int sniff_start(struct vr_conn *c, const struct vr_listener_cfg *lcfg)
{
    struct vr_sniff_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    c->sniff = s;
    s->lcfg = lcfg;
    s->fd = c->client_fd;
    vr_sniff_set_tcp(vr_generation_set(c->gen, c->worker->index), lcfg, &s->set);
    vr_sniff_stream_init(&s->stream);
    c->stage = VR_CONN_SNIFFING;
    /* The relay's events: it takes this registration over (on_connected).
     * Bytes already there are reported at once. */
    s->timer = evtimer_new(c->worker->base, sniff_timeout, c);
    struct timeval tv;
    if (s->timer == NULL ||
        evtimer_add(s->timer, vr_common_timeout(c->worker->base, lcfg->sniff_timeout_ms, &tv)) < 0)
        return -ENOMEM;
    if (vr_fdloop_add(c->worker->fdloop, s->fd, VR_RELAY_EVENTS, sniff_event, c) < 0)
        return -ENOMEM;
    s->registered = true;
    return 0;
}

/* ---- accept */

static int original_destination(int fd, int mode, struct sockaddr_storage *dst)
{
    socklen_t len = sizeof(*dst);
    memset(dst, 0, sizeof(*dst));
    if (mode == VR_MODE_TPROXY) {
        /* TPROXY keeps the packet's destination: it is our local address. */
        if (getsockname(fd, (struct sockaddr *)dst, &len) < 0)
            return -errno;
        vr_sockaddr_unmap(dst);
        return 0;
    }
    struct sockaddr_storage local;
    socklen_t llen = sizeof(local);
    if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0)
        return -errno;
    vr_sockaddr_unmap(&local);
    if (local.ss_family == AF_INET) {
        len = sizeof(struct sockaddr_in);
        if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, dst, &len) < 0)
            return -errno;
    } else {
        len = sizeof(struct sockaddr_in6);
        if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, dst, &len) < 0)
            return -errno;
    }
    return 0;
}

/* A destination inside a FakeIP range: routed by its name, no sniff. True
 * when the flow was taken (routed, or refused because the mapping is gone). */
static bool fakeip_route(struct vr_conn *c)
{
    char why[192]; /* logged by close before it returns */
    switch (vr_flow_name_fakeip((const struct sockaddr *)&c->flow.dst, true, &c->domain, why, sizeof(why))) {
    case VR_FLOW_NAME_NONE:
        return false;
    case VR_FLOW_NAME_GONE: {
        struct linger lg = {1, 0}; /* RST: never a connection toward the fake address */
        setsockopt(c->client_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        vr_flow_name_warn_gone("conn", (unsigned long long)c->flow.id, why);
        c->worker->refused++;
        vr_conn_close(c, why);
        return true;
    }
    case VR_FLOW_NAME_FAKE:
        c->fakeip_pinned = true;
        c->flow.domain = c->domain;
        c->flow.flags |= VR_FLOW_CONNECT_BY_NAME;
        route_and_connect(c);
        return true;
    }
    return false;
}

static bool skips_sniffing(const struct vr_listener_cfg *l, uint16_t port)
{
    for (int i = 0; i < l->n_sniff_skip_ports; i++)
        if (l->sniff_skip_ports[i] == port)
            return true;
    return false;
}

void vr_conn_accept(struct vr_listener *l, int fd, const struct sockaddr_storage *peer)
{
    struct vr_worker *w = l->worker;
    struct vr_generation *g = w->gen;
    struct vr_client *client;
    if (!vr_worker_client_admit(w, (const struct sockaddr *)peer, &client)) {
        struct linger lg = {1, 0}; /* RST: the client fails at once and nothing lingers in TIME_WAIT */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
        int slot = vr_flow_stats_slot(&w->flows, l->cfg->tag, VR_METRICS_NO_OUTBOUND);
        if (slot >= 0)
            w->flows.slots[slot].ends[VR_END_REFUSED]++;
        return;
    }
    struct vr_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        vr_worker_client_leave(w, client);
        close(fd);
        return;
    }
    c->client = client;
    c->worker = w;
    c->gen = vr_generation_ref(g);
    c->client_fd = fd;
    c->server_fd = -1;
    c->started_ms = c->last_active_ms = vr_now_ms();
    c->relay.pool = &w->pipes;
    c->relay.up.pipe = c->relay.down.pipe = (struct vr_pipe){-1, -1};
    c->flow.size = sizeof(c->flow);
    c->flow.network = VR_NET_TCP;
    c->flow.id = vr_worker_next_flow_id(w);
    memcpy(&c->flow.src, peer, sizeof(*peer));
    vr_sockaddr_unmap(&c->flow.src);
    const struct vr_listener_cfg *lcfg = l->cfg; /* in w->gen's config, like g */
    c->flow.inbound = lcfg->tag;
    c->stage = VR_CONN_CONNECTING;
    c->stats_slot = -1;
    stats_move(c, VR_METRICS_NO_OUTBOUND);
    vr_worker_link(w, c);
    w->accepted++;

    int r = original_destination(fd, l->mode, &c->flow.dst);
    /* A local program's connect redirected by cgroup capture arrives at the
     * listener's own address: the kernel recorded where it was going. */
    if ((r < 0 || vr_listener_is_own(w->listeners, (const struct sockaddr *)&c->flow.dst)) &&
        vr_cgroup_capture_origdst(&c->flow.src, &c->flow.dst) == 0)
        r = 0;
    if (r < 0) {
        char buf[128]; /* logged by close before it returns */
        snprintf(buf, sizeof(buf), "no original destination: %s", strerror(-r));
        vr_conn_close(c, buf);
        return;
    }
    if (vr_listener_is_own(w->listeners, (const struct sockaddr *)&c->flow.dst)) {
        char dst[VR_ADDRSTRLEN];
        vr_warn("conn %" PRIu64 ": refused: destination %s is vrouterd's own listener (a loop: check that the "
                "capture rule skips local addresses and the bypass mark)",
                c->flow.id, vr_sockaddr_str((const struct sockaddr *)&c->flow.dst, dst, sizeof(dst)));
        w->refused++;
        vr_conn_close(c, "refused: loop");
        return;
    }
    if (fakeip_route(c))
        return;
    if (lcfg && lcfg->n_sniff > 0 && !skips_sniffing(lcfg, vr_sockaddr_port((const struct sockaddr *)&c->flow.dst))) {
        if (sniff_start(c, lcfg) < 0) {
            vr_conn_close(c, "out of memory");
            return;
        }
        /* The head most likely came with (or right after) the handshake:
         * read it now rather than a turn of the loop later. */
        c->sniff->readable = true;
        sniff_read(c); /* may close c */
        return;
    }
    route_and_connect(c);
}
