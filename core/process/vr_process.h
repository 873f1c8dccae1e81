/* The daemon: the active generation, the listeners, signals, reload and
 * drain. One per process. */
#ifndef VR_PROCESS_H
#define VR_PROCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "vr_metrics.h"
#include "vr_worker.h"

struct event;
struct event_base;
struct vr_generation;

struct vr_daemon {
    struct event_base *base;
    struct vr_worker worker; /* holds the listeners and its own view of the active generation */
    struct vr_generation *gen; /* active: what the next reload replaces */
    const char *config_path;
    uint64_t next_gen_id;
    struct event *sig_hup, *sig_term, *sig_int, *sig_usr1;
    struct event *drain_timer;
    struct vr_metrics metrics; /* daemon.metrics: reads the worker and gen */
};

/* Runs the daemon with config path until it is told to stop; returns the
 * process exit status. */
int vr_process_run(const char *path);

#endif
