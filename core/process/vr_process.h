/* The daemon: the active generation, the listeners, signals, reload and
 * drain. One per process. */
#ifndef VR_PROCESS_H
#define VR_PROCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "vr_generation.h"
#include "vr_metrics.h"
#include "vr_worker.h"
#include "vr_relay_mode.h"

struct event;
struct event_base;
struct vr_fdloop;
struct vr_control;
struct vr_errors;
struct vr_generation;

struct vr_daemon {
    struct event_base *base; /* the main thread's: signals, reload, control, metrics, installers */
    struct vr_fdloop *fdloop; /* base's raw epoll set: the installers' fd watches */
    /* The workers, each on its own thread with its listeners, flows and
     * its own view of the active generation. The main thread reaches them
     * only through vr_worker_thread.h. */
    struct vr_worker *workers;
    size_t n_workers;
    struct vr_worker_shared shared;
    struct vr_gen_placement place; /* each generation's instance sets: one per worker */
    struct event_base **bases;     /* place.bases */
    struct event *drained_ev;      /* a worker's last connection closed while draining */
    struct vr_generation *gen; /* active: what the next reload replaces */
    const char *config_path;
    uint64_t next_gen_id;
    struct event *sig_hup, *sig_term, *sig_int, *sig_usr1;
    struct event *drain_timer;
    struct vr_metrics metrics; /* daemon.metrics: reads the worker and gen */
    struct vr_control *control; /* daemon.control; NULL when it never was on */
    uint64_t started_ms;        /* vr_now_ms() at start */
    bool draining;
    bool workers_forced; /* -w: daemon.workers is not read */
    struct vr_relay_mode relay; /* daemon.relay: the sockmap program, once loaded */
};

/* Runs the daemon with config path until it is told to stop; returns the
 * process exit status. workers > 0 overrides daemon.workers (-w). */
int vr_process_run(const char *path, unsigned workers);

/* Reads the config file again and makes it the active generation (SIGHUP,
 * the control socket's reload). Returns the new generation's id, or 0 with
 * every error in errs (FILE:LINE messages) and the old generation kept. */
uint64_t vr_process_reload(struct vr_errors *errs);

/* daemon.workers = 0: one worker per online CPU (at most VR_MAX_WORKERS). */
unsigned vr_online_cpus(void);

#endif
