/* The zero-copy relay between a client and a server socket: splice(2)
 * through a pipe per direction, borrowed from the worker's pool only while
 * bytes move. Half-close is passed on (FIN one way -> shutdown(SHUT_WR) on
 * the other side once the pipe is drained).
 *
 * A pipe costs two fds, so a direction never keeps one it cannot use:
 * - when its receiver has not taken a byte for VR_RELAY_STALL_MS, the bytes
 *   left in the pipe move to a userspace buffer of exactly their size and
 *   the pipe goes back to the pool (vr_relay_unstick, when the connection's
 *   deadline comes: stall_cb moves it forward); a stalled connection then
 *   holds its two sockets only;
 * - when the pool has no pipe to lend (the fd budget, or the kernel, says
 *   no), the direction copies through a shared bounce buffer and keeps what
 *   the receiver did not take in a buffer of its own. A transfer never fails
 *   for want of a pipe.
 * The same buffer carries the bytes read while sniffing: it is freed as soon
 * as the receiver has taken them all.
 *
 * The sockets are on the worker's raw epoll set (vr_fdloop.h), each
 * registered once, edge-triggered: a direction reads until EAGAIN (or a
 * recv shorter than asked, which proves a TCP socket empty) and writes
 * until EAGAIN, and after VR_PUMP_ROUNDS calls it yields and is called again
 * on the loop's next turn. The first bytes of each direction (a request, an
 * answer) are copied through a bounce buffer rather than spliced: a short
 * connection then needs no pipe and no read that only says EAGAIN. */
#ifndef VR_RELAY_H
#define VR_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/epoll.h>

#include "vr_pipepool.h"

struct event;
struct event_base;
struct vr_fdloop;

/* A receiver that takes nothing for this long gives its pipe back. */
#define VR_RELAY_STALL_MS 2000

struct vr_relay_dir {
    int from, to;
    struct vr_pipe pipe;
    size_t in_pipe;
    uint64_t bytes;
    uint8_t *buf;   /* bytes already read, sent before anything else (sniffed head, a stalled pipe's bytes, a copy) */
    uint32_t buf_len, buf_off;
    uint64_t stalled_ms; /* when the receiver last refused bytes it had pending, 0 when it takes them */
    /* Edge-triggered readiness: set by an epoll report, cleared by EAGAIN. */
    bool can_read;  /* from may hold bytes, a FIN or an error */
    bool can_write; /* to may take bytes */
    bool rdhup;     /* epoll reported a FIN (or error) on from: read to it even after a short recv */
    bool yielded;   /* stopped after VR_PUMP_ROUNDS with work left */
    bool eof;       /* read side saw FIN */
    bool shut;      /* FIN passed on (or left to the close that follows): this direction is done */
    bool early;     /* buf holds the bytes handed over at start (sniffed) */
};

/* Called once when the relay ends: err 0 when both directions closed
 * cleanly, else a negative errno. */
typedef void (*vr_relay_done_cb)(void *arg, int err);

struct vr_relay {
    struct vr_relay_dir up;   /* client -> server */
    struct vr_relay_dir down; /* server -> client */
    struct vr_fdloop *loop; /* the splice relay's sockets are registered there (edge-triggered) */
    bool reg_client, reg_server;
    bool out_client, out_server; /* the registration asks for EPOLLOUT too (after a send said EAGAIN) */
    struct event *ev_client, *ev_server; /* the kernel relay's (vr_relay_sockmap.c) watches */
    struct vr_pipepool *pool;
    vr_relay_done_cb done;
    void *arg;
    uint64_t *last_active_ms;
    void (*stall_cb)(void *arg, uint64_t due_ms); /* vr_relay_owner.stalled */
    bool finished;
    struct vr_relay_kernel *kernel; /* relayed by the kernel (vr_relay_sockmap.c), else NULL */
};

/* Who a relay reports to. */
struct vr_relay_owner {
    vr_relay_done_cb done;
    /* May be NULL: a direction holding a pipe started to stall; due_ms is
     * when vr_relay_unstick would give that pipe back. */
    void (*stalled)(void *arg, uint64_t due_ms);
    void *arg;
    uint64_t *last_active_ms; /* set at every event */
    /* The client's fd is already registered on the loop with
     * VR_RELAY_EVENTS by the caller (the sniff): the relay takes that
     * registration over without a system call. client_readable: an epoll
     * report since the caller last read the client to empty (bytes or a FIN
     * may wait; edge-triggered, no new report would come for them). */
    bool client_registered;
    bool client_readable;
    bool client_rdhup; /* and it told of a FIN: read on to it even after a short read */
};

/* The relay's epoll events for each socket: edge-triggered, bytes and the
 * FIN; EPOLLOUT is added once a send to the socket said EAGAIN. Register
 * the client with them to hand it over (client_registered). */
#define VR_RELAY_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLET)

/* Starts relaying on loop: each socket is registered once, edge-triggered,
 * and stays so until vr_relay_stop (one MOD to add EPOLLOUT the first time
 * the socket refuses bytes, no DEL: the owner
 * closes the sockets after the stop). A socket still registered by its
 * outbound (the connect watch, removed after the hand-over) is taken over
 * with one EPOLL_CTL_MOD. early (may be NULL) is sent to the server first and freed
 * by the relay, also when it fails. Returns 0 or a negative errno. done may
 * run before this returns (both sides finished at once): the owner must not
 * touch what done frees afterwards. */
int vr_relay_start(struct vr_relay *r, struct vr_fdloop *loop, struct vr_pipepool *pool, int client_fd,
                   int server_fd, uint8_t *early, size_t early_len, const struct vr_relay_owner *owner);
/* The same for a connection whose first bytes another relay moved (the
 * sockmap relay giving it up before the kernel took over): the counts go on
 * from up_bytes and down_bytes; down_head (may be NULL, freed by the relay
 * like early) holds bytes already read from the server, sent to the client
 * first. */
int vr_relay_start_after(struct vr_relay *r, struct vr_fdloop *loop, struct vr_pipepool *pool, int client_fd,
                         int server_fd, uint8_t *early, size_t early_len, const struct vr_relay_owner *owner,
                         uint64_t up_bytes, uint64_t down_bytes, uint8_t *down_head, size_t down_len);
/* Gives back the pipe of each direction whose receiver has taken nothing
 * since stall_ms before now (its bytes move to a buffer). Returns when to
 * look again for a direction still stalled with a pipe, else 0. */
uint64_t vr_relay_unstick(struct vr_relay *r, uint64_t now_ms, uint64_t stall_ms);
/* Releases registrations, pipes and buffers; does not close the sockets,
 * but the caller must close them (or start a relay on them again): their
 * registrations are forgotten without a system call (vr_fdloop_forget). */
void vr_relay_stop(struct vr_relay *r);

#endif
