/* Who a client is, for per-client limits, and how many TCP connections each
 * one holds. A client is its source address: an IPv4 address (/32), or an
 * IPv6 prefix of daemon.client_prefix_v6 bits (default /64, the size one
 * host usually gets: privacy addresses and spoofed sources from one LAN
 * segment are one client). */
#ifndef VR_CLIENTS_H
#define VR_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct vr_client_id {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t prefix; /* bits kept: 32 for IPv4 */
    uint8_t addr[16];
};

/* id of a client address given as family and address bytes (4 or 16). */
void vr_client_id_make(struct vr_client_id *id, int family, const uint8_t *addr, unsigned prefix_v6);
/* "198.18.1.2" / "2001:db8:1::/64" */
const char *vr_client_id_str(const struct vr_client_id *id, char *buf, size_t len);

/* One record per client with a TCP connection open. */
struct vr_client {
    struct vr_client_id id;
    struct vr_client *hnext;
    uint32_t n;              /* connections open */
    bool refusing;           /* in an episode of refusals (logged at its start and end) */
    uint64_t episode_ms;     /* when it began */
    uint64_t episode_refused;
};

struct vr_clients {
    struct vr_client **buckets;
    size_t n_buckets; /* 0 until first use; then a power of two */
    size_t n;
    uint64_t seed;
    uint64_t refused;  /* connections refused at a client's cap, since start */
    uint64_t episodes; /* times a client reached its cap, since start */
};

/* A new connection from peer (unmapped or IPv4-mapped): counts it against
 * its client's cap (0: no cap). Returns false when the client already holds
 * cap connections: refuse it. The first refusal of an episode is logged;
 * the episode ends (logged with its count) when the client is back at half
 * its cap. *out is the record to pass to vr_clients_leave (NULL when
 * uncounted). */
bool vr_clients_admit(struct vr_clients *t, const struct sockaddr *peer, uint32_t cap, unsigned prefix_v6,
                      uint64_t now_ms, struct vr_client **out);
/* A counted connection ended. */
void vr_clients_leave(struct vr_clients *t, struct vr_client *c, uint32_t cap, uint64_t now_ms);

/* The record of id, created (with n = 0) if absent; NULL when out of memory. */
struct vr_client *vr_clients_get(struct vr_clients *t, const struct vr_client_id *id);
/* Drops the record once its last connection is gone (n == 0). */
void vr_clients_release(struct vr_clients *t, struct vr_client *c);
void vr_clients_fini(struct vr_clients *t);

#endif
