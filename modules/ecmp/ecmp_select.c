/* Which member takes a flow, and the connect through it. A connect that
 * fails through the chosen member is retried once on the next member in
 * hash order, so flows do not fail while a dead member is being detected. */
#include "ecmp.h"
#include "ecmp_hash.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ECMP_RETRIES 1

struct ecmp_conn {
    struct ecmp_link link; /* first */
    struct ecmp_state *st;
    const struct vr_flow *flow;
    uint64_t key;
    vr_connect_cb cb;
    void *arg;
    int member;            /* -1: the fallback */
    void *mpending;
    int retries;
    uint8_t tried[ECMP_MAX_MEMBERS];
};

static void ecmp_link_add(struct ecmp_link *head, struct ecmp_link *l)
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

static void ecmp_link_del(struct ecmp_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

static int ecmp_pick(struct ecmp_state *st, uint64_t key, const uint8_t *tried)
{
    uint8_t usable[ECMP_MAX_MEMBERS];
    for (int i = 0; i < st->n; i++)
        usable[i] = !tried[i] && ecmp_member_usable(st, i);
    if (st->mode == ECMP_RR) {
        int64_t w[ECMP_MAX_MEMBERS];
        for (int i = 0; i < st->n; i++)
            w[i] = st->m[i].weight;
        return ecmp_round_robin(st->rr_current, w, usable, st->n);
    }
    return ecmp_rendezvous(key, st->seeds, st->weights, usable, st->n);
}

static struct vr_outbound_ref *ecmp_ref(struct ecmp_state *st, int member)
{
    return member >= 0 ? st->m[member].ref : st->fallback;
}

static void ecmp_conn_done(void *arg, int fd, int err, const char *reason);

/* Starts the connect through the next member (or the fallback). Returns 0
 * when a member took it, or -ENETUNREACH when none is left. */
static int ecmp_conn_start(struct ecmp_conn *c)
{
    struct ecmp_state *st = c->st;
    const struct vr_host *h = st->host;
    for (;;) {
        int i = ecmp_pick(st, c->key, c->tried);
        if (i < 0)
            break;
        c->tried[i] = 1;
        int r = h->outbound_tcp_connect(st->m[i].ref, c->flow, ecmp_conn_done, c, &c->mpending);
        if (r == 0) {
            c->member = i;
            return 0;
        }
        h->counter_add(st->m[i].c_failures, 1);
        h->log(st->inst, VR_LOG_INFO, "flow %" PRIu64 ": member %s failed at once: %s",
               c->flow->id, st->m[i].tag, strerror(-r));
        ecmp_health_flow_failed(st, i);
    }
    if (st->fallback != NULL && c->member != -1) {
        h->log(st->inst, VR_LOG_WARN, "flow %" PRIu64 ": no healthy member, using fallback %s",
               c->flow->id, st->fallback_tag);
        h->counter_add(st->c_fallback, 1);
        c->member = -1;
        int r = h->outbound_tcp_connect(st->fallback, c->flow, ecmp_conn_done, c, &c->mpending);
        if (r == 0)
            return 0;
        h->log(st->inst, VR_LOG_WARN, "flow %" PRIu64 ": fallback %s failed at once: %s",
               c->flow->id, st->fallback_tag, strerror(-r));
        return r;
    }
    h->counter_add(st->c_no_member, 1);
    h->log(st->inst, VR_LOG_WARN, "flow %" PRIu64 ": no healthy member left, failing fast",
           c->flow->id);
    /* On the flow's close line when this is tcp_connect failing at once (a
     * retry from a member's callback reports through the callback instead). */
    if (VR_HAS(h, connect_fail_reason))
        h->connect_fail_reason(c->flow, "ecmp %s: no healthy member left", h->instance_tag(st->inst));
    return -ENETUNREACH;
}

static void ecmp_conn_done(void *arg, int fd, int err, const char *reason)
{
    struct ecmp_conn *c = arg;
    struct ecmp_state *st = c->st;
    const struct vr_host *h = st->host;
    c->mpending = NULL;
    if (err == 0) {
        if (c->member >= 0)
            h->counter_add(st->m[c->member].c_flows, 1);
        ecmp_link_del(&c->link);
        c->cb(c->arg, fd, 0, NULL);
        free(c);
        return;
    }
    if (c->member >= 0) {
        h->counter_add(st->m[c->member].c_failures, 1);
        ecmp_health_flow_failed(st, c->member);
        if (c->retries > 0) {
            c->retries--;
            h->log(st->inst, VR_LOG_INFO, "flow %" PRIu64 ": member %s failed (%s), retrying",
                   c->flow->id, st->m[c->member].tag, reason);
            int r = ecmp_conn_start(c);
            if (r == 0)
                return;
        }
    }
    ecmp_link_del(&c->link);
    c->cb(c->arg, -1, err, reason);
    free(c);
}

int ecmp_tcp_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                     void **pending)
{
    struct ecmp_state *st = state;
    struct ecmp_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->st = st;
    c->flow = flow;
    c->cb = cb;
    c->arg = arg;
    c->member = -2;
    c->retries = ECMP_RETRIES;
    c->key = ecmp_flow_key(flow, st->mode == ECMP_SOURCE);
    int r = ecmp_conn_start(c);
    if (r < 0) {
        free(c);
        return r;
    }
    ecmp_link_add(&st->pending, &c->link);
    *pending = c;
    return 0;
}

void ecmp_tcp_cancel(void *state, void *pending)
{
    struct ecmp_state *st = state;
    struct ecmp_conn *c = pending;
    if (c->mpending != NULL)
        st->host->outbound_tcp_cancel(ecmp_ref(st, c->member), c->mpending);
    ecmp_link_del(&c->link);
    free(c);
}

void ecmp_tcp_free_all(struct ecmp_state *st)
{
    while (st->pending.next != &st->pending)
        ecmp_tcp_cancel(st, st->pending.next);
}

/* UDP: the association lives on one member for its lifetime. */
struct ecmp_udp {
    struct vr_outbound_ref *ref;
    void *assoc;
};

int ecmp_udp_open(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg,
                  void **assoc)
{
    struct ecmp_state *st = state;
    const struct vr_host *h = st->host;
    uint8_t tried[ECMP_MAX_MEMBERS] = {0};
    uint64_t key = ecmp_flow_key(flow, st->mode == ECMP_SOURCE);
    struct ecmp_udp *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return -ENOMEM;
    for (;;) {
        int i = ecmp_pick(st, key, tried);
        if (i < 0)
            break;
        tried[i] = 1;
        if (h->outbound_udp_open(st->m[i].ref, flow, cb, arg, &u->assoc) == 0) {
            u->ref = st->m[i].ref;
            h->counter_add(st->m[i].c_flows, 1);
            *assoc = u;
            return 0;
        }
        h->counter_add(st->m[i].c_failures, 1);
    }
    if (st->fallback != NULL && h->outbound_udp_open(st->fallback, flow, cb, arg, &u->assoc) == 0) {
        u->ref = st->fallback;
        h->counter_add(st->c_fallback, 1);
        *assoc = u;
        return 0;
    }
    h->counter_add(st->c_no_member, 1);
    h->log(st->inst, VR_LOG_WARN, "flow %" PRIu64 ": UDP: no healthy member left, failing fast",
           flow->id);
    free(u);
    return -ENETUNREACH;
}

int ecmp_udp_send(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen,
                  const uint8_t *data, size_t len)
{
    struct ecmp_state *st = state;
    struct ecmp_udp *u = assoc;
    return st->host->outbound_udp_send(u->ref, u->assoc, dst, dstlen, data, len);
}

void ecmp_udp_close(void *state, void *assoc)
{
    struct ecmp_state *st = state;
    struct ecmp_udp *u = assoc;
    st->host->outbound_udp_close(u->ref, u->assoc);
    free(u);
}
