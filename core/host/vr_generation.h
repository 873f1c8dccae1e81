/* A config generation: the parsed config, its installers (main thread), and
 * one set of module instances (outbounds, sniffers) per worker, each created,
 * used and destroyed on its worker's thread as the plugin ABI promises.
 * Flows hold a reference to the generation they started in; the generation
 * and its instances go at the last reference. References are atomic: flows
 * of every worker take and drop them. */
#ifndef VR_GENERATION_H
#define VR_GENERATION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vr_config.h"
#include "vr_instance.h"

struct event_base;
struct vr_dns_resolver;

/* One worker's instances of a generation. */
struct vr_gen_set {
    struct vr_generation *gen;
    size_t index; /* the worker's */
    struct event_base *base;
    struct vr_instance **outbounds; /* cfg->n_outbounds, by config index */
    struct vr_instance **sniffers;  /* one per distinct sniffer name */
    size_t n_sniffers;
    /* Flows routed by each rule, by rule index; [cfg->rules.n] counts the
     * final outbound (vr_gen_set_count_rule). Summed over sets when read. */
    uint64_t *rule_hits;
    struct vr_dns_resolver *dns; /* the worker's resolver of this generation's dns block; NULL without one */
};

/* Where a generation's instance sets live: one per worker. run_on runs
 * fn(arg) on worker i's thread and returns when it has (NULL: on the
 * caller's, for a process with no worker threads: -t, tests). The placement
 * outlives every generation built with it. */
struct vr_gen_placement {
    size_t n;
    struct event_base **bases;
    void (*run_on)(void *ctx, size_t i, void (*fn)(void *arg), void *arg);
    void *ctx;
};

struct vr_generation {
    uint64_t id;
    atomic_int refs;
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
    struct event_base *base;         /* the main thread's: installers, deadline, release */
    struct vr_instance **installers; /* cfg->n_installers, in order */
    bool installed; /* installers applied: the kernel state is this generation's */
    struct vr_gen_set *sets;         /* one per worker */
    size_t n_sets;
    const struct vr_gen_placement *place;
    struct vr_gen_placement own_place; /* vr_generation_build's: one set on base */
};

/* Worker wi's instances of g. */
static inline struct vr_gen_set *vr_generation_set(struct vr_generation *g, size_t wi) { return &g->sets[wi]; }

/* A flow of set s was routed by rule (NULL: the final outbound). */
static inline void vr_gen_set_count_rule(struct vr_gen_set *s, const struct vr_rule *rule)
{
    s->rule_hits[rule ? (size_t)(rule - s->gen->cfg->rules.rules) : s->gen->cfg->rules.n]++;
}
/* Each counter of outbound i once, summed over every worker's instance (a
 * module makes its counters as it needs them, so workers may have
 * different ones). Read with the workers parked. */
void vr_generation_outbound_counters(const struct vr_generation *g, size_t i,
                                     void (*fn)(const char *name, int64_t sum, void *arg), void *arg);
/* Flows routed by rule index i, over every set. */
uint64_t vr_generation_rule_hits(const struct vr_generation *g, size_t i);

/* Parses path, loads modules, creates every instance: installers on base,
 * and one instance set per worker of place (on its thread). On any error
 * returns NULL and fills errs with FILE:LINE messages; nothing is left
 * behind. */
struct vr_generation *vr_generation_build_on(const char *path, struct event_base *base,
                                             const struct vr_gen_placement *place, uint64_t id,
                                             struct vr_errors *errs);
/* The same with one instance set, on base (the caller's thread). */
struct vr_generation *vr_generation_build(const char *path, struct event_base *base, uint64_t id,
                                          struct vr_errors *errs);
struct vr_generation *vr_generation_ref(struct vr_generation *g);
/* Drops a reference (from any thread). At the last one the generation is
 * not destroyed on the spot: the caller may be running inside a callback of
 * one of its own module instances (a connect failure that closes the last
 * connection), and destroying would free that instance and dlclose its
 * module under it. The release runs from the main thread's event loop
 * instead (each set destroyed on its worker's thread), or at
 * vr_generation_release_all. */
void vr_generation_unref(struct vr_generation *g);
/* Destroys now every generation whose release is still pending: for exits,
 * after the loops have stopped. Never call it from a module callback. */
void vr_generation_release_all(void);

/* g was replaced by a reload: it stays while anything holds it. With
 * timeout_s > 0, on_deadline runs once that long from now (it should close
 * what still holds g). */
void vr_generation_retire(struct vr_generation *g, uint32_t timeout_s, void (*on_deadline)(struct vr_generation *g));
/* The newest generation still alive (active or retired); follow live_next. */
struct vr_generation *vr_generation_live(void);

/* Creates the outbound at index (and whatever it refers to) on demand. */
struct vr_instance *vr_gen_set_outbound(struct vr_gen_set *s, int index, const struct vr_cfg *asking,
                                        const char *key);
struct vr_instance *vr_gen_set_sniffer(const struct vr_gen_set *s, const char *name);

/* Installers: apply this generation's over prev's (prev may be NULL);
 * transactional: on failure everything is back as prev had it. */
int vr_generation_install(struct vr_generation *g, struct vr_generation *prev);
/* At exit: remove everything the installers of g own. */
void vr_generation_uninstall(struct vr_generation *g);

#endif
