/* policy-routing: installer module glue (ops table and descriptor). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <vrouter/vr_plugin.h>

#include "pr_config.h"
#include "pr_fastpath.h"
#include "pr_state.h"

struct pr_inst {
    struct vr_instance *inst;
    const struct vr_host *host;
    struct pr_set set;
};

static int pr_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    struct pr_inst *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->inst = inst;
    p->host = host;
    if (pr_config_read(host, host->instance_cfg(inst), &p->set) < 0) {
        free(p);
        return -EINVAL;
    }
    int e = pr_fastpath_add(host, inst, &p->set);
    if (e < 0) {
        pr_set_free(&p->set);
        free(p);
        return e;
    }
    *state = p;
    return 0;
}

static void pr_destroy(void *state)
{
    struct pr_inst *p = state;
    if (p == NULL)
        return;
    pr_set_free(&p->set);
    free(p);
}

static void pr_log_line(void *arg, const char *line)
{
    struct pr_inst *p = arg;
    p->host->log(p->inst, VR_LOG_INFO, "%s", line);
}

static int pr_apply(void *state, void *old_state)
{
    struct pr_inst *p = state;
    struct pr_inst *old = old_state;
    char err[1024] = "";
    /* Refuse before touching anything if someone else holds our range. */
    int e = pr_nl_check_conflicts(&p->set, err, sizeof(err));
    if (e < 0) {
        p->host->log(p->inst, VR_LOG_ERROR, "%s", err);
        return e;
    }
    if (old == NULL) {
        e = pr_nl_remove_stale(pr_log_line, p, err, sizeof(err));
        if (e < 0) {
            p->host->log(p->inst, VR_LOG_ERROR, "removing stale objects: %s", err);
            return e;
        }
    }
    e = pr_nl_apply(&p->set, old ? &old->set : NULL, err, sizeof(err));
    if (e < 0) {
        p->host->log(p->inst, VR_LOG_ERROR, "apply failed, previous state restored: %s", err);
        return e;
    }
    p->host->log(p->inst, VR_LOG_INFO, "%d rules and %d routes in place (protocol 0x%x, priorities %u-%u)",
                 p->set.n_rules, p->set.n_routes, PR_PROTO, p->set.prio_base,
                 p->set.prio_base + PR_PRIO_SPAN - 1);
    return 0;
}

static int pr_revert(void *state)
{
    struct pr_inst *p = state;
    char err[1024] = "";
    int e = pr_nl_remove_all(&p->set, err, sizeof(err));
    if (e < 0)
        p->host->log(p->inst, VR_LOG_ERROR, "revert: %s", err);
    else
        p->host->log(p->inst, VR_LOG_INFO, "removed %d rules and %d routes", p->set.n_rules,
                     p->set.n_routes);
    return e;
}

static int pr_plan(void *state, void *old_state, vr_plan_emit emit, void *arg)
{
    struct pr_inst *p = state;
    struct pr_inst *old = old_state;
    char err[1024] = "";
    int e = pr_nl_check_conflicts(&p->set, err, sizeof(err));
    if (e < 0) {
        char line[1100];
        snprintf(line, sizeof(line), "conflict: %s", err);
        emit(arg, line);
        return e;
    }
    if (old == NULL) {
        char line[128];
        snprintf(line, sizeof(line),
                 "remove rules and routes of protocol 0x%x left by an earlier run (if any)",
                 PR_PROTO);
        emit(arg, line);
    }
    pr_nl_plan(&p->set, old ? &old->set : NULL, emit, arg);
    return 0;
}

static const struct vr_installer_ops pr_ops = {
    .size = sizeof(struct vr_installer_ops),
    .create = pr_create,
    .destroy = pr_destroy,
    .apply = pr_apply,
    .revert = pr_revert,
    .plan = pr_plan,
};

VR_MODULE_DEFINE(.name = "policy-routing", .version = "1.0.0", .kind = VR_KIND_INSTALLER,
                 .ops = &pr_ops);
