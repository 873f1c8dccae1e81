/*
 * The daemon's one FakeIP pool (vr_fakeip.h): made when a config first
 * has dns.fakeip, kept across reloads (mappings a client still holds stay
 * good), loaded from and saved to dns.fakeip.persist. The main thread
 * applies configs and saves; workers and the resolver read the pool
 * through vr_fakeip_active().
 */
#ifndef VR_FAKEIP_SERVICE_H
#define VR_FAKEIP_SERVICE_H

struct event_base;
struct vr_config;
struct vr_fakeip_pool;

/* The pool, or NULL while no config ever had dns.fakeip. Any thread. */
struct vr_fakeip_pool *vr_fakeip_active(void);

/* At start and after each successful reload, on the main thread: creates
 * or reconfigures the pool; at the first config with persist, loads the
 * file (a corrupt one is logged and set aside: the pool starts empty); arms
 * the save timer on base. A config without dns.fakeip keeps the pool with
 * no ranges: flows to the old ranges are refused, none is handed out. */
void vr_fakeip_service_apply(const struct vr_config *cfg, struct event_base *base);

/* SIGUSR1: one "stats: fakeip: ..." line, when there is a pool. */
void vr_fakeip_service_log_stats(void);

/* At exit: the last save, then the pool goes. */
void vr_fakeip_service_stop(void);

#endif
