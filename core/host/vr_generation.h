/* A config generation: the parsed config plus every module instance created
 * for it. Connections hold a reference to the generation they started in; the
 * generation and its instances go at the last reference. */
#ifndef VR_GENERATION_H
#define VR_GENERATION_H

#include <stdbool.h>
#include <stdint.h>

#include "vr_config.h"
#include "vr_instance.h"

struct event_base;

struct vr_generation {
    uint64_t id;
    int refs;
    /* Fires on the loop to release a generation whose last reference went
     * away: see vr_generation_unref. */
    struct event *release_ev;
    struct vr_generation *next_released;
    /* Every generation from its build to its release, newest first. */
    struct vr_generation *live_next, **live_pprev;
    uint64_t built_ms;
    /* Set by vr_generation_retire when a reload replaced it. */
    uint64_t retired_ms;
    uint64_t deadline_ms; /* 0: no deadline */
    struct event *deadline_ev;
    void (*on_deadline)(struct vr_generation *g);
    struct vr_config *cfg;
    struct event_base *base;
    struct vr_instance **outbounds;  /* cfg->n_outbounds, by config index */
    struct vr_instance **installers; /* cfg->n_installers, in order */
    struct vr_instance **sniffers;   /* one per distinct sniffer name */
    size_t n_sniffers;
    bool installed; /* installers applied: the kernel state is this generation's */
    /* Flows routed by each rule, by rule index; [cfg->rules.n] counts the
     * final outbound (vr_generation_count_rule). */
    uint64_t *rule_hits;
};

/* A flow of g was routed by rule (NULL: the final outbound). */
static inline void vr_generation_count_rule(struct vr_generation *g, const struct vr_rule *rule)
{
    g->rule_hits[rule ? (size_t)(rule - g->cfg->rules.rules) : g->cfg->rules.n]++;
}

/* Parses path, loads modules, creates every instance. On any error returns
 * NULL and fills errs with FILE:LINE messages; nothing is left behind. */
struct vr_generation *vr_generation_build(const char *path, struct event_base *base, uint64_t id,
                                          struct vr_errors *errs);
struct vr_generation *vr_generation_ref(struct vr_generation *g);
/* Drops a reference. At the last one the generation is not destroyed on the
 * spot: the caller may be running inside a callback of one of its own module
 * instances (a connect failure that closes the last connection), and
 * destroying would free that instance and dlclose its module under it. The
 * release runs from the event loop instead, or at vr_generation_release_all. */
void vr_generation_unref(struct vr_generation *g);
/* Destroys now every generation whose release is still pending: for exits,
 * after the loop has stopped. Never call it from a module callback. */
void vr_generation_release_all(void);

/* g was replaced by a reload: it stays while anything holds it. With
 * timeout_s > 0, on_deadline runs once that long from now (it should close
 * what still holds g). */
void vr_generation_retire(struct vr_generation *g, uint32_t timeout_s, void (*on_deadline)(struct vr_generation *g));
/* The newest generation still alive (active or retired); follow live_next. */
struct vr_generation *vr_generation_live(void);

/* Creates the outbound at index (and whatever it refers to) on demand. */
struct vr_instance *vr_generation_outbound(struct vr_generation *g, int index, const struct vr_cfg *asking,
                                           const char *key);
struct vr_instance *vr_generation_sniffer(const struct vr_generation *g, const char *name);

/* Installers: apply this generation's over prev's (prev may be NULL);
 * transactional: on failure everything is back as prev had it. */
int vr_generation_install(struct vr_generation *g, struct vr_generation *prev);
/* At exit: remove everything the installers of g own. */
void vr_generation_uninstall(struct vr_generation *g);

#endif
