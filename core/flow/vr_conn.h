/* One proxied TCP connection: accepted -> (sniffed) -> routed -> connected
 * through an outbound -> relayed -> closed with one log line. It holds a
 * reference to the generation it started in, so a reload never changes or
 * drops it. */
#ifndef VR_CONN_H
#define VR_CONN_H

#include <stdint.h>
#include <sys/socket.h>

#include <vrouter/vr_plugin.h>

#include "vr_relay.h"
#include "vr_wheel.h"

struct event;
struct vr_generation;
struct vr_instance;
struct vr_listener;
struct vr_rule;
struct vr_worker;

enum vr_conn_stage { VR_CONN_SNIFFING, VR_CONN_CONNECTING, VR_CONN_RELAYING, VR_CONN_CLOSING };

struct vr_sniff_state;
struct vr_client;

struct vr_conn {
    struct vr_conn *prev, *next; /* worker list */
    struct vr_worker *worker;
    struct vr_generation *gen;
    struct vr_flow flow;
    int client_fd, server_fd;
    uint8_t stage;
    struct vr_instance *outbound;
    void *pending;               /* outbound's pending connect */
    struct vr_sniff_state *sniff; /* only while sniffing */
    struct vr_relay relay;
    uint64_t started_ms, last_active_ms;
    struct vr_wheel_entry deadline; /* while relaying: idle timeout or a stalled pipe */
    const char *end;             /* how it ended, for the log line */
    char *domain;                /* sniffed, owned */
    struct vr_client *client;    /* counted against its per-client cap (NULL: uncounted) */
    char protocol[16];
    int stats_slot;              /* its worker's flows slot (listener, outbound); -1: not counted */
    uint64_t connect_ms;         /* when the outbound connect started */
    struct event *held;          /* a rule's action = "drop": the client's socket held unread (vr_conn_action.c) */
    bool fakeip_pinned;          /* dst is a FakeIP address, domain its name, the mapping pinned (vr_flow_name.h) */
};

/* Takes ownership of fd, accepted on listener l. A client at its
 * max_connections_per_client is refused at once with a RST: waiting would
 * need the accepted socket (an fd) or stall the accept queue every client
 * shares. */
void vr_conn_accept(struct vr_listener *l, int fd, const struct sockaddr_storage *peer);
/* Closes with a reason (idle timeout, shutdown). */
void vr_conn_close(struct vr_conn *c, const char *why);
/* The worker's wheel says c's deadline came (see vr_worker.c). */
void vr_conn_deadline(struct vr_conn *c, uint64_t now_ms);

#endif
