/* A worker: one event loop with its connections and pipe pool. Today the
 * daemon runs one worker on the main thread; the structure keeps everything
 * per worker so that one loop per CPU (SO_REUSEPORT listeners) can follow. */
#ifndef VR_WORKER_H
#define VR_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "vr_pipepool.h"

struct event;
struct event_base;
struct vr_conn;

struct vr_worker {
    struct event_base *base;
    struct vr_pipepool pipes;
    struct vr_conn *conns; /* every live connection, newest first */
    size_t n_conns;
    uint64_t next_flow_id;
    struct event *sweep; /* idle-timeout sweep, once a second */
    uint32_t idle_timeout_s;
    /* totals since start */
    uint64_t accepted, refused, closed;
};

int vr_worker_init(struct vr_worker *w, struct event_base *base);
void vr_worker_fini(struct vr_worker *w);
void vr_worker_link(struct vr_worker *w, struct vr_conn *c);
void vr_worker_unlink(struct vr_worker *w, struct vr_conn *c);

#endif
