#include "vr_worker.h"

#include <event2/event.h>
#include <stdint.h>
#include <string.h>

#include "vr_conn.h"
#include "vr_watch.h"

/* Idle connections, and relay directions whose receiver stalled with a
 * pipe full of bytes (vr_relay_unstick), are found by a sweep, not a timer
 * each: a timer per connection would cost memory on every idle one. */
static void sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_worker *w = arg;
    uint64_t now = vr_now_ms();
    uint64_t limit = (uint64_t)w->idle_timeout_s * 1000u;
    struct vr_conn *c = w->conns;
    while (c) {
        struct vr_conn *next = c->next;
        if (c->stage == VR_CONN_RELAYING && now - c->last_active_ms > limit)
            vr_conn_close(c, "idle timeout");
        else if (c->stage == VR_CONN_RELAYING)
            vr_relay_unstick(&c->relay, vr_now_ms_coarse(), VR_RELAY_STALL_MS);
        c = next;
    }
}

int vr_worker_init(struct vr_worker *w, struct event_base *base)
{
    memset(w, 0, sizeof(*w));
    w->base = base;
    w->idle_timeout_s = 600;
    w->max_conns = UINT32_MAX;
    w->client_prefix_v6 = 64;
    vr_worker_set_fd_budget(w, UINT64_MAX);
    w->sweep = event_new(base, -1, EV_PERSIST, sweep, w);
    struct timeval tv = {1, 0};
    if (w->sweep == NULL || event_add(w->sweep, &tv) < 0)
        return -1;
    return 0;
}

void vr_worker_fini(struct vr_worker *w)
{
    while (w->conns)
        vr_conn_close(w->conns, "shutdown");
    if (w->sweep)
        event_free(w->sweep);
    w->sweep = NULL;
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
