/* tcp_connect/tcp_cancel: one CONNECT handshake per flow; the connected
 * socket goes to the core's relay. With send_domain = "verified" the
 * sniffed name is resolved first and sent only when the flow's original
 * destination is among its addresses (else the address is sent). */
#include "socks5.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct s5_tcp {
    struct s5_link link; /* first: the list holds struct s5_tcp */
    struct s5_hs hs;
    vr_connect_cb cb;
    void *arg;
    struct s5_verify *verify; /* while the name is being checked */
    struct sockaddr_storage dst;
    char domain[256];
};

static void s5_tcp_done(struct s5_hs *hs, int err, const char *reason)
{
    struct s5_tcp *c = (struct s5_tcp *)((char *)hs - offsetof(struct s5_tcp, hs));
    struct s5_state *st = hs->st;
    s5_link_del(&c->link);
    if (err == 0) {
        st->host->log(st->inst, VR_LOG_DEBUG, "flow %" PRIu64 ": connected through %s",
                      hs->flow_id, st->server_str);
        c->cb(c->arg, hs->fd, 0, NULL);
    } else {
        st->host->counter_add(st->c_connect_fail, 1);
        st->host->log(st->inst, VR_LOG_WARN, "flow %" PRIu64 ": %s", hs->flow_id, reason);
        c->cb(c->arg, -1, err, reason);
    }
    free(c);
}

/* The CONNECT request for the destination, by name when domain is set (a
 * name too long for SOCKS falls back to the address). */
static int s5_tcp_request(struct s5_tcp *c, const char *domain)
{
    int len = s5_request_build(c->hs.req, S5_CMD_CONNECT, (const struct sockaddr *)&c->dst, domain);
    if (len < 0 && domain != NULL)
        len = s5_request_build(c->hs.req, S5_CMD_CONNECT, (const struct sockaddr *)&c->dst, NULL);
    if (len < 0)
        return len;
    c->hs.req_len = (size_t)len;
    return 0;
}

static const char *s5_verdict_str(int verdict, const char *detail, uint32_t timeout_ms,
                                  char *buf, size_t cap)
{
    switch (verdict) {
    case S5_VERIFY_MISMATCH:
        return "its addresses do not include the destination";
    case S5_VERIFY_TIMEOUT:
        snprintf(buf, cap, "no answer from the resolver within %u ms", timeout_ms);
        return buf;
    default:
        snprintf(buf, cap, "it does not resolve (%s)", detail ? detail : "?");
        return buf;
    }
}

/* The lookup of send_domain = "verified" answered: start the handshake
 * with the name or the address. */
static void s5_tcp_verified(void *arg, int verdict, const char *detail)
{
    struct s5_tcp *c = arg;
    struct s5_state *st = c->hs.st;
    const struct vr_host *h = st->host;
    c->verify = NULL;
    const char *domain = NULL;
    if (verdict == S5_VERIFY_MATCH) {
        domain = c->domain;
        h->counter_add(st->c_domain_verified, 1);
    } else {
        char a[INET6_ADDRSTRLEN] = "?", why[160];
        if (c->dst.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&c->dst)->sin_addr, a, sizeof(a));
        else
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&c->dst)->sin6_addr, a, sizeof(a));
        h->counter_add(st->c_domain_unverified, 1);
        h->log(st->inst, VR_LOG_INFO,
               "flow %" PRIu64 ": send_domain verified: not sending \"%s\" for destination %s: "
               "%s; sending the address",
               c->hs.flow_id, c->domain, a,
               s5_verdict_str(verdict, detail, st->verify_timeout_ms, why, sizeof(why)));
    }
    int r = s5_tcp_request(c, domain);
    if (r == 0)
        r = s5_hs_start(&c->hs, st, c->hs.flow_id, s5_tcp_done);
    if (r < 0) {
        char reason[160];
        snprintf(reason, sizeof(reason), "socks5 %s: cannot start: %s", st->server_str,
                 strerror(-r));
        h->counter_add(st->c_connect_fail, 1);
        h->log(st->inst, VR_LOG_WARN, "flow %" PRIu64 ": %s", c->hs.flow_id, reason);
        s5_link_del(&c->link);
        c->cb(c->arg, -1, r, reason);
        free(c);
    }
}

/* A CONNECT carrying flow->domain (ATYP 3) on dst's port, for c set up by
 * s5_tcp_connect; a name SOCKS cannot carry fails the flow rather than
 * falling back to the address. */
static int s5_tcp_connect_name(struct s5_state *st, struct s5_tcp *c, const struct vr_flow *flow, void **pending)
{
    int len = s5_request_build(c->hs.req, S5_CMD_CONNECT, (const struct sockaddr *)&c->dst, flow->domain);
    int r = len < 0 ? len : 0;
    if (r == 0) {
        c->hs.req_len = (size_t)len;
        r = s5_hs_start(&c->hs, st, flow->id, s5_tcp_done);
    }
    if (r < 0) {
        st->host->counter_add(st->c_connect_fail, 1);
        if (VR_HAS(st->host, connect_fail_reason))
            st->host->connect_fail_reason(flow, "socks5 %s: cannot connect to \"%.64s\" by name: %s", st->server_str,
                                          flow->domain, len < 0 ? "the name does not fit a SOCKS request" : strerror(-r));
        free(c);
        return r;
    }
    st->host->counter_add(st->c_connects, 1);
    s5_link_add(&st->pending, &c->link);
    *pending = c;
    return 0;
}

int s5_tcp_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                   void **pending)
{
    struct s5_state *st = state;
    const char *domain = st->send_domain != S5_DOMAIN_NEVER ? flow->domain : NULL;
    struct s5_tcp *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->hs.fd = -1;
    c->hs.st = st;
    c->hs.flow_id = flow->id;
    c->cb = cb;
    c->arg = arg;
    memcpy(&c->dst, &flow->dst, sizeof(c->dst));
    /* dst stands for a name (FakeIP, sniff_override): the name goes, whatever
     * send_domain says, and the address never does. (Tested after the copy:
     * VR_HAS's NULL test before it makes GCC's -Warray-bounds see a copy
     * from NULL in optimised builds.) */
    if (VR_HAS(flow, flags) && (flow->flags & VR_FLOW_CONNECT_BY_NAME) && flow->domain != NULL)
        return s5_tcp_connect_name(st, c, flow, pending);
    if (domain != NULL && st->send_domain == S5_DOMAIN_VERIFIED &&
        strlen(domain) < sizeof(c->domain)) {
        memcpy(c->domain, domain, strlen(domain) + 1);
        c->verify = s5_verify_start(st, c->domain, (const struct sockaddr *)&c->dst,
                                    s5_tcp_verified, c);
        if (c->verify != NULL) {
            st->host->counter_add(st->c_connects, 1);
            s5_link_add(&st->pending, &c->link);
            *pending = c;
            return 0;
        }
        /* the resolver cannot take the request: the address is safe to send */
        st->host->log(st->inst, VR_LOG_INFO,
                      "flow %" PRIu64 ": send_domain verified: cannot look \"%s\" up; "
                      "sending the address",
                      flow->id, domain);
        st->host->counter_add(st->c_domain_unverified, 1);
        domain = NULL;
    } else if (st->send_domain == S5_DOMAIN_VERIFIED) {
        domain = NULL;
    }
    int r = s5_tcp_request(c, domain);
    if (r == 0)
        r = s5_hs_start(&c->hs, st, flow->id, s5_tcp_done);
    if (r < 0) {
        st->host->counter_add(st->c_connect_fail, 1);
        if (VR_HAS(st->host, connect_fail_reason)) /* for the flow's close line */
            st->host->connect_fail_reason(flow, "socks5 %s: cannot start: %s", st->server_str, strerror(-r));
        free(c);
        return r;
    }
    st->host->counter_add(st->c_connects, 1);
    s5_link_add(&st->pending, &c->link);
    *pending = c;
    return 0;
}

void s5_tcp_cancel(void *state, void *pending)
{
    struct s5_tcp *c = pending;
    struct s5_state *st = state;
    if (c->verify != NULL)
        s5_verify_cancel(st, c->verify); /* the handshake has not started */
    else
        s5_hs_abort(&c->hs);
    s5_link_del(&c->link);
    free(c);
}

void s5_tcp_free_all(struct s5_state *st)
{
    while (st->pending.next != &st->pending)
        s5_tcp_cancel(st, (struct s5_tcp *)st->pending.next);
}
