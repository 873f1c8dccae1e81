/* Listening sockets. They outlive config generations: a listener whose
 * address, port and mode did not change keeps its socket across reloads, so
 * no SYN is refused while the config is swapped. */
#ifndef VR_LISTENER_H
#define VR_LISTENER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vr_config.h"

struct event;
struct vr_worker;

struct vr_listener {
    char *tag; /* the tag in the active generation */
    const struct vr_listener_cfg *cfg; /* its entry in the worker's active generation */
    int mode;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint16_t port;
    int fd;
    struct event *ev;
    struct vr_worker *worker;
    bool paused;
    int match; /* reload bookkeeping: index of the config listener it serves, or -1 */
    struct vr_listener *next;
};

/* Opens a listener for cfg; errors go to errs as FILE:LINE. */
struct vr_listener *vr_listener_open(const struct vr_listener_cfg *cfg, struct vr_worker *w, const char *file,
                                     struct vr_errors *errs);
bool vr_listener_matches(const struct vr_listener *l, const struct vr_listener_cfg *cfg);

/* Reload in two steps, as the UDP listeners do (see vr_listener_set.h):
 * prepare opens what cfg adds (into *opened) and marks what it keeps;
 * commit closes what cfg dropped, binds the rest to their entries in cfg
 * (config order) and (reloading) logs what it opened; abort closes *opened. */
int vr_listeners_prepare(struct vr_listener *current, const struct vr_config *cfg, struct vr_worker *w,
                         struct vr_listener **opened, struct vr_errors *errs);
void vr_listeners_commit(struct vr_listener **current, struct vr_listener *opened, const struct vr_config *cfg,
                         bool reloading);
void vr_listeners_abort(struct vr_listener *opened);
/* "listener TAG: MODE on ADDR:PORT" and what happened (suffix). */
void vr_listener_log(const struct vr_listener *l, const char *suffix);
void vr_listener_pause(struct vr_listener *l);
void vr_listener_resume(struct vr_listener *l);
void vr_listener_close(struct vr_listener *l);

/* Is (addr) one of vrouterd's own listeners? Used to refuse loops. */
bool vr_listener_is_own(const struct vr_listener *all, const struct sockaddr *dst);

#endif
