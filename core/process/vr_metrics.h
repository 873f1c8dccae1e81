/* The metrics endpoint: daemon.metrics = { address; port; } serves
 * GET /metrics over HTTP (libevent's evhttp, on the daemon's loop) in the
 * Prometheus text format 0.0.4, or OpenMetrics 1.0.0 text when the scraper's
 * Accept header asks for application/openmetrics-text. Every value is read
 * at scrape time from where it is counted (workers, generations, instances,
 * /proc); docs/METRICS.md lists the families. */
#ifndef VR_METRICS_H
#define VR_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vr_config.h"

struct event_base;
struct evhttp;
struct vr_worker;
struct vr_generation;

struct vr_metrics_server {
    struct evhttp *http;
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

struct vr_metrics {
    struct event_base *base;
    /* What is read at scrape time: the workers (one today; with several,
     * every table is summed by its labels) and the active generation. */
    struct vr_worker *workers;
    size_t n_workers;
    struct vr_generation *const *active;
    struct vr_metrics_server cur, next; /* next: opened by prepare, until commit or abort */
    uint64_t reloads_ok, reloads_failed;
    double last_reload_ok_s; /* unix time of the last successful load (start or reload) */
};

void vr_metrics_init(struct vr_metrics *m, struct event_base *base, struct vr_worker *workers, size_t n_workers,
                     struct vr_generation *const *active);
/* Opens the endpoint cfg asks for if it differs from the one open (a bind
 * failure is a FILE:LINE error in errs; nothing changes then). Commit makes
 * it the one served and closes the old; abort closes what prepare opened. */
int vr_metrics_prepare(struct vr_metrics *m, const struct vr_daemon_cfg *cfg, struct vr_errors *errs);
void vr_metrics_commit(struct vr_metrics *m, const struct vr_daemon_cfg *cfg);
void vr_metrics_abort(struct vr_metrics *m);
/* A config load finished: at start (reload false) or a reload. */
void vr_metrics_loaded(struct vr_metrics *m, bool reload, bool ok);
void vr_metrics_fini(struct vr_metrics *m);

#endif
