#include "vr_listener_reload.h"

#include <errno.h>
#include <stdlib.h>

int vr_listen_prepare(const struct vr_listen_ops *ops, void *current, const struct vr_config *cfg,
                      struct vr_worker *w, void **opened, struct vr_errors *errs)
{
    *opened = NULL;
    for (void *l = current; l; l = ops->next(l))
        *ops->match(l) = -1;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct vr_listener_cfg *lc = &cfg->listeners[i];
        if (!(lc->networks & ops->network))
            continue;
        void *found = NULL;
        for (void *l = current; l && !found; l = ops->next(l))
            if (*ops->match(l) < 0 && ops->serves(l, lc))
                found = l;
        if (found == NULL) {
            found = ops->open(lc, w, cfg->path, errs);
            if (found == NULL) {
                vr_listen_abort(ops, *opened);
                *opened = NULL;
                return -EINVAL;
            }
            ops->set_next(found, *opened);
            *opened = found;
        }
        *ops->match(found) = (int)i;
    }
    return 0;
}

void *vr_listen_commit(const struct vr_listen_ops *ops, void *current, void *opened, const struct vr_config *cfg,
                       bool reloading)
{
    /* Each config entry is served by at most one listener of a kind. */
    void **by_entry = calloc(cfg->n_listeners + 1, sizeof(*by_entry));
    void *kept = NULL;
    for (void *l = current, *next; l; l = next) {
        next = ops->next(l);
        if (*ops->match(l) < 0) {
            ops->close(l, true);
            continue;
        }
        ops->bind(l, &cfg->listeners[*ops->match(l)], cfg, false);
        ops->set_next(l, kept);
        kept = l;
    }
    for (void *l = opened, *next; l; l = next) {
        next = ops->next(l);
        ops->bind(l, &cfg->listeners[*ops->match(l)], cfg, reloading);
        ops->set_next(l, kept);
        kept = l;
    }
    if (by_entry == NULL)
        return kept; /* out of memory: every listener kept, in another order */
    for (void *l = kept; l; l = ops->next(l))
        by_entry[*ops->match(l)] = l;
    kept = NULL;
    for (size_t i = cfg->n_listeners; i-- > 0;) { /* config order, for the logs */
        if (by_entry[i] == NULL)
            continue;
        ops->set_next(by_entry[i], kept);
        kept = by_entry[i];
    }
    free(by_entry);
    return kept;
}

void vr_listen_abort(const struct vr_listen_ops *ops, void *opened)
{
    while (opened) {
        void *next = ops->next(opened);
        ops->close(opened, false);
        opened = next;
    }
}
