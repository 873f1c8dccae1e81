/*
 * Shared by the sniffer modules: turning a name a client sent into the
 * normalised domain the host routes on, and filling struct vr_sniff_out
 * without writing past the size the host set.
 */
#ifndef VR_SNIFF_NAME_H
#define VR_SNIFF_NAME_H

#include <stddef.h>

#include <vrouter/vr_sniffer.h>

/* Longest name we accept, without the trailing dot (RFC 1035). */
#define VR_SNIFF_NAME_MAX 253

/*
 * Normalise name[0..len) into out (outsz bytes, NUL-terminated): lower
 * case, one trailing dot removed. Returns 0, or -EINVAL when the result is
 * not a host name: empty, longer than 253, an empty label or one longer
 * than 63, a character outside [A-Za-z0-9-_], a label starting or ending
 * with '-', or a last label made only of digits (an IPv4 literal in any of
 * its spellings is an address, not a domain). -ENOSPC if outsz is too small.
 * out is an empty string on any error.
 */
int vr_sniff_name_normalise(const char *name, size_t len, char *out, size_t outsz);

/* True if s (NUL-terminated) is already a normalised host name. */
int vr_sniff_name_is_normal(const char *s);

/*
 * Fill the fields of out that fit in out->size: domain, protocol, alpn
 * (NULL or too long for the field means empty). Fields beyond out->size
 * are not touched. out may be NULL.
 */
void vr_sniff_out_fill(struct vr_sniff_out *out, const char *domain, const char *protocol,
                       const char *alpn);

#endif
