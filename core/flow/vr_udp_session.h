/* UDP sessions: one per key of the listener's NAT mode. A new session holds
 * its first datagrams while the datagram sniffers decide (bounded in count,
 * bytes and sniff_timeout_ms), routes by the same rules as TCP with
 * network "udp", opens an association on the chosen outbound, and relays
 * datagrams both ways; replies go to the client from the remote's address
 * and port through transparent reply sockets. Each session keeps the config
 * generation it started in. One log line per session at its end. */
#ifndef VR_UDP_SESSION_H
#define VR_UDP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct vr_udp_listener;

/* A datagram from client src to original destination dst (both unmapped). */
void vr_udp_session_input(struct vr_udp_listener *l, const struct sockaddr_storage *src,
                          const struct sockaddr_storage *dst, const uint8_t *data, size_t len);
/* Ends sessions idle past their timeout; closes idle reply sockets.
 * Returns the milliseconds until the next session reaches its timeout if
 * nothing happens meanwhile (UINT64_MAX with no session). */
uint64_t vr_udp_sessions_sweep(struct vr_udp_listener *l, uint64_t now_ms);
/* Ends every session (listener closing, shutdown); reap frees them. */
void vr_udp_sessions_close_all(struct vr_udp_listener *l, const char *why);
struct vr_generation;
/* Counts l's live sessions that started in generation g; with why != NULL
 * it also ends them, logged with that reason. */
size_t vr_udp_sessions_of_generation(struct vr_udp_listener *l, const struct vr_generation *g, const char *why);
/* One live session as the control socket lists it (pointers valid until
 * the callback returns). */
struct vr_udp_session_info {
    uint64_t id;
    const struct vr_generation *gen;
    const struct sockaddr_storage *client, *dst; /* dst: the first destination */
    const char *domain, *protocol;               /* NULL when unknown */
    const char *rule, *outbound;                 /* of the first leg; NULL while sniffing */
    const char *state;                           /* "sniffing", "open" */
    uint64_t started_ms, last_ms;
    uint64_t up_bytes, down_bytes, up_dgrams, down_dgrams;
};
/* Calls fn for each live session of l. */
void vr_udp_sessions_each(struct vr_udp_listener *l, void (*fn)(const struct vr_udp_session_info *i, void *arg),
                          void *arg);
/* Ends session id of l if it is live, logged with why; returns whether it was. */
bool vr_udp_session_kill(struct vr_udp_listener *l, uint64_t id, const char *why);

/* Frees ended sessions: closes their associations, drops generations. */
void vr_udp_sessions_reap(struct vr_udp_listener *l);

#endif
