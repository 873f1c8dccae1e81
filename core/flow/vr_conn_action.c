#include "vr_conn_action.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/socket.h>

#include "vr_conn.h"
#include "vr_dns_server.h"
#include "vr_rules.h"
#include "vr_watch.h"
#include "vr_worker.h"

static void reset_on_close(int fd)
{
    struct linger lg = {1, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* A dropped connection's client sent bytes, closed or reset: its bytes are
 * read and thrown away (bounded per wakeup), its end ends the hold. */
static void held_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct vr_conn *c = arg;
    char sink[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        vr_conn_close(c, "closed");
        return;
    }
}

void vr_conn_rule_action(struct vr_conn *c, const struct vr_rule *rule)
{
    c->end = rule->end; /* first reason wins: the log says "rejected/dropped by rule #N" */
    if (rule->action == VR_ACTION_REJECT) {
        reset_on_close(c->client_fd);
        vr_conn_close(c, NULL);
        return;
    }
    reset_on_close(c->client_fd); /* when the hold ends: no FIN, no FIN_WAIT */
    c->held = event_new(c->worker->base, c->client_fd, EV_READ | EV_PERSIST, held_readable, c);
    if (c->held == NULL || event_add(c->held, NULL) < 0) {
        vr_conn_close(c, NULL);
        return;
    }
    /* last_active_ms is not refreshed by the client's bytes: the worker's
     * idle deadline ends the hold tcp_idle_timeout_s from now. */
    c->last_active_ms = vr_now_ms();
    vr_wheel_schedule(&c->worker->deadlines, &c->deadline,
                      c->last_active_ms + (uint64_t)c->worker->idle_timeout_s * 1000u);
}

void vr_conn_to_dns(struct vr_conn *c, const struct vr_rule *rule, const uint8_t *prefix, size_t len)
{
    c->end = rule->end;
    int fd = c->client_fd;
    c->client_fd = -1; /* the DNS server owns it now */
    vr_dns_server_take_tcp(c->worker, fd, (const struct sockaddr *)&c->flow.src, prefix, len);
    vr_conn_close(c, NULL);
}

void vr_conn_action_drain(struct vr_worker *w)
{
    for (struct vr_conn *c = w->conns, *next; c; c = next) {
        next = c->next; /* close unlinks c only */
        if (c->held)
            vr_conn_close(c, NULL);
    }
}
