/* A set of IPv4 and IPv6 prefixes answering "is this address in any of them".
 *
 * Built for large rule sets (1,000,000 CIDRs): adds append, vr_ipset_build()
 * turns them into sorted, merged address intervals, and a lookup is a binary
 * search narrowed by a 16-bit first-level index. Overlapping, nested and
 * adjacent prefixes are merged, so membership is exact whatever the input.
 *
 * Lifecycle: new -> add... -> build -> contains... -> free. Lookups see only
 * what was added before the last build; adding after a build is allowed and
 * takes effect at the next build. A set is not locked: build it in one thread,
 * then share it read-only (contains is const and allocation-free). */
#ifndef VR_IPSET_H
#define VR_IPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vr_addr.h"

struct vr_ipset;

/* NULL when out of memory. */
struct vr_ipset *vr_ipset_new(void);
void vr_ipset_free(struct vr_ipset *set);

/* Add a prefix (AF_INET or AF_INET6, as vr_cidr_parse gives it; bits past
 * the prefix are ignored). Returns 0, -EAFNOSUPPORT or -ENOMEM. */
int vr_ipset_add(struct vr_ipset *set, const struct vr_cidr *cidr);

/* Sort and merge what was added; call after the adds, before lookups.
 * Idempotent; never fails (returns 0). */
int vr_ipset_build(struct vr_ipset *set);

/* addr is 4 bytes for AF_INET and 16 for AF_INET6, network byte order.
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) is NOT unwrapped here: unwrap it first
 * (vr_sockaddr_bytes does) or use vr_ipset_contains_sa. */
bool vr_ipset_contains(const struct vr_ipset *set, int family, const uint8_t *addr);

/* The same for a socket address, unwrapping IPv4-mapped IPv6. */
bool vr_ipset_contains_sa(const struct vr_ipset *set, const struct sockaddr *sa);

/* Number of prefixes added (duplicates included). */
size_t vr_ipset_count(const struct vr_ipset *set);

/* Number of disjoint address intervals after the last build. */
size_t vr_ipset_intervals(const struct vr_ipset *set);

/* The built intervals of one family (AF_INET, AF_INET6), in address order:
 * how many there are, and the i-th as its first and last address (4 or 16
 * bytes, network byte order). For compiling a set into nftables. */
size_t vr_ipset_family_intervals(const struct vr_ipset *set, int family);
void vr_ipset_interval(const struct vr_ipset *set, int family, size_t i, uint8_t first[16], uint8_t last[16]);

/* Bytes of heap the set holds. */
size_t vr_ipset_memory(const struct vr_ipset *set);

#endif
