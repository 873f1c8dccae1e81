/* daemon.log_offloaded (issue 15): flows the kernel fast path forwarded
 * never reach vrouterd, so their log line comes from conntrack. A netlink
 * listener for conntrack DESTROY events (libnetfilter_conntrack) on the main
 * loop logs each flow whose conntrack mark says the fast path forwarded it
 * (vr_offload_is_flow_mark), at its end, in the userspace line's format with
 * path=kernel:
 *   conn <conntrack id> <listener> SRC -> DST rule=rule #N outbound=TAG up=B down=B time=Ts end=closed path=kernel
 *   udp <conntrack id> <listener> SRC -> DST rule=... outbound=... up=P/B down=P/B dropped=0 time=Ts end=timeout path=kernel
 * The rule is the first whose address keys match (the one the kernel
 * applied, as long as no reload changed the rules since the flow began).
 * Byte counts and the start time need nf_conntrack_acct and
 * nf_conntrack_timestamp, which opening the listener switches on in the
 * daemon's network namespace. */
#ifndef VR_CT_LOG_H
#define VR_CT_LOG_H

#include <event2/event.h>

#include "vr_generation.h"

/* Opens or closes the listener as (*active)'s config asks (daemon.offload
 * and daemon.log_offloaded both true). Main thread; call at start (as root)
 * and after each reload. Failing to open is logged, not fatal. */
void vr_ct_log_sync(struct event_base *base, struct vr_generation *const *active);
/* At exit. */
void vr_ct_log_close(void);

#endif
