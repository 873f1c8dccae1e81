/* wireguard-bind outbound: descriptor and configuration.
 *
 *   { tag = "wg1"; module = "wireguard-bind"; interface = "wg1";
 *     source_address = "198.18.200.2";   # optional: default, the interface's
 *                                        # address of the destination's family
 *     routing_mark = 0x501;              # optional (default: the bypass mark)
 *     connect_timeout_ms = 5000; }       # optional
 */
#include "wg_bind.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int wgb_cfg_range(const struct vr_host *h, const struct vr_cfg *cfg, const char *key,
                         int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v;
    int r = h->cfg_int(cfg, key, &v);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (v < lo || v > hi) {
        h->cfg_error(cfg, key, "must be between %lld and %lld, got %lld", (long long)lo,
                     (long long)hi, (long long)v);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int wgb_cfg(struct wgb_state *st, const struct vr_cfg *cfg)
{
    const struct vr_host *h = st->host;
    int bad = 0;
    int64_t mark = 0, cto = 5000;
    bad |= wgb_cfg_range(h, cfg, "routing_mark", 0, UINT32_MAX, &mark) < 0;
    bad |= wgb_cfg_range(h, cfg, "connect_timeout_ms", 1, 3600000, &cto) < 0;
    st->mark = (uint32_t)mark;
    st->connect_timeout_ms = (uint32_t)cto;

    const char *src;
    int r = h->cfg_string(cfg, "source_address", &src);
    st->src_cfg.ss_family = AF_UNSPEC;
    if (r == 0) {
        struct sockaddr_in *in = (struct sockaddr_in *)&st->src_cfg;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&st->src_cfg;
        if (inet_pton(AF_INET, src, &in->sin_addr) == 1) {
            in->sin_family = AF_INET;
        } else if (inet_pton(AF_INET6, src, &in6->sin6_addr) == 1) {
            in6->sin6_family = AF_INET6;
        } else {
            h->cfg_error(cfg, "source_address", "\"%s\" is not an IPv4 or IPv6 address", src);
            bad = 1;
        }
    } else if (r != -ENOENT) {
        bad = 1;
    }

    const char *ifname;
    r = h->cfg_string(cfg, "interface", &ifname);
    if (r == -ENOENT) {
        h->cfg_error(cfg, NULL, "interface: missing (the WireGuard interface to send through)");
        bad = 1;
    } else if (r < 0) {
        bad = 1;
    } else if (ifname[0] == 0 || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/') != NULL ||
               strchr(ifname, ' ') != NULL) {
        h->cfg_error(cfg, "interface", "\"%s\" is not a valid interface name (1 to %d characters)",
                     ifname, IFNAMSIZ - 1);
        bad = 1;
    } else {
        snprintf(st->ifname, sizeof(st->ifname), "%s", ifname);
    }
    return bad ? -EINVAL : 0;
}

static int wgb_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    struct wgb_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    st->inst = inst;
    st->host = host;
    st->pending.next = st->pending.prev = &st->pending;
    st->by_name.next = st->by_name.prev = &st->by_name;
    st->assocs.next = st->assocs.prev = &st->assocs;
    int r = wgb_cfg(st, host->instance_cfg(inst));
    if (r < 0) {
        free(st);
        return r;
    }
    st->c_connects = host->counter(inst, "connects");
    st->c_fail_fast = host->counter(inst, "failed_fast");
    st->c_connect_fail = host->counter(inst, "connect_failures");
    st->c_udp = host->counter(inst, "udp_associations");
    /* A missing interface is not a config error: it may come later. */
    r = wgb_watch_start(st);
    if (r < 0) {
        host->log(inst, VR_LOG_ERROR, "cannot watch interfaces through netlink: %s",
                  strerror(-r));
        free(st);
        return r;
    }
    *state = st;
    return 0;
}

static void wgb_destroy(void *state)
{
    struct wgb_state *st = state;
    wgb_tcp_free_all(st);
    wgb_udp_free_all(st);
    wgb_watch_stop(st);
    free(st);
}

/* ABI 1.1 kernel_plan: the fast path routes the flows into the interface,
 * from source_address (else the interface's own address). */
static int wgb_kernel_plan(const struct vr_host *host, const struct vr_cfg *cfg, struct vr_kernel_plan *plan)
{
    const char *ifname, *src;
    int64_t mark;
    if (host->cfg_string(cfg, "interface", &ifname) < 0) {
        plan->why = "no interface";
        return -EOPNOTSUPP;
    }
    snprintf(plan->interface, sizeof(plan->interface), "%s", ifname);
    if (host->cfg_int(cfg, "routing_mark", &mark) == 0 && mark > 0 && mark <= UINT32_MAX)
        plan->mark = (uint32_t)mark;
    if (host->cfg_string(cfg, "source_address", &src) == 0) {
        if (inet_pton(AF_INET, src, plan->src4) == 1)
            plan->has_src4 = 1;
        else if (inet_pton(AF_INET6, src, plan->src6) == 1)
            plan->has_src6 = 1;
    }
    return 0;
}

static const struct vr_outbound_ops wgb_ops = {
    .size = sizeof(struct vr_outbound_ops),
    .create = wgb_create,
    .destroy = wgb_destroy,
    .tcp_connect = wgb_tcp_connect,
    .tcp_cancel = wgb_tcp_cancel,
    .udp_open = wgb_udp_open,
    .udp_send = wgb_udp_send,
    .udp_close = wgb_udp_close,
    .kernel_plan = wgb_kernel_plan,
};

VR_MODULE_DEFINE(.name = "wireguard-bind", .version = "1.0.0", .kind = VR_KIND_OUTBOUND,
                 .ops = &wgb_ops);
