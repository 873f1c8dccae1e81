/*
 * The FakeIP pool beyond the resolver's interface (vr_fakeip.h): creating
 * and configuring it, pinning a mapping a live flow uses, persistence and
 * statistics. See docs/FAKEIP.md.
 */
#ifndef VR_FAKEIP_POOL_H
#define VR_FAKEIP_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vr_fakeip.h"

/* Most mappings one family holds unless max_mappings says otherwise, and
 * the most it may say. */
#define VR_FAKEIP_DEFAULT_MAX 65536u
#define VR_FAKEIP_MAX_MAX (16u << 20)

/* One range: base address (network order bytes) and prefix length. */
struct vr_fakeip_range {
    int family; /* AF_INET, AF_INET6, or 0: none */
    uint8_t base[16];
    int prefix;
};

struct vr_fakeip_stats {
    uint64_t mappings4, mappings6; /* live mappings */
    uint64_t capacity4, capacity6; /* addresses the pool may hand out */
    uint64_t assigned;             /* new mappings made */
    uint64_t recycled;             /* of which took a least recently used address */
    uint64_t lookups_hit, lookups_gone;
};

struct vr_fakeip_pool *vr_fakeip_create(void);
void vr_fakeip_destroy(struct vr_fakeip_pool *pool);

/* Applies ranges, TTL and the per-family mapping cap. A family whose range
 * changes loses its mappings, and its old range is remembered as retired:
 * a flow to it is refused (vr_fakeip_lookup answers 0), never sent there.
 * A lower cap drops the least recently used mappings. Returns 0. */
int vr_fakeip_configure(struct vr_fakeip_pool *pool, const struct vr_fakeip_range *v4,
                        const struct vr_fakeip_range *v6, uint32_t ttl, uint32_t max_mappings);

/* vr_fakeip_lookup that also pins the mapping for a live flow: a pinned
 * mapping is recycled only when every mapping of its family is pinned.
 * vr_fakeip_unpin (same address and name) ends the pin; it is a no-op when
 * the address was recycled meanwhile. */
int vr_fakeip_lookup_pin(struct vr_fakeip_pool *pool, const struct sockaddr *addr, char *name, size_t cap);
void vr_fakeip_unpin(struct vr_fakeip_pool *pool, const struct sockaddr *addr, const char *name);

/* Whether addr lies in a configured or retired fake range (no lookup). */
bool vr_fakeip_in_range(struct vr_fakeip_pool *pool, const struct sockaddr *addr);

void vr_fakeip_get_stats(struct vr_fakeip_pool *pool, struct vr_fakeip_stats *out);

/* Drops every mapping (the ranges stay). */
void vr_fakeip_clear(struct vr_fakeip_pool *pool);

/* Changes since creation: the persister saves when this moved. */
uint64_t vr_fakeip_changes(struct vr_fakeip_pool *pool);

/* ---- persistence (vr_fakeip_persist.c). The file is text:
 *   # vrouterd fakeip v1
 *   198.51.100.7 ssh.example
 * one mapping a line, least recently used first. */

/* Writes every mapping to path atomically (a temp file beside it, fsync,
 * rename, fsync of the directory). Returns 0 or a negative errno with why
 * (a short text) set. *changes_out: vr_fakeip_changes at the snapshot. */
int vr_fakeip_save(struct vr_fakeip_pool *pool, const char *path, uint64_t *changes_out, const char **why);

/* Loads path into the (configured, empty) pool. Returns the number of
 * mappings loaded, 0 when the file does not exist, or -EINVAL when it is
 * corrupt: then nothing is loaded, err holds "FILE:LINE: what" and the
 * file is renamed to path.corrupt (kept for a look). *skipped counts
 * mappings outside the configured ranges (dropped). */
long vr_fakeip_load(struct vr_fakeip_pool *pool, const char *path, size_t *skipped, char *err, size_t errcap);

/* A name the pool takes: 1 to 253 printable ASCII bytes, no space, no
 * upper case. vr_fakeip_assign answers -EINVAL for any other (beyond the
 * -EAFNOSUPPORT of vr_fakeip.h), and the loader calls a file holding one
 * corrupt. */
bool vr_fakeip_name_ok(const char *name);

/* Used by the loader: inserts a mapping at a given address (most recent).
 * Returns 0, -ERANGE when addr is outside the ranges (or their cap),
 * -EEXIST when the address or name is taken. */
int vr_fakeip_insert(struct vr_fakeip_pool *pool, const struct sockaddr *addr, const char *name);

/* The text of every mapping, least recently used first, in the file's
 * format (malloc'd, header included). */
int vr_fakeip_snapshot(struct vr_fakeip_pool *pool, char **text, size_t *len, uint64_t *changes);

#endif
