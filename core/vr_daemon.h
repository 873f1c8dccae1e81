/* The daemon: the active generation, the listeners, signals, reload and
 * drain. One per process. */
#ifndef VR_DAEMON_H
#define VR_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "vr_worker.h"

struct event;
struct event_base;
struct vr_generation;
struct vr_listener;
struct vr_udp_listener;

struct vr_daemon {
    struct event_base *base;
    struct vr_worker worker;
    struct vr_generation *gen; /* active: new connections start in it */
    struct vr_listener *listeners;
    struct vr_udp_listener *udp_listeners;
    const char *config_path;
    uint64_t next_gen_id;
    bool draining;
    bool fd_starved; /* accept hit EMFILE/ENFILE: paused for a moment */
    uint64_t starved_since_ms; /* first failed accept of the current shortage, 0 when none */
    uint64_t starved_retries;  /* accept retries during it */
    struct event *sig_hup, *sig_term, *sig_int, *sig_usr1;
    struct event *drain_timer, *resume_timer;
};

extern struct vr_daemon vr_daemon;

/* Runs the daemon with config path until it is told to stop; returns the
 * process exit status. */
int vr_daemon_run(const char *path);

/* Listener accept bookkeeping. */
bool vr_daemon_may_accept(void);
/* accept failed for want of files or memory (err): back off briefly; the
 * first failure of a shortage is logged with what to do. */
void vr_daemon_accept_starved(const char *listener_tag, int err);
/* An accept succeeded: ends (and logs the end of) a shortage. */
void vr_daemon_accepted(void);
void vr_daemon_conn_closed(void);
/* Flow ids are unique per run across TCP connections and UDP sessions. */
uint64_t vr_daemon_next_flow_id(void);

#endif
