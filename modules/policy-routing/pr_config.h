/* policy-routing: reading the config block (see pr_config.c for the keys). */
#ifndef PR_CONFIG_H
#define PR_CONFIG_H

#include <vrouter/vr_plugin.h>

#include "pr_state.h"

/* Reads every key of the block into s. On error records it through
 * host->cfg_error, leaves s empty and returns -EINVAL. */
int pr_config_read(const struct vr_host *host, const struct vr_cfg *cfg, struct pr_set *s);

#endif
