/* The local route of the cgroup capture's IPv6 UDP stand-ins
 * (daemon.capture_cgroup_udp_prefix_v6): "local <prefix> dev lo" in table
 * local, so datagrams a captured program sends to a stand-in reach
 * vrouterd's wildcard UDP listener and its replies can come from one (IPv4
 * needs none: all of 127/8 is local). The route carries its own
 * rtm_protocol (VR_STANDIN_PROTO), so one left by a SIGKILLed vrouterd is
 * found and removed at the next start. Main thread only. */
#ifndef VR_STANDIN_ROUTE_H
#define VR_STANDIN_ROUTE_H

#include <stddef.h>

#include "vr_addr.h"

/* rtm_protocol of the route: policy-routing's 0xf7 plus one (that module
 * removes every route of its own protocol at start). */
#define VR_STANDIN_PROTO 0xf8

/* Makes p (IPv6) the one stand-in route: the first call also removes any
 * route of VR_STANDIN_PROTO left by an earlier run; an existing route for
 * another prefix is replaced. Returns 0, or -errno with err filled. */
int vr_standin_route_set(const struct vr_cidr *p, char *err, size_t errlen);

/* Removes the route set last (nothing when none is); the first call also
 * removes any left by an earlier run. */
void vr_standin_route_clear(void);

#endif
