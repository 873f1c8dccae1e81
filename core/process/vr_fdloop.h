/* A raw epoll set beside a libevent loop, for the sockets that come and go
 * with every connection (the relay's, the host's fd watches): libevent's
 * per-event bookkeeping (event_new, event_add/del, its fd map, its lock)
 * and its DEL before every close cost more than the epoll calls themselves.
 *
 * The set's fd is ONE persistent read event of the libevent base; when it
 * is readable the loop takes a batch with epoll_wait(0) and calls the
 * owners. Timers, signals, listeners and cross-thread wakeups stay on
 * libevent.
 *
 * Registrations are indexed by fd. Each carries a sequence number that is
 * part of the epoll data (fd | seq << 32), and forgetting or replacing a
 * registration changes it: an event of the same batch for an fd whose owner
 * was freed (one callback closing another connection), or closed and
 * reused, is dropped instead of reaching freed memory.
 *
 * The fds must not be dup'd (nor leak into a child across fork without
 * close-on-exec): vr_fdloop_forget relies on close() removing the
 * registration, which the kernel does only when the last reference to the
 * open file goes.
 *
 * One thread: a loop is used only on its base's thread. */
#ifndef VR_FDLOOP_H
#define VR_FDLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct vr_fdloop;

/* events: the epoll events reported (EPOLLIN, EPOLLOUT, EPOLLRDHUP,
 * EPOLLERR, EPOLLHUP), or 0 when the owner asked to run again
 * (vr_fdloop_again) and nothing new came. */
typedef void (*vr_fdloop_cb)(void *owner, int fd, uint32_t events);

/* A loop on base (registered as base's loop: vr_fdloop_of). NULL on failure. */
struct vr_fdloop *vr_fdloop_new(struct event_base *base);
/* After every registration is gone (or its fd closed). */
void vr_fdloop_free(struct vr_fdloop *l);
/* The loop made on base, or NULL (a base without one). For set-up paths
 * (instances are bound to their base's loop when made), not per event. */
struct vr_fdloop *vr_fdloop_of(const struct event_base *base);

/* Registers fd with epoll events (EPOLLET allowed) for owner. An fd with
 * a live registration of another owner is taken over with one
 * EPOLL_CTL_MOD: an owner that hands its fd on (the direct outbound's
 * connect watch, to the relay) lets go of it after the hand-over, which
 * then costs no DEL and no ADD. Returns 0 or a negative errno. */
int vr_fdloop_add(struct vr_fdloop *l, int fd, uint32_t events, vr_fdloop_cb cb, void *owner);
/* Whether fd has a live registration (of any owner). */
bool vr_fdloop_active(const struct vr_fdloop *l, int fd);
/* New events for a registered fd (EPOLL_CTL_MOD). */
int vr_fdloop_modify(struct vr_fdloop *l, int fd, uint32_t events);
/* Hands a registration to another owner (no system call): what is still to
 * come in this batch goes to the new one. */
void vr_fdloop_set_owner(struct vr_fdloop *l, int fd, vr_fdloop_cb cb, void *owner);
/* Forgets owner's registration of fd right before fd is closed: no system
 * call (close removes it from the set); events of this batch for it are
 * dropped. A registration of another owner is left alone. */
void vr_fdloop_forget(struct vr_fdloop *l, int fd, const void *owner);
/* Removes owner's registration of fd whose socket stays open (for now):
 * EPOLL_CTL_DEL; events of this batch for it are dropped. A registration
 * of another owner (it took the fd over) is left alone. */
void vr_fdloop_del(struct vr_fdloop *l, int fd, const void *owner);
/* The owner stopped with work left (fairness: a bounded number of rounds
 * per wakeup). Under edge triggering no new event would come, so the loop
 * calls it again (events 0) on its next turn, after libevent has polled. */
void vr_fdloop_again(struct vr_fdloop *l, int fd);

/* Counters for tests and the debug log. */
struct vr_fdloop_stats {
    uint64_t ctl_add, ctl_mod, ctl_del; /* epoll_ctl calls made */
    uint64_t dropped;                   /* events for a forgotten registration */
};
void vr_fdloop_stats(const struct vr_fdloop *l, struct vr_fdloop_stats *out);

#endif
