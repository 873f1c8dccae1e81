#include "vr_worker.h"

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vr_conn.h"
#include "vr_watch.h"

/* A connection's deadline (idle timeout, or a stalled pipe to give back)
 * came: the connection decides. No walk over all connections: the wheel
 * hands over only those due. */
static void deadline(struct vr_wheel_entry *e, uint64_t now_ms, void *arg)
{
    (void)arg;
    vr_conn_deadline((struct vr_conn *)((char *)e - offsetof(struct vr_conn, deadline)), now_ms);
}

int vr_worker_init(struct vr_worker *w, struct event_base *base)
{
    memset(w, 0, sizeof(*w));
    w->base = base;
    w->idle_timeout_s = 600;
    w->max_conns = UINT32_MAX;
    w->client_prefix_v6 = 64;
    vr_worker_set_fd_budget(w, UINT64_MAX);
    return vr_wheel_init(&w->deadlines, base, deadline, w);
}

void vr_worker_fini(struct vr_worker *w)
{
    while (w->conns)
        vr_conn_close(w->conns, "shutdown");
    vr_wheel_fini(&w->deadlines);
    vr_pipepool_clear(&w->pipes);
    vr_clients_fini(&w->clients);
}

uint64_t vr_worker_fds(const struct vr_worker *w)
{
    return 2 * ((uint64_t)w->n_conns + w->pipes.lent + w->pipes.n_free);
}

/* Pipes may use what the connections' sockets leave of the budget. */
static void update_pipe_budget(struct vr_worker *w)
{
    uint64_t sockets = 2 * (uint64_t)w->n_conns;
    w->pipes.max_open = w->fd_budget > sockets ? (size_t)((w->fd_budget - sockets) / 2) : 0;
}

void vr_worker_set_fd_budget(struct vr_worker *w, uint64_t fds)
{
    w->fd_budget = fds;
    update_pipe_budget(w);
}

void vr_worker_link(struct vr_worker *w, struct vr_conn *c)
{
    c->prev = NULL;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    update_pipe_budget(w);
}

void vr_worker_unlink(struct vr_worker *w, struct vr_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_conns--;
    w->closed++;
    update_pipe_budget(w);
}
