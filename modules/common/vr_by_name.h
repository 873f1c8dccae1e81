/*
 * Connecting by name for outbounds that open sockets themselves (direct,
 * wireguard-bind): a flow marked VR_FLOW_CONNECT_BY_NAME must not go to
 * its dst (a FakeIP address, or a poisoned answer under sniff_override).
 * flow->domain is resolved through host->resolve (vrouterd's own resolver,
 * ABI 1.1), then the module's own connect is tried on each address in turn
 * (at dst's port) until one connects.
 */
#ifndef VR_BY_NAME_H
#define VR_BY_NAME_H

#include <stdbool.h>

#include <vrouter/vr_plugin.h>

struct vr_by_name;

/* The module's connect to one address (a copy of the flow whose dst is it
 * and whose CONNECT_BY_NAME flag is cleared) and its cancel. */
typedef int (*vr_by_name_connect_fn)(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                                     void **pending);
typedef void (*vr_by_name_cancel_fn)(void *state, void *pending);

/* Whether flow asks to be connected by name. */
bool vr_by_name_wanted(const struct vr_flow *flow);

/* Starts resolving and connecting. Returns 0 with *out set (cb runs exactly
 * once, later, never after vr_by_name_cancel), or a negative errno at once
 * with the reason given through host->connect_fail_reason: -ENOSYS when
 * the host has no resolver (no dns block, or a host before ABI 1.1).
 * who names the outbound in reasons ("direct", "wireguard-bind wg0"). */
int vr_by_name_start(const struct vr_host *host, struct vr_instance *inst, const char *who,
                     const struct vr_flow *flow, vr_by_name_connect_fn connect, vr_by_name_cancel_fn cancel,
                     void *state, vr_connect_cb cb, void *arg, struct vr_by_name **out);
void vr_by_name_cancel(struct vr_by_name *b);

#endif
