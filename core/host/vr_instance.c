#include "vr_dns_host_resolve.h"
#include "vr_instance.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_fdloop.h"
#include "vr_host_table.h"
#include "vr_log.h"
#include "vr_watch.h"

struct vr_instance *vr_instance_new(struct vr_module *m, const char *tag, const struct vr_cfg *cfg,
                                    struct vr_generation *gen, struct event_base *base)
{
    struct vr_instance *inst = calloc(1, sizeof(*inst));
    if (inst == NULL)
        return NULL;
    inst->module = m;
    inst->tag = strdup(tag ? tag : m->name);
    if (inst->tag == NULL) {
        free(inst);
        return NULL;
    }
    if (strcmp(inst->tag, m->name) == 0)
        snprintf(inst->prefix, sizeof(inst->prefix), "[%s] ", m->name);
    else
        snprintf(inst->prefix, sizeof(inst->prefix), "[%s/%s] ", m->name, inst->tag);
    inst->cfg = cfg;
    inst->gen = gen;
    inst->base = base;
    inst->loop = vr_fdloop_of(base);
    inst->healthy = true;
    inst->lifecycle = VR_INST_NEW;
    return inst;
}

typedef int (*create_fn)(struct vr_instance *, const struct vr_host *, void **);

static create_fn create_of(const struct vr_instance *inst)
{
    switch (inst->module->desc->kind) {
    case VR_KIND_OUTBOUND: return vr_instance_outbound(inst)->create;
    case VR_KIND_SNIFFER: return vr_instance_sniffer(inst)->create;
    case VR_KIND_INSTALLER: return vr_instance_installer(inst)->create;
    default: return NULL;
    }
}

static void release_leftovers(struct vr_instance *inst)
{
    while (inst->watches)
        vr_watch_free(inst->watches);
    while (inst->timers)
        vr_timer_free(inst->timers);
    while (inst->counters) {
        struct vr_counter *c = inst->counters;
        inst->counters = c->next;
        free(c->name);
        free(c);
    }
    while (inst->members) {
        struct vr_member_health *m = inst->members;
        inst->members = m->next;
        free(m);
    }
    inst->n_members = 0;
}

int vr_instance_create(struct vr_instance *inst)
{
    create_fn create = create_of(inst);
    inst->lifecycle = VR_INST_CREATING;
    int r = create ? create(inst, &vr_host_services, &inst->state) : 0;
    if (r < 0) {
        /* A failed create cleaned up after itself; drop what the host holds. */
        inst->lifecycle = VR_INST_FAILED;
        inst->state = NULL;
        release_leftovers(inst);
        vr_debug("%screate failed: %s", inst->prefix, strerror(-r));
        return r;
    }
    inst->lifecycle = VR_INST_READY;
    return 0;
}

void vr_instance_free(struct vr_instance *inst)
{
    if (inst == NULL)
        return;
    if (inst->lifecycle == VR_INST_READY) {
        switch (inst->module->desc->kind) {
        case VR_KIND_OUTBOUND: vr_instance_outbound(inst)->destroy(inst->state); break;
        case VR_KIND_SNIFFER:
            if (vr_instance_sniffer(inst)->destroy)
                vr_instance_sniffer(inst)->destroy(inst->state);
            break;
        case VR_KIND_INSTALLER: vr_instance_installer(inst)->destroy(inst->state); break;
        }
    }
    if (inst->watches || inst->timers)
        vr_debug("%sdestroy left %s behind; cancelled", inst->prefix, inst->watches ? "fd watches" : "timers");
    release_leftovers(inst);
    vr_dns_host_resolves_release(inst);
    vr_module_put(inst->module);
    vr_cfg_free(inst->owned_cfg);
    free(inst->tag);
    free(inst);
}

int64_t vr_instance_counter_value(const struct vr_instance *inst, const char *name)
{
    for (const struct vr_counter *c = inst ? inst->counters : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c->value;
    return 0;
}

const struct vr_member_health *vr_instance_member(const struct vr_instance *inst, const char *name)
{
    for (const struct vr_member_health *m = inst ? inst->members : NULL; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

bool vr_instance_has_counter(const struct vr_instance *inst, const char *name)
{
    for (const struct vr_counter *c = inst ? inst->counters : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return true;
    return false;
}
