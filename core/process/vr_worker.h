/* A worker: one event loop with its connections and pipe pool. Today the
 * daemon runs one worker on the main thread; the structure keeps everything
 * per worker so that one loop per CPU (SO_REUSEPORT listeners) can follow. */
#ifndef VR_WORKER_H
#define VR_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "vr_clients.h"
#include "vr_metrics_flows.h"
#include "vr_pipepool.h"
#include "vr_wheel.h"

struct event;
struct event_base;
struct vr_conn;
struct vr_generation;
struct vr_listener;
struct vr_udp_listener;

struct vr_worker {
    struct event_base *base;
    /* What a new flow starts with: the active generation (a reference) and
     * the listeners it is accepted on. Set by the daemon at start and at
     * each reload; flows never look further than their worker. */
    struct vr_generation *gen;
    struct vr_listener *listeners;
    struct vr_udp_listener *udp_listeners;
    /* Accepting: paused at max_conns, while short of files (a back-off) and
     * for good once draining; on_drained runs when the last connection of a
     * draining worker closes. */
    bool draining;
    bool fd_starved;
    uint64_t starved_since_ms; /* first failed accept of the current shortage, 0 when none */
    uint64_t starved_retries;
    struct event *resume_timer;
    void (*on_drained)(struct vr_worker *w);
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
    struct vr_flow_stats flows; /* per (listener, outbound): read by the metrics endpoint */
};

int vr_worker_init(struct vr_worker *w, struct event_base *base);
/* The active generation changed (start, reload): take a reference to g. */
void vr_worker_set_generation(struct vr_worker *w, struct vr_generation *g);
/* Flow ids are unique per run across TCP connections and UDP sessions. */
uint64_t vr_worker_next_flow_id(struct vr_worker *w);
/* The accept gate of w's listeners. */
bool vr_worker_may_accept(struct vr_worker *w);
/* accept failed for want of files or memory (err): back off briefly; the
 * first failure of a shortage is logged with what to do. */
void vr_worker_accept_starved(struct vr_worker *w, const char *listener_tag, int err);
/* An accept succeeded: ends (and logs the end of) a shortage. */
void vr_worker_accepted(struct vr_worker *w);
/* A connection of w closed (called by vr_conn_close after unlinking it). */
void vr_worker_conn_closed(struct vr_worker *w);
/* Watches the listeners again if nothing holds them paused (a reload raised
 * the limit). */
void vr_worker_resume(struct vr_worker *w);
/* Stops accepting for good; on_drained runs at the last connection (at
 * once, from here, when there is none: returns true then). */
bool vr_worker_drain(struct vr_worker *w);
void vr_worker_fini(struct vr_worker *w);
void vr_worker_link(struct vr_worker *w, struct vr_conn *c);
void vr_worker_unlink(struct vr_worker *w, struct vr_conn *c);
/* The fds budgeted: two per connection and two per pipe (lent or pooled). */
uint64_t vr_worker_fds(const struct vr_worker *w);
/* Sets fd_budget; the pipe pool gets what the connections leave of it. */
void vr_worker_set_fd_budget(struct vr_worker *w, uint64_t fds);

#endif
