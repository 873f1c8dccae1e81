#include "vr_generation.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_log.h"
#include "vr_watch.h"

static void copy_errors(struct vr_errors *to, const struct vr_errors *from)
{
    for (size_t i = 0; i < from->n; i++)
        vr_errors_add(to, "%s", from->msgs[i]);
}

static struct vr_instance *make_instance(struct vr_generation *g, const struct vr_block_cfg *b, int kind)
{
    struct vr_config *c = g->cfg;
    struct vr_module *m = vr_module_get(&c->daemon.module_path, b->module, kind, b->file, b->line, &c->errs);
    if (m == NULL)
        return NULL;
    struct vr_instance *inst = vr_instance_new(m, b->tag, b->view, g, g->base);
    if (inst == NULL)
        vr_module_put(m);
    return inst;
}

struct vr_instance *vr_generation_outbound(struct vr_generation *g, int index, const struct vr_cfg *asking,
                                           const char *key)
{
    struct vr_instance *inst = g->outbounds[index];
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

struct vr_instance *vr_generation_sniffer(const struct vr_generation *g, const char *name)
{
    for (size_t i = 0; i < g->n_sniffers; i++)
        if (strcmp(g->sniffers[i]->module->name, name) == 0)
            return g->sniffers[i];
    return NULL;
}

static int build_sniffers(struct vr_generation *g)
{
    struct vr_config *c = g->cfg;
    for (size_t i = 0; i < c->n_listeners; i++) {
        const struct vr_listener_cfg *l = &c->listeners[i];
        for (int k = 0; k < l->n_sniff; k++) {
            if (vr_generation_sniffer(g, l->sniff[k]))
                continue;
            struct vr_module *m = vr_module_get(&c->daemon.module_path, l->sniff[k], VR_KIND_SNIFFER, l->file,
                                                l->line, &c->errs);
            if (m == NULL)
                return -EINVAL;
            struct vr_instance *inst = vr_instance_new(m, m->name, NULL, g, g->base);
            if (inst) {
                char what[96];
                snprintf(what, sizeof(what), "sniffer '%s'", m->name);
                inst->owned_cfg = vr_cfg_new(NULL, what, &c->root);
                inst->cfg = inst->owned_cfg;
            }
            struct vr_instance **arr = inst ? realloc(g->sniffers, (g->n_sniffers + 1) * sizeof(*arr)) : NULL;
            if (arr == NULL) {
                if (inst)
                    vr_instance_free(inst);
                else
                    vr_module_put(m);
                return -ENOMEM;
            }
            g->sniffers = arr;
            g->sniffers[g->n_sniffers++] = inst;
            if (vr_instance_create(inst) < 0)
                return -EINVAL;
        }
    }
    return 0;
}

/* Generations from build to release, newest first. */
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
    /* Composites refer to their members: destroy in reverse creation order. */
    if (g->outbounds)
        for (size_t i = c->n_outbounds; i-- > 0;)
            vr_instance_free(g->outbounds[i]);
    if (g->installers)
        for (size_t i = c->n_installers; i-- > 0;)
            vr_instance_free(g->installers[i]);
    for (size_t i = 0; i < g->n_sniffers; i++)
        vr_instance_free(g->sniffers[i]);
    free(g->outbounds);
    free(g->installers);
    free(g->rule_hits);
    free(g->sniffers);
    vr_config_free(c);
    free(g);
}

/* Generations whose last reference is gone, waiting for the loop. */
static struct vr_generation *released;

static void release(struct vr_generation *g)
{
    for (struct vr_generation **p = &released; *p; p = &(*p)->next_released) {
        if (*p == g) {
            *p = g->next_released;
            break;
        }
    }
    vr_debug("generation %llu released", (unsigned long long)g->id);
    destroy(g);
}

static void release_from_loop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    release(arg);
}

struct vr_generation *vr_generation_build(const char *path, struct event_base *base, uint64_t id,
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
    g->refs = 1;
    g->cfg = c;
    g->base = base;
    if (c->errs.n > 0)
        goto fail;
    g->release_ev = event_new(base, -1, 0, release_from_loop, g);
    if (g->release_ev == NULL)
        goto fail;
    g->outbounds = calloc(c->n_outbounds + 1, sizeof(*g->outbounds));
    g->installers = calloc(c->n_installers + 1, sizeof(*g->installers));
    g->rule_hits = calloc(c->rules.n + 1, sizeof(*g->rule_hits));
    if (!g->outbounds || !g->installers || !g->rule_hits)
        goto fail;
    /* Load every module first so that all "cannot load" errors show at once. */
    for (size_t i = 0; i < c->n_outbounds; i++)
        g->outbounds[i] = make_instance(g, &c->outbounds[i], VR_KIND_OUTBOUND);
    for (size_t i = 0; i < c->n_installers; i++)
        g->installers[i] = make_instance(g, &c->installers[i], VR_KIND_INSTALLER);
    if (c->errs.n > 0)
        goto fail;
    for (size_t i = 0; i < c->n_outbounds; i++)
        vr_generation_outbound(g, (int)i, NULL, NULL);
    for (size_t i = 0; i < c->n_installers; i++)
        vr_instance_create(g->installers[i]);
    build_sniffers(g);
    for (size_t i = 0; i < c->n_outbounds; i++)
        if (g->outbounds[i] && g->outbounds[i]->lifecycle != VR_INST_READY && c->errs.n == 0)
            vr_errors_at(&c->errs, c->outbounds[i].file, c->outbounds[i].line, "outbound \"%s\": module \"%s\" refused its "
                         "config (see the log above)", c->outbounds[i].tag, c->outbounds[i].module);
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

struct vr_generation *vr_generation_ref(struct vr_generation *g)
{
    g->refs++;
    return g;
}

void vr_generation_unref(struct vr_generation *g)
{
    if (g == NULL || --g->refs > 0)
        return;
    g->next_released = released;
    released = g;
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
    while (released)
        release(released);
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
    int r = 0;
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
    g->installed = false;
}
