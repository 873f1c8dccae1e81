/*
 * --explain for a flow whose destination lies in a dns.fakeip range. The
 * daemon routes such a flow by the name its pool maps the address to (no
 * ip_cidr/ip_set rule matches it) and refuses it when none: explain finds
 * that name where it can without the running pool, read only: the domain
 * given on the command line, else the persist file.
 */
#ifndef VR_FAKEIP_EXPLAIN_H
#define VR_FAKEIP_EXPLAIN_H

#include <stddef.h>
#include <sys/socket.h>

struct vr_config;

enum vr_fakeip_explain {
    VR_FAKEIP_EXPLAIN_NOT_FAKE, /* not in a configured range: routed as any address */
    VR_FAKEIP_EXPLAIN_NAMED,    /* in a range; *name set, *source says from where */
    VR_FAKEIP_EXPLAIN_UNKNOWN,  /* in a range, no name known here */
};

/* given: the domain the command line named, or NULL. name receives the name
 * (the given one, or the persist file's); source a static description or the
 * persist file's path. Never writes any file. */
enum vr_fakeip_explain vr_fakeip_explain_dst(const struct vr_config *cfg, const struct sockaddr *dst,
                                             const char *given, char *name, size_t cap, const char **source);

#endif
