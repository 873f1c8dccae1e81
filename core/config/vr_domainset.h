/* A set of domain names for routing rules: exact names, suffixes (the name
 * and everything below it, on label boundaries) and keywords (substrings).
 *
 * Exact and suffix entries live in one open-addressing hash table keyed by
 * the whole name; the hash is computed right to left, so one pass over a
 * looked-up name yields the hash of every label-boundary suffix and a match
 * costs one probe per label ("a.b.example.com": 4 probes), independent of
 * the set's size. Keywords are a short list scanned with strstr.
 *
 * Names are normalised on add: lower case, one trailing dot removed, and
 * validated as a hostname (see vr_domain_normalize). A set can be matched
 * right after any add; it is not locked: fill it in one thread, then share it
 * read-only (match is const and allocation-free). */
#ifndef VR_DOMAINSET_H
#define VR_DOMAINSET_H

#include <stdbool.h>
#include <stddef.h>

/* Longest normalised name (RFC 1035: 253 characters without the final dot). */
#define VR_DOMAIN_MAX 253

enum vr_domain_kind {
    VR_DOMAIN_EXACT = 1,   /* "example.com" matches only example.com */
    VR_DOMAIN_SUFFIX = 2,  /* also a.example.com, not badexample.com */
    VR_DOMAIN_KEYWORD = 3, /* "cdn" matches any name containing "cdn" */
};

struct vr_domainset;

/* NULL when out of memory. */
struct vr_domainset *vr_domainset_new(void);
void vr_domainset_free(struct vr_domainset *set);

/* Add name as kind. Returns 0 (also when already present), -EINVAL for a
 * name that is not a hostname (or a keyword that is empty or holds
 * characters no hostname has), -ENOMEM. */
int vr_domainset_add(struct vr_domainset *set, const char *name, enum vr_domain_kind kind);

/* Does name match an entry of any kind? Case-insensitive; a trailing dot is
 * ignored; a name longer than VR_DOMAIN_MAX never matches. */
bool vr_domainset_match(const struct vr_domainset *set, const char *name);

/* Number of distinct entries (a name added both exact and suffix counts
 * once; keywords count one each). */
size_t vr_domainset_count(const struct vr_domainset *set);

/* Bytes of heap the set holds. */
size_t vr_domainset_memory(const struct vr_domainset *set);

/* Normalise a hostname of len bytes (no NUL needed) into out (at least
 * VR_DOMAIN_MAX + 1 bytes): lower case, one trailing dot dropped. Valid: 1 to
 * 253 characters, labels of 1 to 63 of [a-z0-9_-] not starting or ending
 * with '-', and a last label that is not all digits (that is an IPv4
 * address). Returns the length, or -EINVAL with *why (if not NULL) set to a
 * short static reason such as "empty label". */
int vr_domain_normalize(const char *name, size_t len, char *out, const char **why);

#endif
