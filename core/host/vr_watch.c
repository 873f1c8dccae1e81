#include "vr_watch.h"

#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#include "vr_instance.h"

struct vr_watch {
    struct event *ev;
    int fd;
    struct vr_instance *inst;
    vr_watch_cb cb;
    void *arg;
    struct vr_watch *prev, *next;
};

struct vr_timer {
    struct event *ev;
    struct vr_instance *inst;
    vr_timer_cb cb;
    void *arg;
    int repeat;
    struct vr_timer *prev, *next;
};

static uint64_t ms_of(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t vr_now_ms(void) { return ms_of(CLOCK_MONOTONIC); }
uint64_t vr_now_ms_coarse(void) { return ms_of(CLOCK_MONOTONIC_COARSE); }

static short to_libevent(unsigned events)
{
    return (short)(((events & VR_EV_READ) ? EV_READ : 0) | ((events & VR_EV_WRITE) ? EV_WRITE : 0) | EV_PERSIST);
}

static void watch_fired(evutil_socket_t fd, short what, void *arg)
{
    struct vr_watch *w = arg;
    unsigned events = ((what & EV_READ) ? VR_EV_READ : 0) | ((what & EV_WRITE) ? VR_EV_WRITE : 0);
    w->cb((int)fd, events, w->arg);
}

struct vr_watch *vr_watch_new(struct vr_instance *inst, int fd, unsigned events, vr_watch_cb cb, void *arg)
{
    struct vr_watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->fd = fd;
    w->inst = inst;
    w->cb = cb;
    w->arg = arg;
    w->ev = event_new(inst->base, fd, to_libevent(events), watch_fired, w);
    if (w->ev == NULL || (events && event_add(w->ev, NULL) < 0)) {
        if (w->ev)
            event_free(w->ev);
        free(w);
        return NULL;
    }
    w->next = inst->watches;
    if (inst->watches)
        inst->watches->prev = w;
    inst->watches = w;
    return w;
}

int vr_watch_modify(struct vr_watch *w, unsigned events)
{
    event_del(w->ev);
    if (event_assign(w->ev, w->inst->base, w->fd, to_libevent(events), watch_fired, w) < 0)
        return -1;
    return events ? event_add(w->ev, NULL) : 0;
}

void vr_watch_free(struct vr_watch *w)
{
    if (w == NULL)
        return;
    event_free(w->ev);
    if (w->prev)
        w->prev->next = w->next;
    else
        w->inst->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    free(w);
}

static void timer_unlink(struct vr_timer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        t->inst->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

static void timer_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_timer *t = arg;
    vr_timer_cb cb = t->cb;
    void *cb_arg = t->arg;
    if (!t->repeat) {
        /* one-shot: gone before the callback runs, as the ABI says */
        vr_timer_free(t);
    }
    cb(cb_arg);
}

const struct timeval *vr_common_timeout(struct event_base *base, uint32_t ms, struct timeval *plain)
{
    plain->tv_sec = ms / 1000;
    plain->tv_usec = (suseconds_t)(ms % 1000) * 1000;
    const struct timeval *shared = event_base_init_common_timeout(base, plain);
    return shared ? shared : plain;
}

struct vr_timer *vr_timer_new(struct vr_instance *inst, uint32_t ms, int repeat, vr_timer_cb cb, void *arg)
{
    struct vr_timer *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->inst = inst;
    t->cb = cb;
    t->arg = arg;
    t->repeat = repeat;
    t->ev = event_new(inst->base, -1, repeat ? EV_PERSIST : 0, timer_fired, t);
    struct timeval tv;
    if (t->ev == NULL || event_add(t->ev, vr_common_timeout(inst->base, ms, &tv)) < 0) {
        if (t->ev)
            event_free(t->ev);
        free(t);
        return NULL;
    }
    t->next = inst->timers;
    if (inst->timers)
        inst->timers->prev = t;
    inst->timers = t;
    return t;
}

void vr_timer_free(struct vr_timer *t)
{
    if (t == NULL)
        return;
    event_free(t->ev);
    timer_unlink(t);
    free(t);
}
