/* The UDP session table: a seeded hash of session keys, two activity lists
 * (normal and short-lived sessions such as DNS) for idle expiry and LRU
 * eviction, and per-client accounting so that one client flooding new
 * sessions only ever evicts its own. A client is an IPv4 address, or an
 * IPv6 prefix of client_prefix_v6 bits (vr_clients.h): the addresses of one
 * /64 are one client, however many of them send.
 *
 * It stores entries embedded in the caller's session structs and never
 * allocates them; it only allocates its buckets and one small record per
 * client. */
#ifndef VR_UDP_TABLE_H
#define VR_UDP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct vr_udp_link {
    struct vr_udp_link *prev, *next;
};

/* Client endpoint plus, depending on the NAT mode, the remote address (and
 * port). Addresses are 16 bytes (IPv4 in the first 4), unused bytes zero. */
struct vr_udp_key {
    uint8_t family;
    uint8_t src[16];
    uint16_t sport;
    uint8_t dst[16];
    uint16_t dport;
};

enum vr_udp_class { VR_UDP_CLASS_NORMAL = 0, VR_UDP_CLASS_SHORT = 1 };

struct vr_udp_client;

struct vr_udp_entry {
    struct vr_udp_key key;
    struct vr_udp_entry *hnext;
    struct vr_udp_link active;    /* in the table's list of its class, most recent first */
    struct vr_udp_link by_client; /* in its client's list, most recent first */
    struct vr_udp_client *client;
    uint64_t last_ms;
    uint8_t klass;
};

struct vr_udp_table {
    struct vr_udp_entry **buckets;
    size_t n_buckets; /* a power of two */
    size_t n;
    struct vr_udp_client **clients;
    size_t n_client_buckets;
    size_t n_clients;
    struct vr_udp_link active[2];
    uint64_t seed;
    /* How new sessions' clients are counted (default 64). A change applies
     * to sessions created after it; older ones stay with their record. */
    uint8_t client_prefix_v6;
};

/* key from the client's and the remote's addresses under a NAT mode
 * (enum vr_udp_nat); both must be AF_INET or both AF_INET6 (unmapped). */
void vr_udp_key_make(struct vr_udp_key *key, int nat, const struct sockaddr *src, const struct sockaddr *dst);

int vr_udp_table_init(struct vr_udp_table *t);
/* The table must be empty (remove every entry first). */
void vr_udp_table_fini(struct vr_udp_table *t);

struct vr_udp_entry *vr_udp_table_find(const struct vr_udp_table *t, const struct vr_udp_key *key);
/* Adds e (its key set); returns 0 or -ENOMEM. */
int vr_udp_table_insert(struct vr_udp_table *t, struct vr_udp_entry *e, uint8_t klass, uint64_t now_ms);
void vr_udp_table_remove(struct vr_udp_table *t, struct vr_udp_entry *e);
/* e saw a datagram: it becomes the most recent of its class and client. */
void vr_udp_table_touch(struct vr_udp_table *t, struct vr_udp_entry *e, uint64_t now_ms);
/* Moves e to another class (a session found to be DNS after all). */
void vr_udp_table_reclass(struct vr_udp_table *t, struct vr_udp_entry *e, uint8_t klass);

/* The least recently active entry of a class, or NULL. */
struct vr_udp_entry *vr_udp_table_oldest(const struct vr_udp_table *t, uint8_t klass);
/* The least recently active entry of any class, or NULL. */
struct vr_udp_entry *vr_udp_table_lru(const struct vr_udp_table *t);
/* How many entries the client of key (its address under client_prefix_v6,
 * not its port) holds, and its least recently active one. */
size_t vr_udp_table_client_count(const struct vr_udp_table *t, const struct vr_udp_key *key);
struct vr_udp_entry *vr_udp_table_client_oldest(const struct vr_udp_table *t, const struct vr_udp_key *key);

#endif
