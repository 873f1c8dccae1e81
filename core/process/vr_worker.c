#include "vr_worker.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vr_conn.h"
#include "vr_conn_action.h"
#include "vr_fdloop.h"
#include "vr_generation.h"
#include "vr_listener.h"
#include "vr_udp_listener.h"
#include "vr_log.h"
#include "vr_watch.h"
#include "vr_worker_thread.h"

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

/* Below max_connections (across workers), as lowered to what the fd budget
 * allows. */
static bool below_connection_limit(const struct vr_worker *w)
{
    return atomic_load_explicit(&w->shared->n_conns, memory_order_relaxed) < w->shared->max_conns;
}

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
    /* Once per shortage, not once per retry or per worker: at 3 a.m. the
     * log must show what happened and what to do, not ten lines a second.
     * The first worker to run short starts the episode. */
    struct vr_worker_shared *s = w->shared;
    uint64_t none = 0;
    if (atomic_compare_exchange_strong(&s->starved_since_ms, &none, vr_now_ms())) {
        atomic_store(&s->starved_retries, 0);
        bool files = err == EMFILE || err == ENFILE;
        vr_warn("listener %s: accept: %s: new connections wait in the kernel's accept queue, retried every 100 ms "
                "(%s)",
                listener_tag, strerror(err),
                files ? "raise the open-file limit (LimitNOFILE= of the service) or lower daemon.max_connections"
                      : "the system is short of memory");
    }
    atomic_fetch_add(&s->starved_retries, 1);
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
    struct vr_worker_shared *s = w->shared;
    uint64_t since = atomic_load_explicit(&s->starved_since_ms, memory_order_relaxed);
    if (since == 0 || !atomic_compare_exchange_strong(&s->starved_since_ms, &since, 0))
        return;
    vr_info("accepting again after %" PRIu64 " ms short of files or memory (%" PRIu64 " retries)",
            vr_now_ms() - since, (uint64_t)atomic_load(&s->starved_retries));
}

void vr_worker_conn_closed(struct vr_worker *w, bool was_at_limit)
{
    if (w->draining) {
        if (w->n_conns == 0 && w->on_drained)
            w->on_drained(w);
        return;
    }
    if (!w->fd_starved && w->gen && below_connection_limit(w))
        resume_all(w);
    /* The others may be paused at the limit too: this close made room. */
    if (was_at_limit)
        for (size_t i = 0; i < w->shared->n_workers; i++)
            if (&w->shared->workers[i] != w && w->shared->workers[i].wake_ev)
                event_active(w->shared->workers[i].wake_ev, EV_TIMEOUT, 1);
}

static void woken(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_worker *w = arg;
    if (w->gen)
        vr_worker_resume(w);
}

bool vr_worker_drain(struct vr_worker *w)
{
    vr_conn_action_drain(w); /* before draining: those closes must not count as "drained" */
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

uint64_t vr_worker_next_flow_id(struct vr_worker *w)
{
    return atomic_fetch_add_explicit(&w->shared->next_flow_id, 1, memory_order_relaxed) + 1;
}

bool vr_worker_client_admit(struct vr_worker *w, const struct sockaddr *peer, struct vr_client **out)
{
    pthread_mutex_lock(&w->shared->clients_mu);
    bool ok = vr_clients_admit(&w->shared->clients, peer, w->max_per_client, w->client_prefix_v6, vr_now_ms(), out);
    pthread_mutex_unlock(&w->shared->clients_mu);
    return ok;
}

void vr_worker_client_leave(struct vr_worker *w, struct vr_client *c)
{
    pthread_mutex_lock(&w->shared->clients_mu);
    vr_clients_leave(&w->shared->clients, c, w->max_per_client, vr_now_ms());
    pthread_mutex_unlock(&w->shared->clients_mu);
}

int vr_worker_shared_init(struct vr_worker_shared *s, struct vr_worker *workers, size_t n)
{
    memset(s, 0, sizeof(*s));
    atomic_init(&s->next_flow_id, 0);
    atomic_init(&s->n_conns, 0);
    atomic_init(&s->starved_since_ms, 0);
    atomic_init(&s->starved_retries, 0);
    s->max_conns = UINT32_MAX;
    s->workers = workers;
    s->n_workers = n;
    if (n > 1) {
        s->udp_owners = calloc(1, sizeof(*s->udp_owners));
        if (s->udp_owners == NULL || vr_udp_owners_init(s->udp_owners) < 0)
            return -1;
    }
    return pthread_mutex_init(&s->clients_mu, NULL) == 0 ? 0 : -1;
}

void vr_worker_shared_fini(struct vr_worker_shared *s)
{
    if (s->udp_owners) {
        vr_udp_owners_fini(s->udp_owners);
        free(s->udp_owners);
        s->udp_owners = NULL;
    }
    vr_clients_fini(&s->clients);
    pthread_mutex_destroy(&s->clients_mu);
}

static void take_udp_inbox(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    vr_udp_listeners_take_inbox(arg);
}

int vr_worker_init(struct vr_worker *w, size_t index, struct vr_worker_shared *s)
{
    memset(w, 0, sizeof(*w));
    w->index = index;
    w->shared = s;
    w->idle_timeout_s = 600;
    w->client_prefix_v6 = 64;
    vr_worker_set_fd_budget(w, UINT64_MAX);
    pthread_mutex_init(&w->call_mu, NULL);
    pthread_cond_init(&w->call_cv, NULL);
    w->base = event_base_new();
    if (w->base == NULL || (w->fdloop = vr_fdloop_new(w->base)) == NULL)
        return -1;
    w->resume_timer = evtimer_new(w->base, resume_after_starvation, w);
    w->wake_ev = event_new(w->base, -1, 0, woken, w);
    w->park_ev = event_new(w->base, -1, 0, vr_worker_park_cb, w);
    w->call_ev = event_new(w->base, -1, 0, vr_worker_call_cb, w);
    w->udp_inbox_ev = event_new(w->base, -1, 0, take_udp_inbox, w);
    if (vr_udp_inbox_init(&w->udp_inbox) < 0)
        return -1;
    if (w->resume_timer == NULL || w->wake_ev == NULL || w->park_ev == NULL || w->call_ev == NULL ||
        w->udp_inbox_ev == NULL)
        return -1;
    return vr_wheel_init(&w->deadlines, w->base, deadline, w);
}

void vr_worker_close_flows(struct vr_worker *w)
{
    while (w->conns)
        vr_conn_close(w->conns, "shutdown");
    vr_worker_set_generation(w, NULL);
}

void vr_worker_fini(struct vr_worker *w)
{
    if (w->base == NULL)
        return;
    vr_worker_close_flows(w);
    vr_wheel_fini(&w->deadlines);
    struct event *evs[] = {w->resume_timer, w->wake_ev, w->park_ev, w->call_ev, w->udp_inbox_ev};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    w->resume_timer = w->wake_ev = w->park_ev = w->call_ev = w->udp_inbox_ev = NULL;
    vr_udp_inbox_fini(&w->udp_inbox);
    vr_worker_set_generation(w, NULL);
    vr_pipepool_clear(&w->pipes);
    vr_flow_stats_fini(&w->flows);
    vr_fdloop_free(w->fdloop);
    w->fdloop = NULL;
    event_base_free(w->base);
    w->base = NULL;
    pthread_mutex_destroy(&w->call_mu);
    pthread_cond_destroy(&w->call_cv);
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
    atomic_fetch_add_explicit(&w->shared->n_conns, 1, memory_order_relaxed);
    c->prev = NULL;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    update_pipe_budget(w);
}

bool vr_worker_unlink(struct vr_worker *w, struct vr_conn *c)
{
    uint32_t before = (uint32_t)atomic_fetch_sub_explicit(&w->shared->n_conns, 1, memory_order_relaxed);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_conns--;
    w->closed++;
    update_pipe_budget(w);
    return before == w->shared->max_conns;
}
