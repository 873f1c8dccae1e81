/* The control socket (daemon.control): a unix stream socket on the main
 * thread speaking one JSON request per line and one JSON response per line
 * (docs/CONTROL.md). It never reads a flow itself: it asks each worker for
 * its data (today one worker on the same thread, a direct call; with worker
 * threads the same calls become messages to them). */
#ifndef VR_CONTROL_H
#define VR_CONTROL_H

struct vr_control;
struct vr_daemon;
struct vr_daemon_cfg;

/* The server of daemon d, not yet listening. NULL when out of memory. */
struct vr_control *vr_control_new(struct vr_daemon *d);
/* Applies daemon.control: opens the socket, reopens it at a new path,
 * re-applies mode and group, or stops listening when control is off.
 * Clients already connected stay. Returns 0 or -errno (logged). */
int vr_control_apply(struct vr_control *ctl, const struct vr_daemon_cfg *cfg);
/* Closes the clients and the socket, and removes the socket file. */
void vr_control_free(struct vr_control *ctl);

#endif
