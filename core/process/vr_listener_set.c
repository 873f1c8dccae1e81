#include "vr_listener_set.h"

#include <errno.h>

#include "vr_dns_server.h"
#include "vr_listener.h"
#include "vr_udp_listener.h"
#include "vr_worker.h"

int vr_listener_set_prepare(struct vr_worker *w, const struct vr_config *cfg, struct vr_listener_change *ch,
                            struct vr_errors *errs)
{
    ch->tcp_opened = NULL;
    ch->udp_opened = NULL;
    ch->dns_opened = NULL;
    if (vr_udp_listeners_prepare(w->udp_listeners, cfg, w, &ch->udp_opened, errs) < 0)
        return -EINVAL;
    if (vr_listeners_prepare(w->listeners, cfg, w, &ch->tcp_opened, errs) < 0) {
        vr_udp_listeners_abort(ch->udp_opened);
        ch->udp_opened = NULL;
        return -EINVAL;
    }
    if (vr_dns_socks_open(w, cfg, &ch->dns_opened, errs) < 0) {
        vr_listeners_abort(ch->tcp_opened);
        vr_udp_listeners_abort(ch->udp_opened);
        ch->tcp_opened = NULL;
        ch->udp_opened = NULL;
        return -EINVAL;
    }
    return 0;
}

void vr_listener_set_commit(struct vr_worker *w, const struct vr_config *cfg, struct vr_listener_change *ch,
                            bool reloading)
{
    vr_udp_listeners_commit(&w->udp_listeners, ch->udp_opened, cfg, reloading);
    vr_listeners_commit(&w->listeners, ch->tcp_opened, cfg, reloading);
    vr_dns_socks_commit(w, ch->dns_opened);
    ch->tcp_opened = NULL;
    ch->udp_opened = NULL;
    ch->dns_opened = NULL;
}

void vr_listener_set_abort(struct vr_listener_change *ch)
{
    vr_listeners_abort(ch->tcp_opened);
    vr_udp_listeners_abort(ch->udp_opened);
    vr_dns_socks_abort(ch->dns_opened);
    ch->tcp_opened = NULL;
    ch->udp_opened = NULL;
    ch->dns_opened = NULL;
}

void vr_listener_set_close(struct vr_worker *w)
{
    vr_udp_listeners_close_all(&w->udp_listeners);
    /* After the UDP sessions: a hijacked query they still wait for is theirs to cancel. */
    vr_dns_server_close(w);
    vr_listeners_abort(w->listeners);
    w->listeners = NULL;
}
