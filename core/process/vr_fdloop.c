#include "vr_fdloop.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Events taken per epoll_wait; more wait for the next call (level
 * triggered on libevent's side: the set's fd stays readable). */
#define VR_FDLOOP_BATCH 256

enum reg_state { REG_FREE, REG_ACTIVE };

struct reg {
    vr_fdloop_cb cb;
    void *owner;
    uint32_t seq;
    uint8_t state; /* enum reg_state */
    bool again;    /* to be called again on the next turn */
    bool linked;   /* on the ready list (again may have been cleared since) */
    int next;      /* the ready list: the next fd, or -1 */
};

struct vr_fdloop {
    struct event_base *base;
    int epfd;
    struct event *ev;    /* the set's fd, persistent EV_READ */
    struct event *turn;  /* 0 ms timer: the next turn, for the ready list */
    struct reg *regs;
    size_t cap;
    int ready_head, ready_tail; /* fds to call again, -1: none */
    struct vr_fdloop_stats stats;
    struct vr_fdloop *next; /* in the registry */
};

/* base -> loop, for the set-up paths that have only a base. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct vr_fdloop *registry;

static uint64_t data_of(int fd, uint32_t seq) { return (uint32_t)fd | (uint64_t)seq << 32; }

static int reserve(struct vr_fdloop *l, int fd)
{
    if (fd < 0)
        return -EBADF;
    if ((size_t)fd < l->cap)
        return 0;
    size_t cap = l->cap ? l->cap : 256;
    while (cap <= (size_t)fd)
        cap *= 2;
    struct reg *r = realloc(l->regs, cap * sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    memset(r + l->cap, 0, (cap - l->cap) * sizeof(*r));
    for (size_t i = l->cap; i < cap; i++)
        r[i].next = -1;
    l->regs = r;
    l->cap = cap;
    return 0;
}

static struct reg *reg_of(struct vr_fdloop *l, int fd)
{
    return fd >= 0 && (size_t)fd < l->cap ? &l->regs[fd] : NULL;
}

static int ctl(struct vr_fdloop *l, int op, int fd, uint32_t events, uint32_t seq)
{
    struct epoll_event ev = {.events = events, .data.u64 = data_of(fd, seq)};
    if (op == EPOLL_CTL_ADD)
        l->stats.ctl_add++;
    else if (op == EPOLL_CTL_MOD)
        l->stats.ctl_mod++;
    else
        l->stats.ctl_del++;
    return epoll_ctl(l->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static void arm_turn(struct vr_fdloop *l)
{
    static const struct timeval now = {0, 0};
    if (!evtimer_pending(l->turn, NULL))
        evtimer_add(l->turn, &now);
}

/* The owners that asked to run again, as queued before this turn (one that
 * asks again from its callback waits for the next turn). The list is linked
 * through the table, so queueing never allocates. */
static void run_ready(struct vr_fdloop *l)
{
    int fd = l->ready_head;
    l->ready_head = l->ready_tail = -1;
    while (fd >= 0) {
        struct reg *r = &l->regs[fd];
        int next = r->next;
        r->linked = false;
        r->next = -1;
        if (r->state == REG_ACTIVE && r->again) {
            r->again = false;
            r->cb(r->owner, fd, 0);
        }
        fd = next;
    }
}

static void on_turn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_fdloop *l = arg;
    run_ready(l);
    if (l->ready_head >= 0)
        arm_turn(l);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_fdloop *l = arg;
    struct epoll_event evs[VR_FDLOOP_BATCH];
    int n = epoll_wait(l->epfd, evs, VR_FDLOOP_BATCH, 0);
    for (int i = 0; i < n; i++) {
        int efd = (int)(uint32_t)evs[i].data.u64;
        uint32_t seq = (uint32_t)(evs[i].data.u64 >> 32);
        struct reg *r = reg_of(l, efd);
        if (r == NULL || r->state != REG_ACTIVE || r->seq != seq) {
            l->stats.dropped++;
            continue;
        }
        r->cb(r->owner, efd, evs[i].events);
    }
}

struct vr_fdloop *vr_fdloop_new(struct event_base *base)
{
    struct vr_fdloop *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->base = base;
    l->ready_head = l->ready_tail = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    l->ev = event_new(base, l->epfd, EV_READ | EV_PERSIST, on_readable, l);
    l->turn = evtimer_new(base, on_turn, l);
    if (l->ev == NULL || l->turn == NULL || event_add(l->ev, NULL) < 0) {
        if (l->ev)
            event_free(l->ev);
        if (l->turn)
            event_free(l->turn);
        close(l->epfd);
        free(l);
        return NULL;
    }
    pthread_mutex_lock(&registry_mu);
    l->next = registry;
    registry = l;
    pthread_mutex_unlock(&registry_mu);
    return l;
}

void vr_fdloop_free(struct vr_fdloop *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&registry_mu);
    for (struct vr_fdloop **p = &registry; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    pthread_mutex_unlock(&registry_mu);
    event_free(l->ev);
    event_free(l->turn);
    close(l->epfd);
    free(l->regs);
    free(l);
}

struct vr_fdloop *vr_fdloop_of(const struct event_base *base)
{
    pthread_mutex_lock(&registry_mu);
    struct vr_fdloop *l = registry;
    while (l && l->base != base)
        l = l->next;
    pthread_mutex_unlock(&registry_mu);
    return l;
}

int vr_fdloop_add(struct vr_fdloop *l, int fd, uint32_t events, vr_fdloop_cb cb, void *owner)
{
    int err = reserve(l, fd);
    if (err < 0)
        return err;
    struct reg *r = &l->regs[fd];
    uint32_t seq = r->seq + 1;
    /* A live registration (of another owner, who hands the fd on and lets
     * go of it after: vr_fdloop_del is then a no-op for it) is taken over
     * with a MOD. ADD and MOD fall back on each other when the set says
     * otherwise: a forgotten fd whose socket stayed open (a relay started
     * again on the same sockets) is still there. */
    bool in_set = r->state == REG_ACTIVE;
    err = ctl(l, in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, events, seq);
    if (err == -ENOENT && in_set)
        err = ctl(l, EPOLL_CTL_ADD, fd, events, seq);
    else if (err == -EEXIST && !in_set)
        err = ctl(l, EPOLL_CTL_MOD, fd, events, seq);
    if (err < 0)
        return err;
    r->seq = seq;
    r->state = REG_ACTIVE;
    r->cb = cb;
    r->owner = owner;
    r->again = false;
    return 0;
}

bool vr_fdloop_active(const struct vr_fdloop *l, int fd)
{
    return fd >= 0 && (size_t)fd < l->cap && l->regs[fd].state == REG_ACTIVE;
}

int vr_fdloop_modify(struct vr_fdloop *l, int fd, uint32_t events)
{
    struct reg *r = reg_of(l, fd);
    if (r == NULL || r->state != REG_ACTIVE)
        return -ENOENT;
    return ctl(l, EPOLL_CTL_MOD, fd, events, r->seq);
}

void vr_fdloop_set_owner(struct vr_fdloop *l, int fd, vr_fdloop_cb cb, void *owner)
{
    struct reg *r = reg_of(l, fd);
    if (r == NULL || r->state != REG_ACTIVE)
        return;
    r->cb = cb;
    r->owner = owner;
}

void vr_fdloop_forget(struct vr_fdloop *l, int fd, const void *owner)
{
    struct reg *r = reg_of(l, fd);
    if (r == NULL || r->state != REG_ACTIVE || r->owner != owner)
        return;
    r->state = REG_FREE;
    r->seq++;
    r->again = false;
}

void vr_fdloop_del(struct vr_fdloop *l, int fd, const void *owner)
{
    struct reg *r = reg_of(l, fd);
    if (r == NULL || r->state != REG_ACTIVE || r->owner != owner)
        return;
    /* Now, while the fd is surely open: deferring it would touch an fd the
     * owner may have closed since, and another thread reused. */
    ctl(l, EPOLL_CTL_DEL, fd, 0, 0);
    r->state = REG_FREE;
    r->seq++;
    r->again = false;
}

void vr_fdloop_again(struct vr_fdloop *l, int fd)
{
    struct reg *r = reg_of(l, fd);
    if (r == NULL || r->state != REG_ACTIVE)
        return;
    r->again = true;
    if (!r->linked) {
        r->linked = true;
        r->next = -1;
        if (l->ready_tail >= 0)
            l->regs[l->ready_tail].next = fd;
        else
            l->ready_head = fd;
        l->ready_tail = fd;
    }
    arm_turn(l);
}

void vr_fdloop_stats(const struct vr_fdloop *l, struct vr_fdloop_stats *out) { *out = l->stats; }
