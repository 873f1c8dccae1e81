#include "vr_offload_counters.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_installer.h>

#include "vr_instance.h"
#include "vr_log.h"

struct sum {
    struct vr_rule_offload_count *out;
    size_t n_rules;
    bool any;
};

static void add_line(void *arg, const char *rule, const char *verdict, uint64_t packets, uint64_t bytes)
{
    struct sum *s = arg;
    s->any = true;
    if (strcmp(verdict, "captured") == 0)
        return;
    size_t idx;
    char tail;
    if (strcmp(rule, "final") == 0)
        idx = s->n_rules;
    else if (sscanf(rule, "rule #%zu%c", &idx, &tail) != 1 || idx == 0 || idx > s->n_rules)
        return;
    else
        idx--;
    s->out[idx].packets += packets;
    s->out[idx].bytes += bytes;
}

bool vr_offload_counters(const struct vr_generation *g, struct vr_rule_offload_count *out)
{
    struct sum s = {.out = out, .n_rules = g->cfg->rules.n};
    memset(out, 0, (s.n_rules + 1) * sizeof(*out));
    if (!g->cfg->daemon.offload || !g->installed)
        return false;
    for (size_t i = 0; i < g->cfg->n_installers; i++) {
        const struct vr_instance *inst = g->installers[i];
        if (inst == NULL || inst->lifecycle != VR_INST_READY)
            continue;
        const struct vr_installer_ops *ops = vr_instance_installer(inst);
        if (VR_HAS(ops, rule_counters) && ops->rule_counters)
            ops->rule_counters(inst->state, add_line, &s);
    }
    return s.any;
}

void vr_offload_counters_log(const struct vr_generation *g)
{
    size_t n = g->cfg->rules.n + 1;
    struct vr_rule_offload_count *c = calloc(n, sizeof(*c));
    if (c == NULL)
        return;
    if (vr_offload_counters(g, c))
        for (size_t i = 0; i < n; i++)
            if (c[i].packets)
                vr_log_write(VR_LOG_INFO, "stats: kernel fast path: %s: %" PRIu64 " packets, %" PRIu64 " bytes",
                             i + 1 == n ? "final" : g->cfg->rules.rules[i].name, c[i].packets, c[i].bytes);
    free(c);
}
