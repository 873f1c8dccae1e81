#include "vr_watch.h"

#include <event2/event.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

#include "vr_fdloop.h"
#include "vr_instance.h"

/* A watch is a LEVEL-triggered registration on its instance's fdloop (the
 * ABI's contract). A base without a loop (a config check, unit tests) gets
 * a libevent event instead. */
struct vr_watch {
    struct event *ev;       /* without a loop only */
    struct vr_fdloop *loop; /* the instance's, or NULL */
    int fd;
    unsigned events;        /* as asked: VR_EV_READ | VR_EV_WRITE */
    unsigned error_bit;     /* VR_EV_ERROR for a module of ABI 1.2 or later, else 0 */
    bool registered;        /* in the loop's set */
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

static uint32_t to_epoll(unsigned events)
{
    return ((events & VR_EV_READ) ? EPOLLIN : 0u) | ((events & VR_EV_WRITE) ? EPOLLOUT : 0u);
}

/* What the module is told, as libevent told it before 1.2: an error or a
 * hang-up is both read and write, cut to the events asked; since 1.2 an
 * error (EPOLLERR) also says VR_EV_ERROR, so that a connecting socket's
 * write report without it means connected. */
static void watch_event(void *arg, int fd, uint32_t what)
{
    struct vr_watch *w = arg;
    unsigned events = 0;
    if (what & (EPOLLHUP | EPOLLERR))
        events = VR_EV_READ | VR_EV_WRITE;
    else
        events = ((what & EPOLLIN) ? VR_EV_READ : 0) | ((what & EPOLLOUT) ? VR_EV_WRITE : 0);
    events &= w->events;
    if (events == 0)
        return;
    if (what & EPOLLERR)
        events |= w->error_bit;
    w->cb(fd, events, w->arg);
}

static void watch_fired(evutil_socket_t fd, short what, void *arg)
{
    struct vr_watch *w = arg;
    unsigned events = ((what & EV_READ) ? VR_EV_READ : 0) | ((what & EV_WRITE) ? VR_EV_WRITE : 0);
    if (w->error_bit) {
        /* libevent does not pass EPOLLERR on: ask, without consuming the
         * error (SO_ERROR would clear it). */
        struct pollfd p = {.fd = (int)fd, .events = POLLIN | POLLOUT};
        if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR))
            events |= w->error_bit;
    }
    w->cb((int)fd, events, w->arg);
}

/* Puts w's registration in line with events (0: paused, out of the set). */
static int watch_apply(struct vr_watch *w, unsigned events)
{
    w->events = events & (VR_EV_READ | VR_EV_WRITE);
    if (w->loop == NULL) {
        event_del(w->ev);
        if (event_assign(w->ev, w->inst->base, w->fd, to_libevent(events), watch_fired, w) < 0)
            return -1;
        return w->events ? event_add(w->ev, NULL) : 0;
    }
    if (w->events == 0) {
        /* Paused: out of the set, as epoll reports an error or hang-up
         * whatever the mask. */
        if (w->registered)
            vr_fdloop_del(w->loop, w->fd, w);
        w->registered = false;
        return 0;
    }
    int r = w->registered ? vr_fdloop_modify(w->loop, w->fd, to_epoll(w->events))
                          : vr_fdloop_add(w->loop, w->fd, to_epoll(w->events), watch_event, w);
    if (r < 0)
        return -1;
    w->registered = true;
    return 0;
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
    /* A second watch on an fd that has one (the ABI allows it; no module
     * of ours does it) cannot share the loop's one registration per fd. */
    w->loop = inst->loop && !vr_fdloop_active(inst->loop, fd) ? inst->loop : NULL;
    w->error_bit = inst->module && inst->module->desc->abi_minor >= 2 ? VR_EV_ERROR : 0;
    if (w->loop == NULL && (w->ev = event_new(inst->base, fd, to_libevent(events), watch_fired, w)) == NULL) {
        free(w);
        return NULL;
    }
    if (watch_apply(w, events) < 0) {
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
    if (w->loop && w->registered && (events & (VR_EV_READ | VR_EV_WRITE)) == w->events)
        return 0;
    return watch_apply(w, events);
}

void vr_watch_free(struct vr_watch *w)
{
    if (w == NULL)
        return;
    if (w->ev)
        event_free(w->ev);
    /* A no-op when another owner took the fd over meanwhile (direct hands
     * its connected socket to the relay, then removes its watch): the
     * registration is the new owner's now. */
    if (w->registered)
        vr_fdloop_del(w->loop, w->fd, w);
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
