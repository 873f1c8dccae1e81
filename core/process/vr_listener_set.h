/* A worker's listener set: its TCP and UDP listeners, changed together on
 * reload, all or nothing. prepare opens what the new config adds and marks
 * what stays (nothing is closed, nothing changes for the running flows);
 * commit closes what the config dropped and binds every listener to its
 * entry in the new config; abort closes what prepare opened. Sockets whose
 * address, port and mode did not change are kept, so no SYN or datagram is
 * refused while the config is swapped. */
#ifndef VR_LISTENER_SET_H
#define VR_LISTENER_SET_H

#include <stdbool.h>

#include "vr_config.h"

struct vr_listener;
struct vr_udp_listener;
struct vr_worker;
struct vr_dns_socks;

struct vr_listener_change {
    struct vr_listener *tcp_opened;
    struct vr_udp_listener *udp_opened;
    struct vr_dns_socks *dns_opened;
};

int vr_listener_set_prepare(struct vr_worker *w, const struct vr_config *cfg, struct vr_listener_change *ch,
                            struct vr_errors *errs);
/* reloading: log the listeners opened (the start logs them all itself). */
void vr_listener_set_commit(struct vr_worker *w, const struct vr_config *cfg, struct vr_listener_change *ch,
                            bool reloading);
void vr_listener_set_abort(struct vr_listener_change *ch);
/* Closes every listener of w (drain, exit); UDP sessions end with theirs. */
void vr_listener_set_close(struct vr_worker *w);

#endif
