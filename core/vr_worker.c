#include "vr_worker.h"

#include <event2/event.h>
#include <string.h>

#include "vr_conn.h"
#include "vr_watch.h"

/* Idle connections are found by a sweep, not a timer each: a timer per
 * connection would cost memory on every idle connection. */
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
        c = next;
    }
}

int vr_worker_init(struct vr_worker *w, struct event_base *base)
{
    memset(w, 0, sizeof(*w));
    w->base = base;
    w->idle_timeout_s = 600;
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
}

void vr_worker_link(struct vr_worker *w, struct vr_conn *c)
{
    c->prev = NULL;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
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
}
