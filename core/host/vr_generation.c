#include "vr_generation.h"

#include <errno.h>
#include <pthread.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_cgroup_capture.h"
#include "vr_dns_resolver.h"
#include "vr_log.h"
#include "vr_offload.h"
#include "vr_watch.h"
#include "vr_xdp.h"

static void copy_errors(struct vr_errors *to, const struct vr_errors *from)
{
    for (size_t i = 0; i < from->n; i++)
        vr_errors_add(to, "%s", from->msgs[i]);
}

static struct vr_instance *make_instance(struct vr_generation *g, struct vr_gen_set *set, struct event_base *base,
                                         const struct vr_block_cfg *b, int kind)
{
    struct vr_config *c = g->cfg;
    struct vr_module *m = vr_module_get(&c->daemon.module_path, b->module, kind, b->file, b->line, &c->errs);
    if (m == NULL)
        return NULL;
    struct vr_instance *inst = vr_instance_new(m, b->tag, b->view, g, base);
    if (inst == NULL)
        vr_module_put(m);
    else
        inst->set = set;
    return inst;
}

struct vr_instance *vr_gen_set_outbound(struct vr_gen_set *s, int index, const struct vr_cfg *asking,
                                        const char *key)
{
    struct vr_instance *inst = s->outbounds[index];
    if (inst == NULL)
        return NULL;
    switch (inst->lifecycle) {
    case VR_INST_READY:
        return inst;
    case VR_INST_CREATING:
        if (asking)
            vr_cfg_error(asking, key, "outbound \"%s\" refers back to itself (a reference cycle)", inst->tag);
        return NULL;
    case VR_INST_FAILED:
        return NULL;
    default:
        return vr_instance_create(inst) == 0 ? inst : NULL;
    }
}

struct vr_instance *vr_gen_set_sniffer(const struct vr_gen_set *s, const char *name)
{
    for (size_t i = 0; i < s->n_sniffers; i++)
        if (strcmp(s->sniffers[i]->module->name, name) == 0)
            return s->sniffers[i];
    return NULL;
}

uint64_t vr_generation_rule_hits(const struct vr_generation *g, size_t i)
{
    uint64_t n = 0;
    for (size_t k = 0; k < g->n_sets; k++)
        if (g->sets[k].rule_hits)
            n += g->sets[k].rule_hits[i];
    return n;
}

void vr_generation_outbound_counters(const struct vr_generation *g, size_t i,
                                     void (*fn)(const char *name, int64_t sum, void *arg), void *arg)
{
    for (size_t k = 0; k < g->n_sets; k++) {
        const struct vr_instance *inst = g->sets[k].outbounds ? g->sets[k].outbounds[i] : NULL;
        for (const struct vr_counter *c = inst ? inst->counters : NULL; c; c = c->next) {
            /* Once per name: at the first set that has it. */
            bool seen = false;
            for (size_t j = 0; j < k && !seen; j++)
                seen = g->sets[j].outbounds && vr_instance_has_counter(g->sets[j].outbounds[i], c->name);
            if (seen)
                continue;
            int64_t sum = 0;
            for (size_t j = k; j < g->n_sets; j++)
                sum += vr_instance_counter_value(g->sets[j].outbounds ? g->sets[j].outbounds[i] : NULL, c->name);
            fn(c->name, sum, arg);
        }
    }
}

static int build_sniffers(struct vr_gen_set *s)
{
    struct vr_config *c = s->gen->cfg;
    for (size_t i = 0; i < c->n_listeners; i++) {
        const struct vr_listener_cfg *l = &c->listeners[i];
        for (int k = 0; k < l->n_sniff; k++) {
            if (vr_gen_set_sniffer(s, l->sniff[k]))
                continue;
            struct vr_module *m = vr_module_get(&c->daemon.module_path, l->sniff[k], VR_KIND_SNIFFER, l->file,
                                                l->line, &c->errs);
            if (m == NULL)
                return -EINVAL;
            struct vr_instance *inst = vr_instance_new(m, m->name, NULL, s->gen, s->base);
            if (inst) {
                char what[96];
                snprintf(what, sizeof(what), "sniffer '%s'", m->name);
                inst->owned_cfg = vr_cfg_new(NULL, what, &c->root);
                inst->cfg = inst->owned_cfg;
                inst->set = s;
            }
            struct vr_instance **arr = inst ? realloc(s->sniffers, (s->n_sniffers + 1) * sizeof(*arr)) : NULL;
            if (arr == NULL) {
                if (inst)
                    vr_instance_free(inst);
                else
                    vr_module_put(m);
                return -ENOMEM;
            }
            s->sniffers = arr;
            s->sniffers[s->n_sniffers++] = inst;
            if (vr_instance_create(inst) < 0)
                return -EINVAL;
        }
    }
    return 0;
}

/* Runs on the set's worker thread (vr_gen_placement.run_on). Errors go to
 * the config's list: the main thread waits meanwhile, and sets are built one
 * worker at a time, so nothing else writes it. */
static void set_build(void *arg)
{
    struct vr_gen_set *s = arg;
    struct vr_config *c = s->gen->cfg;
    s->outbounds = calloc(c->n_outbounds + 1, sizeof(*s->outbounds));
    s->rule_hits = calloc(c->rules.n + 1, sizeof(*s->rule_hits));
    if (!s->outbounds || !s->rule_hits) {
        vr_errors_add(&c->errs, "%s: out of memory", c->path);
        return;
    }
    /* Before the outbounds: their create may start a host->resolve. */
    if (c->dns && (s->dns = vr_dns_resolver_new(s)) == NULL) {
        vr_errors_add(&c->errs, "%s: out of memory (dns resolver)", c->path);
        return;
    }
    for (size_t i = 0; i < c->n_outbounds; i++)
        s->outbounds[i] = make_instance(s->gen, s, s->base, &c->outbounds[i], VR_KIND_OUTBOUND);
    if (c->errs.n > 0)
        return;
    for (size_t i = 0; i < c->n_outbounds; i++)
        vr_gen_set_outbound(s, (int)i, NULL, NULL);
    build_sniffers(s);
    for (size_t i = 0; i < c->n_outbounds; i++)
        if (s->outbounds[i] && s->outbounds[i]->lifecycle != VR_INST_READY && c->errs.n == 0)
            vr_errors_at(&c->errs, c->outbounds[i].file, c->outbounds[i].line, "outbound \"%s\": module \"%s\" refused its "
                         "config (see the log above)", c->outbounds[i].tag, c->outbounds[i].module);
}

/* Runs on the set's worker thread: its instances go where they were made. */
static void set_destroy(void *arg)
{
    struct vr_gen_set *s = arg;
    struct vr_config *c = s->gen->cfg;
    /* The resolver's queries use the outbounds: it goes first. */
    vr_dns_resolver_free(s->dns);
    s->dns = NULL;
    /* Composites refer to their members: destroy in reverse creation order. */
    if (s->outbounds)
        for (size_t i = c->n_outbounds; i-- > 0;)
            vr_instance_free(s->outbounds[i]);
    for (size_t i = 0; i < s->n_sniffers; i++)
        vr_instance_free(s->sniffers[i]);
    free(s->outbounds);
    free(s->sniffers);
    free(s->rule_hits);
    s->outbounds = NULL;
    s->sniffers = NULL;
    s->rule_hits = NULL;
    s->n_sniffers = 0;
}

static void run_on(const struct vr_gen_placement *p, size_t i, void (*fn)(void *), void *arg)
{
    if (p->run_on)
        p->run_on(p->ctx, i, fn, arg);
    else
        fn(arg);
}

/* Generations from build to release, newest first (main thread only). */
static struct vr_generation *live;

static void destroy(struct vr_generation *g)
{
    struct vr_config *c = g->cfg;
    if (g->live_pprev) {
        *g->live_pprev = g->live_next;
        if (g->live_next)
            g->live_next->live_pprev = g->live_pprev;
    }
    if (g->release_ev)
        event_free(g->release_ev);
    if (g->deadline_ev)
        event_free(g->deadline_ev);
    for (size_t i = g->n_sets; i-- > 0;)
        run_on(g->place, i, set_destroy, &g->sets[i]);
    if (g->installers)
        for (size_t i = c->n_installers; i-- > 0;)
            vr_instance_free(g->installers[i]);
    free(g->installers);
    free(g->sets);
    vr_config_free(c);
    free(g);
}

/* Generations whose last reference is gone, waiting for the main loop. A
 * worker's flow may drop the last reference: the list is locked. */
static struct vr_generation *released;
static pthread_mutex_t released_mu = PTHREAD_MUTEX_INITIALIZER;

static void release(struct vr_generation *g)
{
    pthread_mutex_lock(&released_mu);
    for (struct vr_generation **p = &released; *p; p = &(*p)->next_released) {
        if (*p == g) {
            *p = g->next_released;
            break;
        }
    }
    pthread_mutex_unlock(&released_mu);
    vr_debug("generation %llu released", (unsigned long long)g->id);
    destroy(g);
}

static void release_from_loop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    release(arg);
}

struct vr_generation *vr_generation_build_on(const char *path, struct event_base *base,
                                             const struct vr_gen_placement *place, uint64_t id,
                                             struct vr_errors *errs)
{
    struct vr_config *c = vr_config_load(path);
    if (c == NULL) {
        vr_errors_add(errs, "%s: out of memory", path);
        return NULL;
    }
    struct vr_generation *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        vr_config_free(c);
        vr_errors_add(errs, "%s: out of memory", path);
        return NULL;
    }
    g->id = id;
    atomic_init(&g->refs, 1);
    g->cfg = c;
    g->base = base;
    g->own_place.n = 1;
    g->own_place.bases = &g->base;
    g->place = place ? place : &g->own_place;
    if (c->errs.n > 0)
        goto fail;
    g->release_ev = event_new(base, -1, 0, release_from_loop, g);
    if (g->release_ev == NULL)
        goto fail;
    g->installers = calloc(c->n_installers + 1, sizeof(*g->installers));
    g->sets = calloc(g->place->n, sizeof(*g->sets));
    if (!g->installers || !g->sets)
        goto fail;
    g->n_sets = g->place->n;
    for (size_t i = 0; i < g->n_sets; i++) {
        g->sets[i].gen = g;
        g->sets[i].index = i;
        g->sets[i].base = g->place->bases[i];
    }
    /* Load every module first so that all "cannot load" errors show at once. */
    for (size_t i = 0; i < c->n_installers; i++)
        g->installers[i] = make_instance(g, NULL, base, &c->installers[i], VR_KIND_INSTALLER);
    for (size_t i = 0; i < g->n_sets && c->errs.n == 0; i++)
        run_on(g->place, i, set_build, &g->sets[i]);
    if (c->errs.n == 0)
        vr_offload_check_stateless(c); /* asks the outbound modules, loaded now */
    if (c->errs.n > 0)
        goto fail;
    for (size_t i = 0; i < c->n_installers; i++)
        vr_instance_create(g->installers[i]);
    for (size_t i = 0; i < c->n_installers; i++)
        if (g->installers[i] && g->installers[i]->lifecycle != VR_INST_READY && c->errs.n == 0)
            vr_errors_at(&c->errs, c->installers[i].file, c->installers[i].line, "installer \"%s\" refused its config",
                         c->installers[i].module);
    if (c->errs.n == 0)
        vr_config_check_unknown(c);
    if (c->errs.n > 0)
        goto fail;
    g->built_ms = vr_now_ms();
    g->live_next = live;
    if (live)
        live->live_pprev = &g->live_next;
    g->live_pprev = &live;
    live = g;
    return g;
fail:
    copy_errors(errs, &c->errs);
    if (errs->n == 0)
        vr_errors_add(errs, "%s: out of memory", path);
    destroy(g);
    return NULL;
}

struct vr_generation *vr_generation_build(const char *path, struct event_base *base, uint64_t id,
                                          struct vr_errors *errs)
{
    return vr_generation_build_on(path, base, NULL, id, errs);
}

struct vr_generation *vr_generation_ref(struct vr_generation *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    return g;
}

void vr_generation_unref(struct vr_generation *g)
{
    /* acq_rel: whatever a thread did with g happens before its release. */
    if (g == NULL || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) > 1)
        return;
    pthread_mutex_lock(&released_mu);
    g->next_released = released;
    released = g;
    pthread_mutex_unlock(&released_mu);
    event_active(g->release_ev, EV_TIMEOUT, 1);
}

static void deadline_reached(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_generation *g = arg;
    g->on_deadline(g);
}

void vr_generation_retire(struct vr_generation *g, uint32_t timeout_s, void (*on_deadline)(struct vr_generation *g))
{
    g->retired_ms = vr_now_ms();
    if (timeout_s == 0 || on_deadline == NULL)
        return;
    struct timeval tv = {.tv_sec = timeout_s};
    g->on_deadline = on_deadline;
    g->deadline_ev = evtimer_new(g->base, deadline_reached, g);
    if (g->deadline_ev == NULL || evtimer_add(g->deadline_ev, &tv) < 0) {
        vr_err("generation %llu: cannot arm its retire deadline (out of memory): it lives until its last flow ends",
               (unsigned long long)g->id);
        return;
    }
    g->deadline_ms = g->retired_ms + (uint64_t)timeout_s * 1000u;
}

struct vr_generation *vr_generation_live(void) { return live; }

void vr_generation_release_all(void)
{
    for (;;) {
        pthread_mutex_lock(&released_mu);
        struct vr_generation *g = released;
        pthread_mutex_unlock(&released_mu);
        if (g == NULL)
            return;
        release(g);
    }
}

static struct vr_instance *matching_installer(struct vr_generation *prev, size_t i, const struct vr_instance *inst)
{
    if (prev == NULL || !prev->installed || i >= prev->cfg->n_installers)
        return NULL;
    struct vr_instance *old = prev->installers[i];
    return old->module == inst->module ? old : NULL;
}

int vr_generation_install(struct vr_generation *g, struct vr_generation *prev)
{
    size_t n = g->cfg->n_installers;
    size_t done = 0;
    /* The core's own kernel state first: the XDP allow-list, the cgroup capture. */
    const struct vr_config *prev_cfg = prev && prev->installed ? prev->cfg : NULL;
    int r = vr_xdp_apply(&g->cfg->xdp);
    if (r < 0)
        return r;
    r = vr_cgroup_capture_apply(g->cfg);
    if (r < 0) {
        vr_xdp_apply(prev_cfg ? &prev_cfg->xdp : NULL);
        return r;
    }
    for (; done < n; done++) {
        struct vr_instance *inst = g->installers[done];
        struct vr_instance *old = matching_installer(prev, done, inst);
        r = vr_instance_installer(inst)->apply(inst->state, old ? old->state : NULL);
        if (r < 0) {
            vr_err("installer %s failed to apply: %s; rolling back", inst->tag, strerror(-r));
            break;
        }
    }
    if (r < 0) {
        /* Back to prev's kernel state, newest first. */
        while (done-- > 0) {
            struct vr_instance *inst = g->installers[done];
            struct vr_instance *old = matching_installer(prev, done, inst);
            if (old)
                vr_instance_installer(old)->apply(old->state, inst->state);
            else
                vr_instance_installer(inst)->revert(inst->state);
        }
        vr_cgroup_capture_apply(prev_cfg);
        vr_xdp_apply(prev_cfg ? &prev_cfg->xdp : NULL);
        return r;
    }
    /* Installers of prev with no counterpart in g: remove what they own. */
    if (prev && prev->installed) {
        for (size_t i = 0; i < prev->cfg->n_installers; i++) {
            struct vr_instance *old = prev->installers[i];
            if (i >= n || g->installers[i]->module != old->module)
                vr_instance_installer(old)->revert(old->state);
        }
        prev->installed = false;
    }
    g->installed = true;
    return 0;
}

void vr_generation_uninstall(struct vr_generation *g)
{
    if (g == NULL || !g->installed)
        return;
    for (size_t i = g->cfg->n_installers; i-- > 0;) {
        struct vr_instance *inst = g->installers[i];
        int r = vr_instance_installer(inst)->revert(inst->state);
        if (r < 0)
            vr_err("installer %s failed to remove its state: %s", inst->tag, strerror(-r));
    }
    vr_cgroup_capture_apply(NULL);
    vr_xdp_apply(NULL);
    g->installed = false;
}
