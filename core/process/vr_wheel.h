/* A timer wheel for the deadlines of many flows: one-second slots, O(1) to
 * schedule, move or cancel a deadline, and one wakeup a second while any is
 * pending, whatever their number. An idle connection costs nothing until its
 * slot comes round (with a deadline further out than the wheel's span it is
 * looked at once per turn: once every VR_WHEEL_SLOTS seconds).
 *
 * Entries are embedded in their owner and never allocated by the wheel.
 * A deadline fires at most about a second late, never early. */
#ifndef VR_WHEEL_H
#define VR_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct event_base;

#define VR_WHEEL_SLOTS 256

struct vr_wheel_link {
    struct vr_wheel_link *prev, *next;
};

struct vr_wheel_entry {
    struct vr_wheel_link link; /* prev == NULL while not scheduled */
    uint64_t due_s;            /* the second it is due (rounded up) */
};

struct vr_wheel;
/* Called for an entry whose deadline passed; it is no longer scheduled and
 * may be scheduled again or freed by the callee. */
typedef void (*vr_wheel_expire_cb)(struct vr_wheel_entry *e, uint64_t now_ms, void *arg);

struct vr_wheel {
    struct vr_wheel_link slots[VR_WHEEL_SLOTS];
    struct vr_wheel_link running; /* the slot being expired */
    size_t n;
    uint64_t done_s; /* every slot up to this second has been looked at */
    struct event *tick;
    bool armed;
    vr_wheel_expire_cb expire;
    void *arg;
};

int vr_wheel_init(struct vr_wheel *wh, struct event_base *base, vr_wheel_expire_cb expire, void *arg);
/* Forgets every entry (their owners are freed elsewhere). */
void vr_wheel_fini(struct vr_wheel *wh);
/* (Re)schedules e for due_ms (vr_now_ms time). */
void vr_wheel_schedule(struct vr_wheel *wh, struct vr_wheel_entry *e, uint64_t due_ms);
/* Moves e to due_ms only if that comes before its current deadline (or it
 * has none). */
void vr_wheel_advance(struct vr_wheel *wh, struct vr_wheel_entry *e, uint64_t due_ms);
void vr_wheel_cancel(struct vr_wheel *wh, struct vr_wheel_entry *e);
static inline bool vr_wheel_scheduled(const struct vr_wheel_entry *e) { return e->link.prev != NULL; }

#endif
