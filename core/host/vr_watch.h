/* fd watches and timers the host hands to module instances (libevent). */
#ifndef VR_WATCH_H
#define VR_WATCH_H

#include <vrouter/vr_host.h>

struct vr_instance;

struct vr_watch *vr_watch_new(struct vr_instance *inst, int fd, unsigned events, vr_watch_cb cb, void *arg);
int vr_watch_modify(struct vr_watch *w, unsigned events);
void vr_watch_free(struct vr_watch *w);

struct vr_timer *vr_timer_new(struct vr_instance *inst, uint32_t ms, int repeat, vr_timer_cb cb, void *arg);
void vr_timer_free(struct vr_timer *t);

struct event_base;
struct timeval;
/* ms as a timeout that every event of that duration shares (libevent's
 * common timeouts: one FIFO queue per duration, O(1) to add and remove,
 * where the timer heap is O(log n)). plain is filled in and returned when
 * libevent has no room for another duration (it keeps 256 per loop). */
const struct timeval *vr_common_timeout(struct event_base *base, uint32_t ms, struct timeval *plain);

uint64_t vr_now_ms(void);
/* The same clock at tick resolution (a few ms) for per-datagram use: a
 * memory read, no clock source access. */
uint64_t vr_now_ms_coarse(void);

#endif
