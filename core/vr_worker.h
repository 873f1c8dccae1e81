/* A worker: one event loop with its connections and pipe pool. Today the
 * daemon runs one worker on the main thread; the structure keeps everything
 * per worker so that one loop per CPU (SO_REUSEPORT listeners) can follow. */
#ifndef VR_WORKER_H
#define VR_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "vr_clients.h"
#include "vr_pipepool.h"
#include "vr_wheel.h"

struct event;
struct event_base;
struct vr_conn;

struct vr_worker {
    struct event_base *base;
    struct vr_pipepool pipes;
    struct vr_conn *conns; /* every live connection, newest first */
    size_t n_conns;
    uint64_t next_flow_id;
    struct vr_wheel deadlines; /* each relaying connection's next idle or stall deadline */
    uint32_t idle_timeout_s;
    /* Limits, set by the daemon from the config and the open-file limit. */
    uint64_t fd_budget;       /* fds for connections' sockets and pipes */
    uint32_t max_conns;       /* daemon.max_connections, lowered to what fd_budget allows */
    uint32_t max_per_client;  /* TCP connections per client, 0: no cap */
    uint8_t client_prefix_v6; /* how IPv6 clients are counted */
    struct vr_clients clients;
    /* totals since start */
    uint64_t accepted, refused, closed;
};

int vr_worker_init(struct vr_worker *w, struct event_base *base);
void vr_worker_fini(struct vr_worker *w);
void vr_worker_link(struct vr_worker *w, struct vr_conn *c);
void vr_worker_unlink(struct vr_worker *w, struct vr_conn *c);
/* The fds budgeted: two per connection and two per pipe (lent or pooled). */
uint64_t vr_worker_fds(const struct vr_worker *w);
/* Sets fd_budget; the pipe pool gets what the connections leave of it. */
void vr_worker_set_fd_budget(struct vr_worker *w, uint64_t fds);

#endif
