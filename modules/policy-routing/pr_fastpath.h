/* policy-routing: the kernel fast path's routes (see pr_fastpath.c). */
#ifndef PR_FASTPATH_H
#define PR_FASTPATH_H

#include <vrouter/vr_plugin.h>

#include "pr_state.h"

/* Adds the routes host->route_plan_routes asks for (none on a host without
 * it) to s. 0 or a negative errno (logged). */
int pr_fastpath_add(const struct vr_host *h, const struct vr_instance *inst, struct pr_set *s);

#endif
