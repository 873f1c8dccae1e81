/*
 * FakeIP: names handed a fake address by the resolver, and the reverse
 * lookup a flow to such an address is routed by (issue 16).
 *
 * One pool per daemon. It outlives config generations (a mapping a client
 * still holds survives any reload) and, with `persist`, restarts. It is
 * shared by every worker and the resolver, so every call is thread-safe.
 */
#ifndef VR_FAKEIP_H
#define VR_FAKEIP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct vr_fakeip_pool;

/* The address handed to `name` for family AF_INET or AF_INET6 (written to
 * *out as struct in_addr or struct in6_addr): the existing mapping, or a new
 * one (recycling the least recently used when the range is full). Returns 0,
 * -EAFNOSUPPORT when no range of that family is configured. name is a
 * normalised domain (lower case, no trailing dot). */
int vr_fakeip_assign(struct vr_fakeip_pool *pool, const char *name, int family, void *out);

/* The name mapped to a destination address. Returns 1 (name copied, at most
 * cap bytes with its NUL, and the mapping marked used), 0 when the address is
 * inside a fake range but maps to nothing (gone: recycled or lost with a
 * restart; the flow must be refused, never sent there), -1 when the address
 * is not a fake one. */
int vr_fakeip_lookup(struct vr_fakeip_pool *pool, const struct sockaddr *addr, char *name,
                     size_t cap);

/* The TTL to put on fake answers, in seconds. */
uint32_t vr_fakeip_ttl(const struct vr_fakeip_pool *pool);

#endif
