/* The reason of a TCP connect an outbound refused at once (ABI 1.1,
 * host->connect_fail_reason): the module names it from inside tcp_connect,
 * before returning its negative errno, and the connection's close line
 * carries it instead of the errno's text.
 *
 * One slot per thread: tcp_connect and everything it calls (a composite's
 * members through outbound_tcp_connect) run on the calling worker's thread
 * before it returns, so the slot armed for a flow right before the call is
 * the one the module writes. */
#ifndef VR_CONNECT_REASON_H
#define VR_CONNECT_REASON_H

#include <stdarg.h>

#include <vrouter/vr_flow.h>

/* Before calling an outbound's tcp_connect for flow: forget any earlier
 * reason, accept one for this flow only. */
void vr_connect_reason_arm(const struct vr_flow *flow);
/* After tcp_connect failed at once: the reason given for flow (valid until
 * the next arm on this thread), or NULL if the module gave none. Disarms. */
const char *vr_connect_reason_take(const struct vr_flow *flow);
/* host->connect_fail_reason: records the text if flow is the armed one. */
void vr_connect_reason_vset(const struct vr_flow *flow, const char *fmt, va_list ap);

#endif
