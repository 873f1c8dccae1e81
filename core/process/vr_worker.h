/* A worker: one event loop on its own thread (vr_worker_thread.h) with its
 * listeners (SO_REUSEPORT: one accept queue and one UDP socket per worker
 * and address), connections, UDP sessions, pipe pool and counters. What
 * workers share is in struct vr_worker_shared: the connection limit, the
 * per-client caps, flow ids and which worker owns a UDP client. */
#ifndef VR_WORKER_H
#define VR_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "vr_clients.h"
#include "vr_metrics_flows.h"
#include "vr_pipepool.h"
#include "vr_udp_owners.h"
#include "vr_wheel.h"

struct event;
struct event_base;
struct vr_fdloop;
struct vr_conn;
struct vr_sockmap;
struct vr_client;
struct sockaddr;
struct vr_generation;
struct vr_listener;
struct vr_udp_listener;
struct vr_dns_server;

/* Shared by every worker of the process. */
struct vr_worker_shared {
    atomic_uint_fast64_t next_flow_id; /* unique per run across workers, TCP and UDP */
    atomic_uint_fast32_t n_conns;      /* TCP connections of all workers, against max_conns */
    uint32_t max_conns;                /* daemon.max_connections, lowered to what the fd budget allows */
    /* A shortage of files or memory at accept: one episode for all
     * workers, logged when it starts and when it ends. */
    atomic_uint_fast64_t starved_since_ms; /* 0: none */
    atomic_uint_fast64_t starved_retries;
    pthread_mutex_t clients_mu;        /* guards clients */
    struct vr_clients clients;         /* TCP connections per client, across workers */
    struct vr_worker *workers;         /* all of them, to wake those paused at max_conns */
    size_t n_workers;
    struct vr_udp_owners *udp_owners;  /* which worker owns a UDP session; NULL with one worker */
};

struct vr_worker {
    size_t index; /* 0..n-1: its module instances are gen->sets[index] */
    struct vr_worker_shared *shared;
    struct event_base *base;
    struct vr_fdloop *fdloop; /* base's raw epoll set: the relays' sockets and the instances' fd watches */
    /* Its thread and the main thread's ways in (vr_worker_thread.c). */
    pthread_t thread;
    bool threaded;
    pthread_mutex_t call_mu;
    pthread_cond_t call_cv;
    void (*call_fn)(void *arg);
    void *call_arg;
    bool call_done, parked, park_wanted;
    struct event *call_ev, *park_ev;
    struct event *wake_ev; /* another worker's connection closed under max_conns */
    struct vr_udp_inbox udp_inbox; /* datagrams other workers received for this one's UDP sessions */
    struct event *udp_inbox_ev;
    /* What a new flow starts with: the active generation (a reference) and
     * the listeners it is accepted on. Set by the daemon at start and at
     * each reload; flows never look further than their worker. */
    struct vr_generation *gen;
    struct vr_listener *listeners;
    struct vr_udp_listener *udp_listeners;
    struct vr_dns_server *dns; /* dns.listen sockets and clients (core/dns/vr_dns_server.h); NULL: none yet */
    /* Accepting: paused at max_conns, while short of files (a back-off) and
     * for good once draining; on_drained runs when the last connection of a
     * draining worker closes. */
    bool draining;
    bool fd_starved;
    struct event *resume_timer;
    void (*on_drained)(struct vr_worker *w);
    struct vr_pipepool pipes;
    struct vr_sockmap *sockmap; /* daemon.relay: relay new connections in the kernel; NULL: splice */
    struct vr_conn *conns; /* every live connection, newest first */
    size_t n_conns;
    struct vr_wheel deadlines; /* each relaying connection's next idle or stall deadline */
    uint32_t idle_timeout_s;
    /* Limits, set by the daemon from the config and the open-file limit. */
    uint64_t fd_budget;       /* fds for connections' sockets and pipes */
    uint32_t max_per_client;  /* TCP connections per client, 0: no cap */
    uint8_t client_prefix_v6; /* how IPv6 clients are counted */
    /* totals since start */
    uint64_t accepted, refused, closed;
    struct vr_flow_stats flows; /* per (listener, outbound): read by the metrics endpoint */
};

int vr_worker_shared_init(struct vr_worker_shared *s, struct vr_worker *workers, size_t n);
void vr_worker_shared_fini(struct vr_worker_shared *s);
/* Worker index of shared s, with its own new loop. */
int vr_worker_init(struct vr_worker *w, size_t index, struct vr_worker_shared *s);
/* Per-client accounting of TCP connections, across workers. */
bool vr_worker_client_admit(struct vr_worker *w, const struct sockaddr *peer, struct vr_client **out);
void vr_worker_client_leave(struct vr_worker *w, struct vr_client *c);
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
/* A connection of w closed (called by vr_conn_close after unlinking it);
 * was_at_limit: what vr_worker_unlink returned. */
void vr_worker_conn_closed(struct vr_worker *w, bool was_at_limit);
/* Watches the listeners again if nothing holds them paused (a reload raised
 * the limit). */
void vr_worker_resume(struct vr_worker *w);
/* Stops accepting for good; on_drained runs at the last connection (at
 * once, from here, when there is none: returns true then). */
bool vr_worker_drain(struct vr_worker *w);
/* Closes w's connections and drops its generation (exit; its listeners,
 * with their UDP sessions, are closed by vr_listener_set_close). */
void vr_worker_close_flows(struct vr_worker *w);
/* Frees w and its loop: after vr_worker_close_flows, and after every
 * generation whose instances live on that loop is gone. */
void vr_worker_fini(struct vr_worker *w);
void vr_worker_link(struct vr_worker *w, struct vr_conn *c);
/* Returns whether the workers were at max_conns before c went. */
bool vr_worker_unlink(struct vr_worker *w, struct vr_conn *c);
/* The fds budgeted: two per connection and two per pipe (lent or pooled). */
uint64_t vr_worker_fds(const struct vr_worker *w);
/* Sets fd_budget; the pipe pool gets what the connections leave of it. */
void vr_worker_set_fd_budget(struct vr_worker *w, uint64_t fds);

#endif
