/* A worker on its own thread, and how the main thread reaches it.
 *
 * The main thread owns signals, reloads, installers, the control socket and
 * the metrics endpoint; each worker thread owns its loop and everything on
 * it (listeners, connections, UDP sessions, its module instances). The main
 * thread never touches a worker's flows while the worker runs. It either
 *   - runs a function on the worker's thread and waits for it
 *     (vr_worker_call: for anything that changes the worker or calls into
 *     its module instances), or
 *   - parks every worker for a moment and reads them all
 *     (vr_workers_stop / vr_workers_start: for read-only views that sum
 *     over workers: statistics, metrics, listings).
 * Workers never wait for the main thread, so neither can deadlock. Before
 * vr_worker_thread_start and after vr_worker_thread_stop both run directly
 * on the caller's thread. All of it is for the main thread only. */
#ifndef VR_WORKER_THREAD_H
#define VR_WORKER_THREAD_H

#include <stdbool.h>
#include <stddef.h>

struct vr_worker;

/* Once per process, before any event loop is created: loops that another
 * thread wakes need libevent's locking. */
int vr_threads_init(void);

/* Runs w's loop on a new thread (until vr_worker_thread_stop). */
int vr_worker_thread_start(struct vr_worker *w);
/* Ends w's loop and joins its thread. */
void vr_worker_thread_stop(struct vr_worker *w);

/* Runs fn(arg) on w's thread and returns when it has returned. */
void vr_worker_call(struct vr_worker *w, void (*fn)(void *arg), void *arg);
/* Each of the n workers, in turn. */
void vr_workers_call(struct vr_worker *ws, size_t n, void (*fn)(struct vr_worker *w, void *arg), void *arg);

/* Parks each of the n workers between two events (no callback of theirs
 * runs) until vr_workers_start. Keep what runs in between short: it is a
 * pause of the data path. */
void vr_workers_stop(struct vr_worker *ws, size_t n);
void vr_workers_start(struct vr_worker *ws, size_t n);

/* The events behind vr_worker_call and vr_workers_stop (made by
 * vr_worker_init). */
void vr_worker_call_cb(int fd, short what, void *arg);
void vr_worker_park_cb(int fd, short what, void *arg);

#endif
