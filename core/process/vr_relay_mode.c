#include "vr_relay_mode.h"

#include "vr_config.h"
#include "vr_errors.h"
#include "vr_log.h"
#include "vr_sockmap.h"

int vr_relay_mode_prepare(struct vr_relay_mode *m, const struct vr_daemon_cfg *d, uint32_t max_conns,
                          struct vr_errors *errs)
{
    if (d->relay != VR_RELAY_SPLICE && m->sm != NULL && max_conns > vr_sockmap_max_conns(m->sm))
        vr_warn("relay: the sockmap maps were sized at start for %u connections; daemon.max_connections = %u: "
                "connections beyond %u at once are relayed with splice until a restart",
                vr_sockmap_max_conns(m->sm), max_conns, vr_sockmap_max_conns(m->sm));
    if (d->relay == VR_RELAY_SPLICE || m->sm != NULL)
        return 0;
    /* "auto" tries once per process (and says once why not); "sockmap"
     * tries at each start or reload that asks for it. */
    if (!m->tried || d->relay == VR_RELAY_SOCKMAP) {
        bool first = !m->tried;
        m->tried = true;
        m->sm = vr_sockmap_open(max_conns, m->why, sizeof(m->why));
        if (m->sm == NULL && d->relay == VR_RELAY_AUTO && first)
            vr_info("relay: \"auto\" relays with splice: sockmap is not available: %s", m->why);
        if (m->sm != NULL)
            vr_info("relay: sockmap loaded (the kernel relays connections once their server is connected)");
    }
    if (m->sm == NULL && d->relay == VR_RELAY_SOCKMAP) {
        vr_errors_add(errs, "%s:%d: daemon.relay = \"sockmap\" cannot be used: %s; use \"splice\", or \"auto\" to "
                            "fall back to splice by itself",
                      d->relay_file ? d->relay_file : "?", d->relay_line, m->why);
        return -1;
    }
    return 0;
}

struct vr_sockmap *vr_relay_mode_sockmap(const struct vr_relay_mode *m, const struct vr_daemon_cfg *d)
{
    return d->relay == VR_RELAY_SPLICE ? NULL : m->sm;
}

void vr_relay_mode_fini(struct vr_relay_mode *m)
{
    vr_sockmap_close(m->sm);
    m->sm = NULL;
}
