/* tcp_connect/tcp_cancel: one CONNECT handshake per flow; the connected
 * socket goes to the core's relay. */
#include "socks5.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

struct s5_tcp {
    struct s5_link link; /* first: the list holds struct s5_tcp */
    struct s5_hs hs;
    vr_connect_cb cb;
    void *arg;
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

int s5_tcp_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                   void **pending)
{
    struct s5_state *st = state;
    const char *domain = st->send_domain ? flow->domain : NULL;
    struct s5_tcp *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    int len = s5_request_build(c->hs.req, S5_CMD_CONNECT, (const struct sockaddr *)&flow->dst,
                               domain);
    if (len < 0 && domain != NULL) /* a name too long for SOCKS: fall back to the address */
        len = s5_request_build(c->hs.req, S5_CMD_CONNECT, (const struct sockaddr *)&flow->dst,
                               NULL);
    if (len < 0) {
        free(c);
        return len;
    }
    c->hs.req_len = (size_t)len;
    c->cb = cb;
    c->arg = arg;
    int r = s5_hs_start(&c->hs, st, flow->id, s5_tcp_done);
    if (r < 0) {
        st->host->counter_add(st->c_connect_fail, 1);
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
    (void)state;
    s5_hs_abort(&c->hs);
    s5_link_del(&c->link);
    free(c);
}

void s5_tcp_free_all(struct s5_state *st)
{
    while (st->pending.next != &st->pending)
        s5_tcp_cancel(st, (struct s5_tcp *)st->pending.next);
}
