/* `vrouterd --explain "query NAME [TYPE] [from IP]"`: which dns rule a
 * query matches and what it does (the upstreams and their outbounds, or the
 * local answer). */
#ifndef VR_DNS_EXPLAIN_H
#define VR_DNS_EXPLAIN_H

#include <stdio.h>

struct vr_config;

/* spec: what follows "query ". Returns 0, or -1 with the reason on err. */
int vr_dns_explain(const struct vr_config *cfg, const char *spec, FILE *out, FILE *err);

#endif
