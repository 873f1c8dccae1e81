/* A TCP connection whose first matching rule has an action instead of an
 * outbound (`action = "reject"` or `"drop"`), in userspace: the flow reached
 * vrouterd (a domain rule decided it after a sniff, or the kernel fast path
 * is off or cannot express the rule). */
#ifndef VR_CONN_ACTION_H
#define VR_CONN_ACTION_H

#include <stddef.h>
#include <stdint.h>

struct vr_conn;
struct vr_rule;

/* reject: the client's socket is closed with a RST at once.
 * drop: the client gets nothing, neither data nor FIN nor RST. An accepted
 * socket cannot vanish silently (closing it sends a FIN or a RST), so it is
 * held unread until the client closes or resets it, or until
 * daemon.tcp_idle_timeout_s after the decision (the client's bytes do not
 * extend it); only then is it closed, with a RST so no FIN_WAIT state is
 * left. Held connections count against max_connections(_per_client) like any
 * other, so a client cannot hold more than its share. */
void vr_conn_rule_action(struct vr_conn *c, const struct vr_rule *rule);

/* action = "dns": the client's socket (and the first bytes already read
 * from it, prefix) go to the worker's DNS server (core/dns/vr_dns_server.h),
 * which answers its queries whatever server it asked; c ends. */
void vr_conn_to_dns(struct vr_conn *c, const struct vr_rule *rule, const uint8_t *prefix, size_t len);

struct vr_worker;
/* SIGTERM: held (dropped) connections carry nothing worth draining for, so
 * they are closed at once rather than holding the exit for drain_timeout_s.
 * Called before the worker starts draining. */
void vr_conn_action_drain(struct vr_worker *w);

#endif
