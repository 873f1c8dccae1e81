/* One instance of a module: one config block, one generation, one worker.
 * Owns the fd watches, timers and counters the module made through the host,
 * so they all go when the instance goes. */
#ifndef VR_INSTANCE_H
#define VR_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include <vrouter/vr_plugin.h>

#include "vr_cfg_view.h"
#include "vr_module.h"

struct event_base;
struct vr_fdloop;
struct vr_generation;
struct vr_gen_set;
struct vr_watch;
struct vr_timer;
struct vr_dns_host_pending;

/* A composite outbound's member as it reports it (host->member_health). */
struct vr_member_health {
    char name[64];
    bool up;
    char detail[128];
    struct vr_member_health *next; /* in report order of first appearance */
};

#define VR_INSTANCE_MAX_MEMBERS 64

struct vr_counter {
    char *name;
    int64_t value;
    struct vr_counter *next;
};

enum vr_instance_state { VR_INST_NEW, VR_INST_CREATING, VR_INST_READY, VR_INST_FAILED };

struct vr_instance {
    struct vr_module *module;
    char *tag;
    char prefix[96]; /* "[direct/wan-b] " */
    const struct vr_cfg *cfg;
    struct vr_cfg *owned_cfg; /* an empty view for modules named without a block */
    struct vr_generation *gen;
    struct vr_gen_set *set; /* its worker's instances of gen; NULL for installers (main thread) */
    struct event_base *base;
    struct vr_fdloop *loop; /* base's raw epoll set for the fd watches; NULL: libevent (vr_watch.c) */
    void *state;
    int lifecycle; /* enum vr_instance_state */
    bool healthy;
    char health_reason[128];
    struct vr_watch *watches;
    struct vr_timer *timers;
    struct vr_counter *counters;
    struct vr_member_health *members;
    size_t n_members;
    struct vr_dns_host_pending *resolves; /* host->resolve lookups not yet answered (core/dns/vr_dns_host_resolve.c) */
};

struct vr_instance *vr_instance_new(struct vr_module *m, const char *tag, const struct vr_cfg *cfg,
                                    struct vr_generation *gen, struct event_base *base);
/* Calls the module's create; on failure the instance stays FAILED. */
int vr_instance_create(struct vr_instance *inst);
/* The value of counter name of inst (0 when it has none): for sums over the
 * instances of one config block, one per worker. */
int64_t vr_instance_counter_value(const struct vr_instance *inst, const char *name);
bool vr_instance_has_counter(const struct vr_instance *inst, const char *name);
/* Member name of inst as last reported, or NULL. */
const struct vr_member_health *vr_instance_member(const struct vr_instance *inst, const char *name);
/* Calls destroy (if created), cancels leftovers, frees. */
void vr_instance_free(struct vr_instance *inst);

static inline const struct vr_outbound_ops *vr_instance_outbound(const struct vr_instance *i)
{
    return i->module->desc->ops;
}
static inline const struct vr_sniffer_ops *vr_instance_sniffer(const struct vr_instance *i)
{
    return i->module->desc->ops;
}
static inline const struct vr_installer_ops *vr_instance_installer(const struct vr_instance *i)
{
    return i->module->desc->ops;
}

#endif
