/* --explain: which rule and outbound a described flow would get. */
#ifndef VR_EXPLAIN_H
#define VR_EXPLAIN_H

#include <stdio.h>

struct vr_generation;

/* spec: "[tcp|udp] [PROTOCOL] [DOMAIN] DST:PORT [from SRC:PORT] [inbound TAG]"
 * (IPv6 as [2001:db8::1]:443). Returns 0, or -EINVAL with a message on err. */
int vr_explain(const struct vr_generation *g, const char *spec, FILE *out, FILE *err);

#endif
