/* TPROXY UDP listeners. Each datagram carries its original destination in
 * an IP_ORIGDSTADDR / IPV6_ORIGDSTADDR control message (both families on a
 * dual-stack socket); the listener hands (client, destination, payload) to
 * its session table. Like TCP listeners, a UDP listener whose address, port
 * and mode did not change keeps its socket, and its sessions, across
 * reloads. */
#ifndef VR_UDP_LISTENER_H
#define VR_UDP_LISTENER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vr_config.h"
#include "vr_udp_reply.h"
#include "vr_udp_table.h"

struct event;
struct vr_worker;
struct event_base;
struct vr_udp_session;

struct vr_udp_stats {
    uint64_t sessions;          /* created */
    uint64_t expired;           /* idle timeout */
    uint64_t evicted;           /* max_sessions reached: least recently active went */
    uint64_t evicted_by_client; /* a client at max_sessions_per_client lost its own oldest */
    uint64_t dgrams_up, bytes_up, dgrams_down, bytes_down;
    uint64_t dropped;           /* could not be sent either way */
    uint64_t filtered;          /* replies refused by the NAT mode's filtering */
    uint64_t loops;             /* addressed to vrouterd's own listener */
    uint64_t no_origdst;        /* arrived without an original destination */
    uint64_t no_fd;             /* dropped: out of file descriptors (EMFILE/ENFILE) */
    uint64_t handed_over;       /* passed to the worker that owns the session (vr_udp_owners.h) */
    uint64_t by_rule;           /* dropped: a rule's action = "reject" / "drop" (also in dropped) */
};

struct vr_udp_listener {
    char *tag; /* in the active generation */
    const struct vr_listener_cfg *cfg; /* its entry in the worker's active generation */
    struct vr_worker *worker;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint16_t port;
    int fd;
    struct event_base *base;
    struct event *ev, *sweep, *reap;
    uint8_t *rxbuf;
    struct vr_udp_table table;
    struct vr_udp_replies replies;
    struct vr_udp_session *dead; /* freed by the reap event, outside module callbacks */
    struct vr_udp_stats stats;
    /* Per-session warnings (an outbound refusing associations) are logged at
     * most once a second; the rest are counted and summed up next time. */
    uint64_t warned_ms, warnings_held;
    int match; /* reload bookkeeping: index of the config listener it serves, or -1 */
    struct vr_udp_listener *next;
};

/* Reload in two steps so that a failure anywhere leaves everything as it
 * was: prepare opens what cfg adds (into *opened) and marks what it keeps;
 * commit closes what cfg dropped, retags, and (reloading) logs what it
 * opened; abort closes *opened. */
int vr_udp_listeners_prepare(struct vr_udp_listener *current, const struct vr_config *cfg, struct vr_worker *w,
                             struct vr_udp_listener **opened, struct vr_errors *errs);
void vr_udp_listeners_commit(struct vr_udp_listener **current, struct vr_udp_listener *opened,
                             const struct vr_config *cfg, bool reloading);
void vr_udp_listeners_abort(struct vr_udp_listener *opened);
void vr_udp_listeners_close_all(struct vr_udp_listener **current);

/* Is dst one of these listeners (a loop)? */
bool vr_udp_listener_is_own(const struct vr_udp_listener *all, const struct sockaddr *dst);
/* One line for a listener: ls are its sockets in each of n workers, summed. */
void vr_udp_listener_log_stats(const struct vr_udp_listener *const *ls, size_t n);
/* On w's thread: the datagrams other workers handed over to w's sessions. */
void vr_udp_listeners_take_inbox(struct vr_worker *w);

#endif
