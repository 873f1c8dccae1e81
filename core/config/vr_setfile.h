/* Rule-set files: one entry per line, loaded into a vr_domainset or vr_ipset.
 *
 * Format: one entry per line; '#' starts a comment (whole line or after the
 * entry); blank lines, leading/trailing spaces and tabs, and CRLF line ends
 * are ignored. A domain file holds one domain suffix per line ("example.com"
 * matches example.com and its subdomains); a CIDR file holds one IPv4 or
 * IPv6 prefix per line ("198.18.0.0/15", "2001:db8::/32"; a bare address is
 * a /32 or /128).
 *
 * Errors stop at the first bad line and are written to err as
 * "FILE:LINE: what is wrong (what is expected)"; the set then holds the lines
 * before it and should be discarded. A file that cannot be read gives
 * "FILE: cannot open: <strerror>". Only regular files are read (a symlink is
 * followed to one): a FIFO, socket or device gives -EINVAL and "FILE: is a
 * FIFO, not a regular file ..." at once, without blocking on it. */
#ifndef VR_SETFILE_H
#define VR_SETFILE_H

#include <stddef.h>

#include "vr_domainset.h"
#include "vr_ipset.h"

/* Longest line accepted (after which the line is reported, not truncated). */
#define VR_SETFILE_LINE_MAX 4096

/* Load path into set. Return the number of entries added (>= 0), or a
 * negative errno (-ENOENT, -EACCES... for the file, -EINVAL for its content,
 * -ENOMEM) with err filled. err may be NULL when errlen is 0. */
int vr_setfile_load_domains(const char *path, struct vr_domainset *set, char *err, size_t errlen);

/* The same for CIDRs; builds the set (vr_ipset_build) before returning, so
 * it is ready for lookups. Several files may be loaded into one set. */
int vr_setfile_load_cidrs(const char *path, struct vr_ipset *set, char *err, size_t errlen);

/* The parsers behind the loaders, on a buffer of len bytes (any bytes,
 * no NUL terminator needed); name is the file name used in errors.
 * parse_cidrs does not build the set. Same returns as the loaders. */
int vr_setfile_parse_domains(const char *buf, size_t len, const char *name, struct vr_domainset *set, char *err,
                             size_t errlen);
int vr_setfile_parse_cidrs(const char *buf, size_t len, const char *name, struct vr_ipset *set, char *err,
                           size_t errlen);

#endif
