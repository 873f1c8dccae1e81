/* The zero-copy relay between a client and a server socket: splice(2)
 * through a pipe per direction, borrowed from the worker's pool only while
 * bytes move. Half-close is passed on (FIN one way -> shutdown(SHUT_WR) on
 * the other side once the pipe is drained). */
#ifndef VR_RELAY_H
#define VR_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "vr_pipepool.h"

struct event;
struct event_base;

enum vr_relay_want { VR_WANT_NONE, VR_WANT_READ, VR_WANT_WRITE };

struct vr_relay_dir {
    int from, to;
    struct vr_pipe pipe;
    size_t in_pipe;
    uint64_t bytes;
    uint8_t *early; /* bytes already read (while sniffing) to send first */
    uint32_t early_len, early_off;
    uint8_t want;   /* enum vr_relay_want */
    bool eof;       /* read side saw FIN */
    bool shut;      /* FIN passed on (or left to the close that follows) */
    bool rdhup;     /* epoll said the read side has a FIN queued */
};

/* Called once when the relay ends: err 0 when both directions closed
 * cleanly, else a negative errno. */
typedef void (*vr_relay_done_cb)(void *arg, int err);

struct vr_relay {
    struct vr_relay_dir up;   /* client -> server */
    struct vr_relay_dir down; /* server -> client */
    struct event *ev_client, *ev_server;
    short mask_client, mask_server;
    struct vr_pipepool *pool;
    vr_relay_done_cb done;
    void *arg;
    uint64_t *last_active_ms;
    bool finished;
};

/* Starts relaying; early (may be NULL) is sent to the server first and freed
 * by the relay. Returns 0 or a negative errno. */
int vr_relay_start(struct vr_relay *r, struct event_base *base, struct vr_pipepool *pool, int client_fd,
                   int server_fd, uint8_t *early, size_t early_len, vr_relay_done_cb done, void *arg,
                   uint64_t *last_active_ms);
/* Releases events and pipes; does not close the sockets. */
void vr_relay_stop(struct vr_relay *r);

#endif
