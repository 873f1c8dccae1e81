/* Loop self-test at start: proves that vrouterd's own outgoing traffic (a
 * socket carrying daemon.bypass_mark) is not captured back into one of its
 * own listeners. Run once, after the installers are applied and the
 * listeners are open, before the event loop runs. */
#ifndef VR_SELFTEST_H
#define VR_SELFTEST_H

#include <stddef.h>
#include <stdint.h>

struct vr_listener;

/* Sends one marked TCP probe per family (IPv4 192.0.2.1, IPv6 2001:db8::1,
 * documentation addresses) to the first listener's port and watches the
 * listeners of every worker (lists: each worker's TCP listeners; their
 * threads are not running yet) for up to VR_SELFTEST_MS. Returns 1 when a probe arrived at a
 * listener (a loop; why describes it), 0 when none did, or when no probe
 * could be sent (no route: nothing of ours can be captured either).
 * Connections of real clients accepted meanwhile go to vr_conn_accept. */
int vr_selftest_loop(struct vr_listener *const *lists, size_t n_lists, uint32_t bypass_mark, char *why,
                     size_t whylen);

#endif
