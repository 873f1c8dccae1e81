#include "vr_worker.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vr_conn.h"
#include "vr_generation.h"
#include "vr_listener.h"
#include "vr_log.h"
#include "vr_watch.h"

/* A connection's deadline (idle timeout, or a stalled pipe to give back)
 * came: the connection decides. No walk over all connections: the wheel
 * hands over only those due. */
static void deadline(struct vr_wheel_entry *e, uint64_t now_ms, void *arg)
{
    (void)arg;
    vr_conn_deadline((struct vr_conn *)((char *)e - offsetof(struct vr_conn, deadline)), now_ms);
}

static void pause_all(struct vr_worker *w)
{
    for (struct vr_listener *l = w->listeners; l; l = l->next)
        vr_listener_pause(l);
}

static void resume_all(struct vr_worker *w)
{
    for (struct vr_listener *l = w->listeners; l; l = l->next)
        vr_listener_resume(l);
}

/* Below max_connections, as lowered to what the fd budget allows. */
static bool below_connection_limit(const struct vr_worker *w) { return w->n_conns < w->max_conns; }

bool vr_worker_may_accept(struct vr_worker *w)
{
    if (!w->draining && !w->fd_starved && below_connection_limit(w))
        return true;
    /* Level-triggered listeners would spin: stop watching them until a
     * connection closes or the back-off ends. */
    pause_all(w);
    return false;
}

void vr_worker_resume(struct vr_worker *w)
{
    if (!w->draining && !w->fd_starved && below_connection_limit(w))
        resume_all(w);
}

static void resume_after_starvation(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_worker *w = arg;
    w->fd_starved = false;
    vr_worker_resume(w);
}

void vr_worker_accept_starved(struct vr_worker *w, const char *listener_tag, int err)
{
    /* Once per shortage, not once per retry: at 3 a.m. the log must show
     * what happened and what to do, not ten lines a second. */
    if (w->starved_since_ms == 0) {
        w->starved_since_ms = vr_now_ms();
        w->starved_retries = 0;
        bool files = err == EMFILE || err == ENFILE;
        vr_warn("listener %s: accept: %s: new connections wait in the kernel's accept queue, retried every 100 ms "
                "(%s)",
                listener_tag, strerror(err),
                files ? "raise the open-file limit (LimitNOFILE= of the service) or lower daemon.max_connections"
                      : "the system is short of memory");
    }
    w->starved_retries++;
    w->fd_starved = true;
    pause_all(w);
    struct timeval tv = {0, 100 * 1000};
    if (evtimer_add(w->resume_timer, &tv) < 0) {
        /* Without the timer nothing would resume the listeners: retry on the
         * next readiness instead (busy, but never deaf). */
        vr_err("listener %s: cannot arm the accept back-off timer; retrying at once", listener_tag);
        w->fd_starved = false;
        resume_all(w);
    }
}

void vr_worker_accepted(struct vr_worker *w)
{
    if (w->starved_since_ms == 0)
        return;
    vr_info("accepting again after %" PRIu64 " ms short of files or memory (%" PRIu64 " retries)",
            vr_now_ms() - w->starved_since_ms, w->starved_retries);
    w->starved_since_ms = 0;
}

void vr_worker_conn_closed(struct vr_worker *w)
{
    if (w->draining) {
        if (w->n_conns == 0 && w->on_drained)
            w->on_drained(w);
        return;
    }
    if (!w->fd_starved && w->gen && below_connection_limit(w))
        resume_all(w);
}

bool vr_worker_drain(struct vr_worker *w)
{
    w->draining = true;
    pause_all(w);
    return w->n_conns == 0;
}

void vr_worker_set_generation(struct vr_worker *w, struct vr_generation *g)
{
    struct vr_generation *old = w->gen;
    w->gen = g ? vr_generation_ref(g) : NULL;
    vr_generation_unref(old);
}

uint64_t vr_worker_next_flow_id(struct vr_worker *w) { return ++w->next_flow_id; }

int vr_worker_init(struct vr_worker *w, struct event_base *base)
{
    memset(w, 0, sizeof(*w));
    w->base = base;
    w->idle_timeout_s = 600;
    w->max_conns = UINT32_MAX;
    w->client_prefix_v6 = 64;
    vr_worker_set_fd_budget(w, UINT64_MAX);
    w->resume_timer = evtimer_new(base, resume_after_starvation, w);
    if (w->resume_timer == NULL)
        return -1;
    return vr_wheel_init(&w->deadlines, base, deadline, w);
}

void vr_worker_fini(struct vr_worker *w)
{
    while (w->conns)
        vr_conn_close(w->conns, "shutdown");
    vr_wheel_fini(&w->deadlines);
    if (w->resume_timer)
        event_free(w->resume_timer);
    w->resume_timer = NULL;
    vr_worker_set_generation(w, NULL);
    vr_pipepool_clear(&w->pipes);
    vr_clients_fini(&w->clients);
    vr_flow_stats_fini(&w->flows);
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
