/* daemon.relay at start and at each reload: loads the sockmap program the
 * first time a config asks for it ("sockmap" or "auto") and says which relay
 * new connections get. The program, once loaded, stays until exit: the
 * connections relayed through it outlive a reload back to "splice". */
#ifndef VR_RELAY_MODE_H
#define VR_RELAY_MODE_H

#include <stdbool.h>
#include <stdint.h>

struct vr_daemon_cfg;
struct vr_errors;
struct vr_sockmap;

struct vr_relay_mode {
    struct vr_sockmap *sm;
    bool tried;       /* a load was attempted (its failure is said once) */
    char why[256];    /* why it failed */
};

/* Before d's generation goes live. "sockmap" that cannot load is an error
 * naming daemon.relay's FILE:LINE (the daemon keeps its old config); "auto"
 * falls back to splice with one log line saying why. max_conns sizes the
 * maps. Returns 0 or -1 (errs filled). */
int vr_relay_mode_prepare(struct vr_relay_mode *m, const struct vr_daemon_cfg *d, uint32_t max_conns,
                          struct vr_errors *errs);
/* The sockmap new connections under d use, or NULL for splice. */
struct vr_sockmap *vr_relay_mode_sockmap(const struct vr_relay_mode *m, const struct vr_daemon_cfg *d);
/* At exit, after every connection is closed. */
void vr_relay_mode_fini(struct vr_relay_mode *m);

#endif
