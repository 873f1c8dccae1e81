/*
 * Flows that connect by name (issue 16): a destination inside a FakeIP
 * range is routed by the domain its address stands for, before any sniff,
 * and the outbound is told to connect to that name (VR_FLOW_CONNECT_BY_NAME);
 * a listener's sniff_override does the same for a sniffed domain that
 * matched a domain rule. The TCP (vr_conn.c) and UDP (vr_udp_session.c)
 * paths call these hooks.
 */
#ifndef VR_FLOW_NAME_H
#define VR_FLOW_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct vr_config;
struct vr_rule;

enum vr_flow_name_verdict {
    VR_FLOW_NAME_NONE = 0, /* not a fake address: the flow goes on as before */
    VR_FLOW_NAME_FAKE = 1, /* *domain (malloc'd) is the name to route by and connect to */
    VR_FLOW_NAME_GONE = 2, /* a fake address that maps to nothing: refuse the flow, why says so */
};

/* What dst says. pin: the mapping stays the last to be recycled until
 * vr_flow_name_release (a TCP connection's lifetime). */
enum vr_flow_name_verdict vr_flow_name_fakeip(const struct sockaddr *dst, bool pin, char **domain, char *why,
                                              size_t cap);
void vr_flow_name_release(const struct sockaddr *dst, const char *domain);

/* Cheap: is dst inside a fake range (so no sniff is worth waiting for)? */
bool vr_flow_name_is_fake(const struct sockaddr *dst);

/* sniff_override: the listener asks for it and the rule that matched the
 * flow's sniffed domain keys on domains. */
bool vr_flow_name_override(const struct vr_config *cfg, const char *inbound, const struct vr_rule *rule,
                           const char *domain);

/* A warning for a refused flow to a gone mapping, at most one a second for
 * the daemon (a client retrying must not flood the log); the flow's own
 * close line carries the reason every time. */
void vr_flow_name_warn_gone(const char *kind, unsigned long long id, const char *why);

#endif
