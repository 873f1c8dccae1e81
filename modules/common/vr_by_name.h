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

/* A resolver error (host->resolve's negative errno) in words, the same for
 * TCP and UDP: "no such name or no address" rather than ENOENT's "No such
 * file or directory". */
const char *vr_by_name_resolve_error(int err);

/* Starts resolving and connecting. Returns 0 with *out set (cb runs exactly
 * once, later, never after vr_by_name_cancel), or a negative errno at once
 * with the reason given through host->connect_fail_reason: -ENOSYS when
 * the host has no resolver (no dns block, or a host before ABI 1.1).
 * who names the outbound in reasons ("direct", "wireguard-bind wg0"). */
int vr_by_name_start(const struct vr_host *host, struct vr_instance *inst, const char *who,
                     const struct vr_flow *flow, vr_by_name_connect_fn connect, vr_by_name_cancel_fn cancel,
                     void *state, vr_connect_cb cb, void *arg, struct vr_by_name **out);
void vr_by_name_cancel(struct vr_by_name *b);

/* ---- UDP (vr_by_name_udp.c): an association whose datagrams to the flow's
 * dst (the fake address, any port) go to the name's first address (same
 * port) once resolved, held until then (at most 32 datagrams, 64 KiB), and
 * whose replies from that address are handed on as coming from dst, the
 * address the client sent to. Datagrams to other remotes pass unchanged.
 * The module's own UDP ops carry the datagrams (an inner association for a
 * copy of the flow without the flag). A name that does not resolve ends
 * the association (cb with data NULL and the error), with a log line. */
struct vr_by_name_udp;

struct vr_by_name_udp_ops {
    int (*open)(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg, void **assoc);
    int (*send)(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen, const uint8_t *data,
                size_t len);
    void (*close)(void *state, void *assoc);
};

/* Returns 0 with *out set, or a negative errno (logged): -ENOSYS without a
 * resolver. */
int vr_by_name_udp_open(const struct vr_host *host, struct vr_instance *inst, const char *who,
                        const struct vr_flow *flow, const struct vr_by_name_udp_ops *ops, void *state,
                        vr_udp_recv_cb cb, void *arg, struct vr_by_name_udp **out);
int vr_by_name_udp_send(struct vr_by_name_udp *u, const struct sockaddr *dst, socklen_t dstlen, const uint8_t *data,
                        size_t len);
void vr_by_name_udp_close(struct vr_by_name_udp *u);

#endif
