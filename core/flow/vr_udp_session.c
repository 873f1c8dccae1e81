#include "vr_udp_session.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_addr.h"
#include "vr_cgroup_capture.h"
#include "vr_dns_server.h"
#include "vr_udp_owners.h"
#include "vr_worker.h"
#include "vr_generation.h"
#include "vr_flow_name.h"
#include "vr_log.h"
#include "vr_sniff.h"
#include "vr_udp_listener.h"
#include "vr_watch.h"

/* Outbounds one session may use at once: in full-cone mode one client
 * endpoint may talk to remotes that the rules send different ways. */
#define VR_UDP_MAX_LEGS 4
/* Remotes whose route a session remembers; past this, each datagram to a
 * new remote is routed by its address alone. */
#define VR_UDP_MAX_ROUTES 64
/* Reply sockets unused this long are closed. */
#define VR_UDP_REPLY_IDLE_MS 30000
/* A session whose outbound path failed stays this long, dropping the
 * client's datagrams, before the next datagram may start a new session: a
 * refusing or dead upstream then costs one association attempt (and one
 * log line) per client endpoint per second, not one per datagram. */
#define VR_UDP_FAILED_HOLD_MS 1000

enum { VR_UDP_SNIFFING, VR_UDP_OPEN, VR_UDP_DEAD };

struct vr_udp_held {
    struct vr_udp_held *next;
    struct sockaddr_storage dst;
    size_t len;
    uint8_t data[];
};

struct vr_udp_session;

struct vr_udp_leg {
    struct vr_udp_session *s;
    struct vr_instance *outbound;
    void *assoc;
    struct vr_flow flow; /* what the outbound was opened for */
    bool open, dead;
    char *by_name; /* a FakeIP destination's name: the leg connects by name (vr_flow_name.h); owned */
    int stats_slot; /* the worker's flows slot (listener, outbound); -1: not counted */
};

struct vr_udp_route {
    struct sockaddr_storage dst;
    uint8_t leg; /* or ROUTE_BLOCKED */
};
#define ROUTE_BLOCKED 0xff /* a rule's action = "reject" / "drop": its datagrams are dropped, counted */
#define ROUTE_DNS 0xfe     /* a rule's action = "dns": the resolver answers its datagrams (hijack) */
/* Hijacked queries of one session waiting for the resolver at once; more
 * are dropped (the client retries). */
#define VR_UDP_DNS_WAITS 8

struct vr_udp_dns_wait {
    struct vr_udp_session *s;
    struct sockaddr_storage dst; /* the server the client asked: the answer comes from it */
    void *handle;                /* vr_dns_server_udp_query's; NULL: slot free */
};

struct vr_udp_session {
    struct vr_udp_entry e; /* first: the table hands entries back */
    struct vr_udp_listener *l;
    struct vr_generation *gen;
    const struct vr_listener_cfg *lcfg; /* in gen->cfg */
    uint64_t id;
    int stage;
    struct sockaddr_storage client;
    struct sockaddr_storage first_dst;
    char *domain;
    bool domain_fake; /* domain is the first remote's FakeIP name: for the log line, not for other legs */
    char protocol[16];
    struct vr_udp_held *held, **held_tail;
    size_t n_held, held_bytes;
    struct event *sniff_timer;
    struct event *failed_timer; /* set while the session only drops */
    struct vr_udp_leg legs[VR_UDP_MAX_LEGS];
    size_t n_legs;
    struct vr_udp_route *routes;
    size_t n_routes;
    uint64_t started_ms;
    uint64_t up_dgrams, up_bytes, down_dgrams, down_bytes, dropped;
    const char *end;
    char end_buf[160];
    struct vr_udp_session *next_dead;
    struct vr_udp_dns_wait dns_waits[VR_UDP_DNS_WAITS];
};

/* The session's worker's instances of its generation. */
static struct vr_gen_set *gen_set(const struct vr_udp_session *s) { return vr_generation_set(s->gen, s->l->worker->index); }

static struct vr_udp_session *session_of(struct vr_udp_entry *e)
{
    return (struct vr_udp_session *)(void *)e;
}

static bool is_dns(const struct vr_udp_session *s)
{
    return strcmp(s->protocol, "dns") == 0 || vr_sockaddr_port((const struct sockaddr *)&s->first_dst) == 53;
}

static uint32_t timeout_s(const struct vr_udp_session *s)
{
    return s->e.klass == VR_UDP_CLASS_SHORT ? s->lcfg->udp.dns_idle_timeout_s : s->lcfg->udp.idle_timeout_s;
}

static void log_end(const struct vr_udp_session *s)
{
    if (vr_log_level < VR_LOG_INFO)
        return;
    char src[VR_ADDRSTRLEN], dst[VR_ADDRSTRLEN];
    uint64_t ms = vr_now_ms_coarse() - s->started_ms;
    const struct vr_udp_leg *leg = s->n_legs ? &s->legs[0] : NULL;
    vr_log_write(VR_LOG_INFO,
                 "udp %" PRIu64 " %s %s -> %s%s%s%s%s rule=%s outbound=%s%s up=%" PRIu64 "/%" PRIu64 " down=%" PRIu64
                 "/%" PRIu64 " dropped=%" PRIu64 " time=%" PRIu64 ".%03" PRIu64 "s end=%s",
                 s->id, s->lcfg->tag, vr_sockaddr_str((const struct sockaddr *)&s->client, src, sizeof(src)),
                 vr_sockaddr_str((const struct sockaddr *)&s->first_dst, dst, sizeof(dst)), s->domain ? " " : "",
                 s->domain ? s->domain : "", s->protocol[0] ? " " : "", s->protocol,
                 leg && leg->flow.rule ? leg->flow.rule : "-", leg ? leg->outbound->tag : "-",
                 s->n_legs > 1 ? " (+more)" : "", s->up_dgrams, s->up_bytes, s->down_dgrams, s->down_bytes,
                 s->dropped, ms / 1000, ms % 1000, s->end ? s->end : "?");
}

static void free_held(struct vr_udp_session *s)
{
    while (s->held) {
        struct vr_udp_held *next = s->held->next;
        free(s->held);
        s->held = next;
    }
    s->held_tail = &s->held;
    s->n_held = s->held_bytes = 0;
}

/* Ends a session now; its memory and associations go at the next reap, so
 * this is safe inside an outbound's callback. */
static void session_end(struct vr_udp_session *s, const char *why)
{
    if (s->stage == VR_UDP_DEAD)
        return;
    if (s->end == NULL)
        s->end = why;
    log_end(s);
    s->stage = VR_UDP_DEAD;
    vr_udp_table_remove(&s->l->table, &s->e);
    struct vr_udp_owners *owners = s->l->worker->shared->udp_owners;
    if (owners)
        vr_udp_owners_release(owners, (const struct sockaddr *)&s->l->addr, &s->e.key, s->l->worker->index);
    if (s->sniff_timer) {
        event_free(s->sniff_timer);
        s->sniff_timer = NULL;
    }
    if (s->failed_timer) {
        event_free(s->failed_timer);
        s->failed_timer = NULL;
    }
    free_held(s);
    s->next_dead = s->l->dead;
    s->l->dead = s;
    event_active(s->l->reap, 0, 0);
}

static void failed_hold_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    session_end(arg, NULL);
}

/* The session's outbound path is gone: it records why, drops what the
 * client sends for VR_UDP_FAILED_HOLD_MS, then ends (logging the reason). */
static void session_fail(struct vr_udp_session *s, const char *fmt, const char *detail)
{
    if (s->stage == VR_UDP_DEAD || s->failed_timer != NULL)
        return;
    snprintf(s->end_buf, sizeof(s->end_buf), fmt, detail);
    s->end = s->end_buf;
    struct timeval tv;
    s->failed_timer = evtimer_new(s->l->base, failed_hold_done, s);
    if (s->failed_timer == NULL ||
        evtimer_add(s->failed_timer, vr_common_timeout(s->l->base, VR_UDP_FAILED_HOLD_MS, &tv)) < 0)
        session_end(s, NULL);
}

void vr_udp_sessions_reap(struct vr_udp_listener *l)
{
    while (l->dead) {
        struct vr_udp_session *s = l->dead;
        l->dead = s->next_dead;
        for (size_t i = 0; i < s->n_legs; i++)
            if (s->legs[i].open)
                vr_instance_outbound(s->legs[i].outbound)->udp_close(s->legs[i].outbound->state, s->legs[i].assoc);
        for (size_t i = 0; i < s->n_legs; i++)
            free(s->legs[i].by_name);
        for (size_t i = 0; i < VR_UDP_DNS_WAITS; i++)
            if (s->dns_waits[i].handle)
                vr_dns_server_udp_cancel(l->worker, s->dns_waits[i].handle);
        vr_generation_unref(s->gen);
        free(s->routes);
        free(s->domain);
        free(s);
    }
}

void vr_udp_sessions_close_all(struct vr_udp_listener *l, const char *why)
{
    struct vr_udp_entry *e;
    while ((e = vr_udp_table_lru(&l->table)) != NULL)
        session_end(session_of(e), why);
}

size_t vr_udp_sessions_of_generation(struct vr_udp_listener *l, const struct vr_generation *g, const char *why)
{
    size_t n = 0;
    for (size_t b = 0; b < l->table.n_buckets; b++) {
        struct vr_udp_entry *next;
        /* Ending a session unlinks only its own entry: next stays valid. */
        for (struct vr_udp_entry *e = l->table.buckets[b]; e; e = next) {
            next = e->hnext;
            struct vr_udp_session *s = session_of(e);
            if (s->gen != g || s->stage == VR_UDP_DEAD)
                continue;
            n++;
            if (why)
                session_end(s, why);
        }
    }
    return n;
}

void vr_udp_sessions_each(struct vr_udp_listener *l, void (*fn)(const struct vr_udp_session_info *i, void *arg),
                          void *arg)
{
    for (size_t b = 0; b < l->table.n_buckets; b++)
        for (struct vr_udp_entry *e = l->table.buckets[b]; e; e = e->hnext) {
            const struct vr_udp_session *s = session_of(e);
            if (s->stage == VR_UDP_DEAD)
                continue;
            const struct vr_udp_leg *leg = s->n_legs > 0 ? &s->legs[0] : NULL;
            struct vr_udp_session_info i = {
                .id = s->id,
                .gen = s->gen,
                .client = &s->client,
                .dst = &s->first_dst,
                .domain = s->domain,
                .protocol = s->protocol[0] ? s->protocol : NULL,
                .rule = leg ? leg->flow.rule : NULL,
                .outbound = leg && leg->outbound ? leg->outbound->tag : NULL,
                .state = s->stage == VR_UDP_SNIFFING ? "sniffing" : "open",
                .started_ms = s->started_ms,
                .last_ms = e->last_ms,
                .up_bytes = s->up_bytes,
                .down_bytes = s->down_bytes,
                .up_dgrams = s->up_dgrams,
                .down_dgrams = s->down_dgrams,
            };
            fn(&i, arg);
        }
}

bool vr_udp_session_kill(struct vr_udp_listener *l, uint64_t id, const char *why)
{
    for (size_t b = 0; b < l->table.n_buckets; b++)
        for (struct vr_udp_entry *e = l->table.buckets[b]; e; e = e->hnext) {
            struct vr_udp_session *s = session_of(e);
            if (s->id == id && s->stage != VR_UDP_DEAD) {
                session_end(s, why);
                return true;
            }
        }
    return false;
}

uint64_t vr_udp_sessions_sweep(struct vr_udp_listener *l, uint64_t now_ms)
{
    uint64_t next_ms = UINT64_MAX;
    for (uint8_t k = 0; k < 2; k++) {
        struct vr_udp_entry *e;
        while ((e = vr_udp_table_oldest(&l->table, k)) != NULL) {
            struct vr_udp_session *s = session_of(e);
            uint64_t idle_ms = now_ms - e->last_ms, timeout_ms = (uint64_t)timeout_s(s) * 1000u;
            if (idle_ms < timeout_ms) {
                if (timeout_ms - idle_ms < next_ms)
                    next_ms = timeout_ms - idle_ms;
                break;
            }
            l->stats.expired++;
            session_end(s, "idle timeout");
        }
    }
    vr_udp_replies_sweep(&l->replies, now_ms, VR_UDP_REPLY_IDLE_MS);
    return next_ms;
}

/* ---- the way back: outbound -> client */

static bool same_addr(const struct sockaddr *a, const struct sockaddr *b, bool with_port)
{
    const uint8_t *ab, *bb;
    int af = vr_sockaddr_bytes(a, &ab), bf = vr_sockaddr_bytes(b, &bb);
    if (af != bf || memcmp(ab, bb, af == AF_INET ? 4 : 16) != 0)
        return false;
    return !with_port || vr_sockaddr_port(a) == vr_sockaddr_port(b);
}

/* Filtering (RFC 4787 section 5): in the dependent modes a reply must come
 * from a remote this session sent to. */
static bool reply_allowed(const struct vr_udp_session *s, const struct sockaddr *from)
{
    int nat = s->lcfg->udp.nat;
    if (nat == VR_UDP_NAT_ENDPOINT_INDEPENDENT)
        return true;
    bool with_port = nat == VR_UDP_NAT_PORT_DEPENDENT;
    if (same_addr(from, (const struct sockaddr *)&s->first_dst, with_port))
        return true;
    for (size_t i = 0; i < s->n_routes; i++)
        if (s->routes[i].leg != ROUTE_BLOCKED && same_addr(from, (const struct sockaddr *)&s->routes[i].dst, with_port))
            return true;
    return false;
}

static void on_reply(void *arg, const struct sockaddr *from, socklen_t fromlen, const uint8_t *data, size_t len,
                     int err)
{
    struct vr_udp_leg *leg = arg;
    struct vr_udp_session *s = leg->s;
    if (s->stage == VR_UDP_DEAD)
        return;
    struct vr_udp_listener *l = s->l;
    if (data == NULL) {
        leg->dead = true;
        for (size_t i = 0; i < s->n_legs; i++)
            if (!s->legs[i].dead)
                return;
        /* A FakeIP leg whose name did not resolve: say so, not ENOENT's text. */
        char why[320];
        if (leg->by_name && (err == -ENOENT || err == -ECONNREFUSED))
            snprintf(why, sizeof(why), "cannot resolve %.255s: %s", leg->by_name,
                     err == -ENOENT ? "no such name or no address" : "rejected by the DNS rules");
        else
            snprintf(why, sizeof(why), "%s", strerror(err < 0 ? -err : EPIPE));
        session_fail(s, "outbound ended the association: %s", why);
        return;
    }
    if (from == NULL || fromlen < sizeof(struct sockaddr_in) || fromlen > sizeof(struct sockaddr_storage))
        return;
    struct sockaddr_storage src;
    memset(&src, 0, sizeof(src));
    memcpy(&src, from, fromlen);
    vr_sockaddr_unmap(&src);
    if (!reply_allowed(s, (const struct sockaddr *)&src)) {
        l->stats.filtered++;
        return;
    }
    uint64_t now = vr_now_ms_coarse();
    /* A captured local program sent to a stand-in address: answered from it. */
    int sent = vr_cgroup_capture_udp_reply(l->fd, l->addr.ss_family, &s->client, &src, data, len);
    if (sent == -ENOENT)
        sent = vr_udp_reply_send(&l->replies, (const struct sockaddr *)&src, (const struct sockaddr *)&s->client,
                                 data, len, now);
    if (sent < 0) {
        s->dropped++;
        l->stats.dropped++;
        return;
    }
    s->down_dgrams++;
    s->down_bytes += len;
    if (leg->stats_slot >= 0) {
        l->worker->flows.slots[leg->stats_slot].udp_dgrams_down++;
        l->worker->flows.slots[leg->stats_slot].udp_bytes_down += len;
    }
    l->stats.dgrams_down++;
    l->stats.bytes_down += len;
    vr_udp_table_touch(&l->table, &s->e, now);
}

/* ---- the way out: client -> outbound */

/* The leg for outbound index idx: an existing one, or a new association. */
/* One warning a second per listener: a client flooding new source ports
 * toward a refusing outbound must not turn into a log line per port. */
static bool warning_due(struct vr_udp_listener *l)
{
    uint64_t now = vr_now_ms_coarse();
    if (l->warned_ms != 0 && now - l->warned_ms < 1000) {
        l->warnings_held++;
        return false;
    }
    if (l->warnings_held > 0)
        vr_warn("udp listener %s: %" PRIu64 " more session warnings like the next in the last second (not logged)",
                l->tag, l->warnings_held);
    l->warned_ms = now;
    l->warnings_held = 0;
    return true;
}

/* by_name (owned by the caller; the leg takes a copy): a FakeIP
 * destination's name. Such a leg is the name's own. */
static struct vr_udp_leg *leg_for(struct vr_udp_session *s, int idx, const struct vr_rule *rule,
                                  const struct sockaddr_storage *dst, const char *by_name)
{
    struct vr_instance *ob = gen_set(s)->outbounds[idx];
    for (size_t i = 0; i < s->n_legs; i++)
        if (s->legs[i].outbound == ob && (s->legs[i].by_name == NULL) == (by_name == NULL) &&
            (by_name == NULL || strcmp(s->legs[i].by_name, by_name) == 0))
            return s->legs[i].dead ? NULL : &s->legs[i];
    if (s->n_legs == VR_UDP_MAX_LEGS)
        return NULL;
    char *name_copy = by_name ? strdup(by_name) : NULL;
    if (by_name && name_copy == NULL)
        return NULL;
    const struct vr_outbound_ops *ops = vr_instance_outbound(ob);
    struct vr_udp_leg *leg = &s->legs[s->n_legs];
    memset(leg, 0, sizeof(*leg));
    leg->s = s;
    leg->outbound = ob;
    leg->flow.size = sizeof(leg->flow);
    leg->flow.network = VR_NET_UDP;
    leg->flow.id = s->id;
    leg->flow.src = s->client;
    leg->flow.dst = *dst;
    leg->flow.domain = s->domain_fake ? NULL : s->domain;
    leg->flow.protocol = s->protocol[0] && strcmp(s->protocol, "unknown") != 0 ? s->protocol : NULL;
    if (name_copy) {
        leg->by_name = name_copy;
        leg->flow.domain = name_copy;
        leg->flow.protocol = NULL;
        leg->flow.flags |= VR_FLOW_CONNECT_BY_NAME;
    }
    leg->flow.inbound = s->lcfg->tag;
    leg->flow.rule = rule ? rule->name : "final";
    leg->stats_slot = vr_flow_stats_slot(&s->l->worker->flows, s->lcfg->tag, ob->tag);
    s->n_legs++;
    if (ops->udp_open == NULL || ops->udp_send == NULL || ops->udp_close == NULL) {
        leg->dead = true;
        if (warning_due(s->l))
            vr_warn("udp %" PRIu64 ": outbound %s (module %s) has no UDP path; datagrams routed to it are dropped "
                "(route UDP elsewhere with a rule: network = \"udp\")",
                s->id, ob->tag, ob->module->name);
        return NULL;
    }
    int r = ops->udp_open(ob->state, &leg->flow, on_reply, leg, &leg->assoc);
    if (r < 0) {
        leg->dead = true;
        if (warning_due(s->l))
            vr_warn("udp %" PRIu64 ": outbound %s: cannot open a UDP association: %s", s->id, ob->tag, strerror(-r));
        return NULL;
    }
    leg->open = true;
    return leg;
}

static int route(struct vr_udp_session *s, const struct sockaddr_storage *dst, const char *domain,
                 const char *protocol, bool dst_fake, const struct vr_rule **rule_out)
{
    const struct vr_config *cfg = s->gen->cfg;
    struct vr_match_input in = {
        .network = VR_NET_UDP,
        .src = (const struct sockaddr *)&s->client,
        .dst = (const struct sockaddr *)dst,
        .inbound = s->lcfg->tag,
        .domain = domain,
        .protocol = protocol,
        .dst_fake = dst_fake,
    };
    int idx = vr_rules_route(&cfg->rules, &in, rule_out);
    vr_gen_set_count_rule(gen_set(s), *rule_out);
    return idx;
}

/* Remembers the leg datagrams to dst take (NULL: they are dropped). */
static void remember_route(struct vr_udp_session *s, const struct sockaddr_storage *dst, const struct vr_udp_leg *leg,
                           bool to_dns)
{
    if (s->n_routes >= VR_UDP_MAX_ROUTES)
        return;
    struct vr_udp_route *r = realloc(s->routes, (s->n_routes + 1) * sizeof(*r));
    if (r == NULL)
        return;
    s->routes = r;
    r[s->n_routes].dst = *dst;
    r[s->n_routes].leg = leg ? (uint8_t)(leg - s->legs) : to_dns ? ROUTE_DNS : ROUTE_BLOCKED;
    s->n_routes++;
}

/* The leg a datagram to dst takes: remembered per remote, decided for a new
 * remote by the rules (with what the datagram sniffers make of this one
 * datagram: later remotes of a session are not held back). */
static struct vr_udp_leg *leg_to(struct vr_udp_session *s, const struct sockaddr_storage *dst, const uint8_t *data,
                                 size_t len, bool *to_dns)
{
    *to_dns = false;
    for (size_t i = 0; i < s->n_routes; i++)
        if (vr_sockaddr_equal((const struct sockaddr *)&s->routes[i].dst, (const struct sockaddr *)dst)) {
            if (s->routes[i].leg == ROUTE_DNS) {
                *to_dns = true;
                return NULL;
            }
            if (s->routes[i].leg == ROUTE_BLOCKED) {
                s->l->stats.by_rule++;
                return NULL;
            }
            return s->legs[s->routes[i].leg].dead ? NULL : &s->legs[s->routes[i].leg];
        }
    if (s->n_routes > 0 && vr_udp_listener_is_own(s->l->worker->udp_listeners, (const struct sockaddr *)dst)) {
        s->l->stats.loops++;
        return NULL;
    }
    struct vr_sniff_out out;
    const char *domain = NULL, *protocol = NULL;
    char *fake_name = NULL, why[160];
    enum vr_flow_name_verdict fv = vr_flow_name_fakeip((const struct sockaddr *)dst, false, &fake_name, why, sizeof(why));
    if (fv == VR_FLOW_NAME_GONE) { /* never sent toward the fake address */
        vr_flow_name_warn_gone("udp", (unsigned long long)s->id, why);
        s->l->stats.by_rule++;
        if (s->n_legs == 0 && s->end == NULL) {
            snprintf(s->end_buf, sizeof(s->end_buf), "%s", why);
            s->end = s->end_buf;
        }
        remember_route(s, dst, NULL, false);
        return NULL;
    }
    /* Past VR_UDP_MAX_ROUTES the route is not remembered, so sniffing would
     * run on every datagram to such a remote: route by its address alone. */
    if (fake_name != NULL) {
        domain = fake_name; /* routed by the name the address stands for: no sniff */
        if (s->domain == NULL && s->n_routes == 0) {
            s->domain = strdup(fake_name); /* for the session's log line */
            s->domain_fake = true;
        }
    } else if (s->n_routes > 0 && s->n_routes < VR_UDP_MAX_ROUTES && s->lcfg->n_sniff > 0) {
        struct iovec iov = {(void *)data, len};
        if (vr_sniff_run_datagrams(gen_set(s), s->lcfg, &iov, 1, &out) == VR_SNIFF_DONE_FOUND) {
            domain = out.domain[0] ? out.domain : NULL;
            protocol = out.protocol;
        }
    } else if (s->n_routes == 0) {
        domain = s->domain;
        protocol = strcmp(s->protocol, "unknown") == 0 ? NULL : s->protocol;
    }
    const struct vr_rule *rule;
    int idx = route(s, dst, domain, protocol, fake_name != NULL, &rule);
    struct vr_udp_leg *leg = idx < 0 ? NULL : leg_for(s, idx, rule, dst, fake_name);
    free(fake_name);
    *to_dns = idx < 0 && rule->action == VR_ACTION_DNS;
    if (*to_dns) {
        if (s->end == NULL)
            s->end = rule->end;
    } else if (idx < 0) { /* the rule's action: this remote's datagrams are dropped (the log names the rule) */
        s->l->stats.by_rule++;
        if (s->n_legs == 0 && s->end == NULL)
            s->end = rule->end;
    } else if (leg == NULL)
        return NULL;
    remember_route(s, dst, leg, *to_dns);
    return leg;
}

/* The resolver's answer to a hijacked query: sent to the client from the
 * server it asked. */
static void dns_answer(void *arg, const uint8_t *msg, size_t len)
{
    struct vr_udp_dns_wait *wt = arg;
    struct vr_udp_session *s = wt->s;
    wt->handle = NULL;
    if (s->stage == VR_UDP_DEAD)
        return;
    if (vr_udp_reply_send(&s->l->replies, (const struct sockaddr *)&wt->dst, (const struct sockaddr *)&s->client, msg,
                          len, vr_now_ms_coarse()) < 0) {
        s->dropped++;
        s->l->stats.dropped++;
        return;
    }
    s->down_dgrams++;
    s->down_bytes += len;
}

static void dns_hijack(struct vr_udp_session *s, const struct sockaddr_storage *dst, const uint8_t *data, size_t len)
{
    struct vr_udp_dns_wait *wt = NULL;
    for (size_t i = 0; i < VR_UDP_DNS_WAITS && wt == NULL; i++)
        if (s->dns_waits[i].handle == NULL)
            wt = &s->dns_waits[i];
    if (wt == NULL) {
        s->dropped++;
        s->l->stats.dropped++;
        return;
    }
    wt->s = s;
    wt->dst = *dst;
    s->up_dgrams++;
    s->up_bytes += len;
    if (!vr_dns_server_udp_query(s->l->worker, data, len, (const struct sockaddr *)&s->client, dns_answer, wt,
                                 &wt->handle)) {
        s->dropped++;
        s->l->stats.dropped++;
        session_fail(s, "%s", "action dns, but the config has no dns block");
    }
}

static void forward(struct vr_udp_session *s, const struct sockaddr_storage *dst, const uint8_t *data, size_t len)
{
    struct vr_udp_listener *l = s->l;
    if (s->failed_timer != NULL) {
        s->dropped++;
        l->stats.dropped++;
        return;
    }
    bool to_dns;
    struct vr_udp_leg *leg = leg_to(s, dst, data, len, &to_dns);
    if (to_dns) {
        dns_hijack(s, dst, data, len);
        return;
    }
    int r = -ENETUNREACH;
    if (leg)
        r = vr_instance_outbound(leg->outbound)
                ->udp_send(leg->outbound->state, leg->assoc, (const struct sockaddr *)dst,
                           vr_sockaddr_len((const struct sockaddr *)dst), data, len);
    if (r < 0) {
        s->dropped++;
        l->stats.dropped++;
        if ((r == -EMFILE || r == -ENFILE) && l->stats.no_fd++ % 1000 == 0)
            vr_warn("udp %" PRIu64 ": out of file descriptors: datagrams are dropped (%" PRIu64 " so far); raise "
                    "the open-file limit or lower udp.max_sessions / daemon.max_connections",
                    s->id, l->stats.no_fd);
        if (leg == NULL && s->n_legs == 1 && s->legs[0].dead)
            session_fail(s, "no UDP path through outbound %s", s->legs[0].outbound->tag);
        return;
    }
    s->up_dgrams++;
    s->up_bytes += len;
    if (leg && leg->stats_slot >= 0) {
        l->worker->flows.slots[leg->stats_slot].udp_dgrams_up++;
        l->worker->flows.slots[leg->stats_slot].udp_bytes_up += len;
    }
    l->stats.dgrams_up++;
    l->stats.bytes_up += len;
}

/* The sniffers decided (out NULL: nothing recognised): route, open, flush. */
static void sniff_done(struct vr_udp_session *s, const struct vr_sniff_out *out, bool timed_out)
{
    if (out && out->protocol[0]) {
        snprintf(s->protocol, sizeof(s->protocol), "%s", out->protocol);
        if (out->domain[0])
            s->domain = strdup(out->domain);
    } else if (s->lcfg->n_sniff > 0)
        snprintf(s->protocol, sizeof(s->protocol), "unknown");
    vr_flow_stats_udp_sniffed(&s->l->worker->flows, out && out->protocol[0] ? s->protocol : NULL, timed_out);
    if (s->sniff_timer) {
        event_free(s->sniff_timer);
        s->sniff_timer = NULL;
    }
    s->stage = VR_UDP_OPEN;
    if (is_dns(s) && s->e.klass != VR_UDP_CLASS_SHORT)
        vr_udp_table_reclass(&s->l->table, &s->e, VR_UDP_CLASS_SHORT);
    struct vr_udp_held *h = s->held;
    s->held = NULL;
    s->held_tail = &s->held;
    s->n_held = s->held_bytes = 0;
    while (h) {
        struct vr_udp_held *next = h->next;
        if (s->stage == VR_UDP_OPEN)
            forward(s, &h->dst, h->data, h->len);
        free(h);
        h = next;
    }
}

static void sniff_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sniff_done(arg, NULL, true);
}

static int hold(struct vr_udp_session *s, const struct sockaddr_storage *dst, const uint8_t *data, size_t len)
{
    struct vr_udp_held *h = malloc(sizeof(*h) + len);
    if (h == NULL)
        return -ENOMEM;
    h->next = NULL;
    h->dst = *dst;
    h->len = len;
    memcpy(h->data, data, len);
    *s->held_tail = h;
    s->held_tail = &h->next;
    s->n_held++;
    s->held_bytes += len;
    return 0;
}

/* Runs the datagram sniffers over what is held for the first remote. */
static void sniff_step(struct vr_udp_session *s)
{
    struct iovec iov[VR_SNIFF_MAX_DATAGRAMS];
    size_t n = 0;
    for (struct vr_udp_held *h = s->held; h && n < VR_SNIFF_MAX_DATAGRAMS; h = h->next)
        if (vr_sockaddr_equal((const struct sockaddr *)&h->dst, (const struct sockaddr *)&s->first_dst))
            iov[n++] = (struct iovec){h->data, h->len};
    struct vr_sniff_out out;
    int v = vr_sniff_run_datagrams(gen_set(s), s->lcfg, iov, n, &out);
    if (v == VR_SNIFF_WAIT && s->n_held < VR_SNIFF_MAX_DATAGRAMS && s->held_bytes < VR_SNIFF_MAX_DATAGRAM_BYTES)
        return;
    sniff_done(s, v == VR_SNIFF_DONE_FOUND ? &out : NULL, false);
}

/* Makes room for a new session of key: the client's own oldest session when
 * it is at its share, else the table's least recently active one. */
static void admit(struct vr_udp_listener *l, const struct vr_listener_cfg *lcfg, const struct vr_udp_key *key)
{
    /* Each worker's table applies the listener's limits. TPROXY's UDP
     * lookup delivers a listener's datagrams to one socket of the
     * SO_REUSEPORT group (measured: docs/UDP.md, "Several workers"), so one
     * worker's table holds the sessions and the limits mean what they say;
     * were datagrams spread, each worker would take up to the limits. */
    uint32_t per_client = lcfg->udp.max_sessions_per_client;
    uint32_t max_sessions = lcfg->udp.max_sessions;
    if (vr_udp_table_client_count(&l->table, key) >= per_client) {
        struct vr_udp_entry *e = vr_udp_table_client_oldest(&l->table, key);
        if (e) {
            l->stats.evicted_by_client++;
            session_end(session_of(e), "evicted: client at max_sessions_per_client");
        }
    }
    while (l->table.n >= max_sessions) {
        struct vr_udp_entry *e = vr_udp_table_lru(&l->table);
        if (e == NULL)
            break;
        l->stats.evicted++;
        session_end(session_of(e), "evicted: max_sessions");
    }
}

static struct vr_udp_session *session_new(struct vr_udp_listener *l, const struct vr_udp_key *key,
                                          const struct sockaddr_storage *src, const struct sockaddr_storage *dst)
{
    struct vr_generation *g = l->worker->gen;
    const struct vr_listener_cfg *lcfg = l->cfg; /* in g's config */
    if (!(lcfg->networks & VR_NET_UDP))
        return NULL;
    if (vr_udp_listener_is_own(l->worker->udp_listeners, (const struct sockaddr *)dst)) {
        char a[VR_ADDRSTRLEN];
        if (l->stats.loops++ % 1000 == 0)
            vr_warn("udp: refused datagram to %s: it is vrouterd's own listener (a loop: check that the capture "
                    "rule skips local addresses and the bypass mark)",
                    vr_sockaddr_str((const struct sockaddr *)dst, a, sizeof(a)));
        return NULL;
    }
    admit(l, lcfg, key);
    struct vr_udp_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->e.key = *key;
    uint64_t now = vr_now_ms_coarse();
    if (vr_udp_table_insert(&l->table, &s->e, VR_UDP_CLASS_NORMAL, now) < 0) {
        free(s);
        return NULL;
    }
    s->l = l;
    s->gen = vr_generation_ref(g);
    s->lcfg = lcfg;
    s->id = vr_worker_next_flow_id(l->worker);
    s->client = *src;
    s->first_dst = *dst;
    s->held_tail = &s->held;
    s->started_ms = now;
    s->stage = VR_UDP_OPEN;
    if (is_dns(s))
        vr_udp_table_reclass(&l->table, &s->e, VR_UDP_CLASS_SHORT);
    l->stats.sessions++;
    return s;
}

void vr_udp_session_input(struct vr_udp_listener *l, const struct sockaddr_storage *src,
                          const struct sockaddr_storage *dst, const uint8_t *data, size_t len)
{
    if (l->worker->gen == NULL)
        return;
    struct vr_udp_key key;
    int nat = l->cfg->udp.nat;
    if (src->ss_family != dst->ss_family) {
        l->stats.dropped++;
        return;
    }
    vr_udp_key_make(&key, nat, (const struct sockaddr *)src, (const struct sockaddr *)dst);
    struct vr_udp_entry *e = vr_udp_table_find(&l->table, &key);
    struct vr_udp_session *s;
    if (e != NULL) {
        s = session_of(e);
        vr_udp_table_touch(&l->table, e, vr_now_ms_coarse());
        if (s->stage == VR_UDP_SNIFFING) {
            if (hold(s, dst, data, len) < 0) {
                s->dropped++;
                l->stats.dropped++;
                return;
            }
            sniff_step(s);
            return;
        }
        forward(s, dst, data, len);
        return;
    }
    /* Not this worker's: with several workers, the key may be another's
     * (vr_udp_owners.h). */
    struct vr_worker *w = l->worker;
    struct vr_udp_owners *owners = w->shared->udp_owners;
    if (owners) {
        size_t owner = vr_udp_owners_claim(owners, (const struct sockaddr *)&l->addr, &key, w->index);
        if (owner != w->index) {
            struct vr_worker *ow = &w->shared->workers[owner];
            if (vr_udp_inbox_put(&ow->udp_inbox, (const struct sockaddr *)&l->addr, src, dst, data, len)) {
                l->stats.handed_over++;
                event_active(ow->udp_inbox_ev, EV_TIMEOUT, 1);
            } else {
                l->stats.dropped++;
            }
            return;
        }
    }
    s = session_new(l, &key, src, dst);
    if (s == NULL) {
        if (owners)
            vr_udp_owners_release(owners, (const struct sockaddr *)&l->addr, &key, w->index);
        l->stats.dropped++;
        return;
    }
    /* A FakeIP destination is routed by its name: no sniff to wait for,
     * and no protocol on its line (none was looked for). */
    bool fake = s->lcfg->n_sniff > 0 && vr_flow_name_is_fake((const struct sockaddr *)dst);
    if (s->lcfg->n_sniff > 0 && vr_sniff_any_datagram(gen_set(s), s->lcfg) && !fake) {
        s->stage = VR_UDP_SNIFFING;
        if (hold(s, dst, data, len) < 0) {
            session_end(s, "out of memory");
            return;
        }
        s->sniff_timer = evtimer_new(l->base, sniff_timeout, s);
        struct timeval tv;
        if (s->sniff_timer == NULL ||
            evtimer_add(s->sniff_timer, vr_common_timeout(l->base, s->lcfg->sniff_timeout_ms, &tv)) < 0) {
            session_end(s, "out of memory");
            return;
        }
        sniff_step(s);
        return;
    }
    if (s->lcfg->n_sniff > 0 && !fake)
        snprintf(s->protocol, sizeof(s->protocol), "unknown");
    forward(s, dst, data, len);
}
