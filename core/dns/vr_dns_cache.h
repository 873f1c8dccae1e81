/* The resolver's answer cache: whole responses keyed by what changes the
 * answer (name, type, class, the DNSSEC OK bit, and the upstream the rules
 * chose), each kept for its TTL (a negative answer for its SOA's, RFC 2308),
 * at most max_entries of them with the least recently used evicted.
 *
 * One per generation, shared by every worker: a mutex guards it. A lookup
 * or an insert is O(1) and holds the lock for one copy of the message. */
#ifndef VR_DNS_CACHE_H
#define VR_DNS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vr_dns_msg.h"

struct vr_dns_cache;

struct vr_dns_cache_key {
    char name[VR_DNS_NAME_MAX + 1];
    uint16_t qtype, qclass;
    bool do_bit;
    int upstream;
};

struct vr_dns_cache_stats {
    uint64_t hits, misses, inserts, evictions, expired;
    uint64_t entries, bytes;
};

/* The key's hash (seeded per process), for the cache's buckets and the
 * resolver's table of questions in flight. */
uint64_t vr_dns_cache_key_hash(const struct vr_dns_cache_key *k);

struct vr_dns_cache *vr_dns_cache_new(uint32_t max_entries, uint32_t max_ttl_s);
void vr_dns_cache_free(struct vr_dns_cache *c);

/* The cached response for k, if fresh: copied into out (its TTLs lowered by
 * the time it spent in the cache, its id left to the caller). Returns its
 * length, or 0 (a miss: absent, expired, or larger than cap). */
size_t vr_dns_cache_get(struct vr_dns_cache *c, const struct vr_dns_cache_key *k, uint64_t now_ms, uint8_t *out,
                        size_t cap);
/* Keeps msg for ttl_s seconds (capped at max_ttl_s; 0: not kept), replacing
 * what k had. */
void vr_dns_cache_put(struct vr_dns_cache *c, const struct vr_dns_cache_key *k, const uint8_t *msg, size_t len,
                      uint32_t ttl_s, uint64_t now_ms);
void vr_dns_cache_stats(struct vr_dns_cache *c, struct vr_dns_cache_stats *out);
/* Heap bytes one entry holds besides its message (for the benchmark). */
size_t vr_dns_cache_entry_overhead(void);

#endif
