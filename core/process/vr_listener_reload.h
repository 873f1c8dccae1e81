/* A worker's listeners of one kind (TCP or UDP) on reload, in three steps:
 * prepare opens what the config adds and marks what it keeps, changing
 * nothing the running flows see; commit closes what the config dropped and
 * binds every listener to its entry in the new config, in config order;
 * abort closes what prepare opened. A listener whose address, port and mode
 * did not change keeps its socket, so nothing is refused while the config is
 * swapped. The kinds differ only in what ops does; lists are linked through
 * ops->next, and the caller keeps the head (vr_listener_set.c). */
#ifndef VR_LISTENER_RELOAD_H
#define VR_LISTENER_RELOAD_H

#include <stdbool.h>

#include "vr_config.h"

struct vr_worker;

struct vr_listen_ops {
    unsigned network; /* the config entries of this kind: VR_NET_TCP or VR_NET_UDP */
    void *(*next)(void *l);
    void (*set_next)(void *l, void *next);
    int *(*match)(void *l); /* reload bookkeeping: the config entry it serves, or -1 */
    /* l can serve lc without a new socket. */
    bool (*serves)(void *l, const struct vr_listener_cfg *lc);
    void *(*open)(const struct vr_listener_cfg *lc, struct vr_worker *w, const char *file, struct vr_errors *errs);
    /* dropped: the config no longer has it (log it); else an abort. */
    void (*close)(void *l, bool dropped);
    /* From now on l serves lc of cfg (its tag, its entry); opened: new in a reload (log it). */
    void (*bind)(void *l, const struct vr_listener_cfg *lc, const struct vr_config *cfg, bool opened);
};

int vr_listen_prepare(const struct vr_listen_ops *ops, void *current, const struct vr_config *cfg,
                      struct vr_worker *w, void **opened, struct vr_errors *errs);
/* Returns the new list. */
void *vr_listen_commit(const struct vr_listen_ops *ops, void *current, void *opened, const struct vr_config *cfg,
                       bool reloading);
void vr_listen_abort(const struct vr_listen_ops *ops, void *opened);

#endif
