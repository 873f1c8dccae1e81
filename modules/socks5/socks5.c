/* socks5 outbound: descriptor and configuration.
 *
 *   { tag = "proxy"; module = "socks5"; server = "198.19.2.7"; port = 1080;
 *     username = "u"; password = "p"; send_domain = true;   # or false, or "verified"
 *     verify_timeout_ms = 1000; udp_reject_private = true;
 *     udp_associate_rate = 20;
 *     connect_timeout_ms = 5000; handshake_timeout_ms = 5000; routing_mark = 0; }
 */
#include "socks5.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads an optional integer key within [lo, hi]; 0 or -EINVAL (recorded). */
static int s5_cfg_range(const struct vr_host *h, const struct vr_cfg *cfg, const char *key,
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

static int s5_cfg_server(struct s5_state *st, const struct vr_cfg *cfg, int64_t port)
{
    const struct vr_host *h = st->host;
    const char *server;
    int r = h->cfg_string(cfg, "server", &server);
    if (r == -ENOENT) {
        h->cfg_error(cfg, NULL, "server: missing (the SOCKS5 server's IPv4 or IPv6 address)");
        return -EINVAL;
    }
    if (r < 0)
        return r;
    memset(&st->server, 0, sizeof(st->server));
    struct sockaddr_in *in = (struct sockaddr_in *)&st->server;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&st->server;
    if (inet_pton(AF_INET, server, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        st->server_len = sizeof(*in);
        snprintf(st->server_str, sizeof(st->server_str), "%s:%lld", server, (long long)port);
    } else if (inet_pton(AF_INET6, server, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        st->server_len = sizeof(*in6);
        snprintf(st->server_str, sizeof(st->server_str), "[%s]:%lld", server, (long long)port);
    } else {
        h->cfg_error(cfg, "server", "\"%s\" is not an IPv4 or IPv6 address", server);
        return -EINVAL;
    }
    return 0;
}

static int s5_cfg_auth(struct s5_state *st, const struct vr_cfg *cfg)
{
    const struct vr_host *h = st->host;
    int ru = h->cfg_string(cfg, "username", &st->username);
    int rp = h->cfg_string(cfg, "password", &st->password);
    if ((ru < 0 && ru != -ENOENT) || (rp < 0 && rp != -ENOENT))
        return -EINVAL;
    if (ru == -ENOENT && rp == -ENOENT) {
        st->username = st->password = NULL;
        return 0;
    }
    if (ru == -ENOENT || rp == -ENOENT) {
        h->cfg_error(cfg, ru == -ENOENT ? "password" : "username",
                     "username and password go together (RFC 1929)");
        return -EINVAL;
    }
    size_t ul = strlen(st->username), pl = strlen(st->password);
    if (ul == 0 || ul > 255 || pl == 0 || pl > 255) {
        h->cfg_error(cfg, ul == 0 || ul > 255 ? "username" : "password",
                     "must be 1 to 255 bytes long (RFC 1929)");
        return -EINVAL;
    }
    return 0;
}

/* send_domain: true, false or "verified". A host older than cfg_type
 * cannot tell a string from a boolean without recording an error: there
 * only true and false exist. */
static int s5_cfg_send_domain(const struct vr_host *h, const struct vr_cfg *cfg, int *out)
{
    int t = VR_HAS(h, cfg_type) ? h->cfg_type(cfg, "send_domain") : VR_CFG_BOOL;
    if (t == -ENOENT)
        return 0;
    if (t == VR_CFG_STRING) {
        const char *s;
        int r = h->cfg_string(cfg, "send_domain", &s);
        if (r < 0)
            return r;
        if (strcmp(s, "verified") == 0) {
            *out = S5_DOMAIN_VERIFIED;
            return 0;
        }
        h->cfg_error(cfg, "send_domain", "\"%s\" is not a choice: expected true, false or \"verified\"",
                     s);
        return -EINVAL;
    }
    if (t != VR_CFG_BOOL) {
        h->cfg_error(cfg, "send_domain", "expected true, false or \"verified\"");
        return -EINVAL;
    }
    int b = 0, r = h->cfg_bool(cfg, "send_domain", &b);
    if (r < 0)
        return r;
    *out = b ? S5_DOMAIN_ALWAYS : S5_DOMAIN_NEVER;
    return 0;
}

static int s5_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    const struct vr_cfg *cfg = host->instance_cfg(inst);
    struct s5_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    st->inst = inst;
    st->host = host;
    st->pending.next = st->pending.prev = &st->pending;
    st->assocs.next = st->assocs.prev = &st->assocs;
    st->verifying.next = st->verifying.prev = &st->verifying;
    st->verify_orphans.next = st->verify_orphans.prev = &st->verify_orphans;

    /* Read every key first so none is reported as unknown, then fail. */
    int64_t port = 1080, cto = 5000, hto = 5000, mark = 0, assoc_rate = 20, vto = 1000;
    int send_domain = S5_DOMAIN_ALWAYS, reject_private = 1, bad = 0;
    bad |= s5_cfg_range(host, cfg, "port", 1, 65535, &port) < 0;
    bad |= s5_cfg_range(host, cfg, "connect_timeout_ms", 1, 3600000, &cto) < 0;
    bad |= s5_cfg_range(host, cfg, "handshake_timeout_ms", 1, 3600000, &hto) < 0;
    bad |= s5_cfg_range(host, cfg, "routing_mark", 0, UINT32_MAX, &mark) < 0;
    bad |= s5_cfg_range(host, cfg, "udp_associate_rate", 0, 100000, &assoc_rate) < 0;
    bad |= s5_cfg_range(host, cfg, "verify_timeout_ms", 1, 60000, &vto) < 0;
    bad |= s5_cfg_send_domain(host, cfg, &send_domain) < 0;
    int r = host->cfg_bool(cfg, "udp_reject_private", &reject_private);
    bad |= r < 0 && r != -ENOENT;
    bad |= s5_cfg_auth(st, cfg) < 0;
    bad |= s5_cfg_server(st, cfg, port) < 0;
    if (bad) {
        free(st);
        return -EINVAL;
    }
    if (s5_rate_init(&st->udp_rate, (uint32_t)assoc_rate) < 0) {
        free(st);
        return -ENOMEM;
    }
    st->send_domain = send_domain;
    st->udp_reject_private = reject_private;
    st->verify_timeout_ms = (uint32_t)vto;
    st->connect_timeout_ms = (uint32_t)cto;
    st->handshake_timeout_ms = (uint32_t)hto;
    st->mark = (uint32_t)mark;
    st->c_connects = host->counter(inst, "connects");
    st->c_connect_fail = host->counter(inst, "connect_failures");
    st->c_udp_assocs = host->counter(inst, "udp_associations");
    st->c_udp_frag = host->counter(inst, "udp_fragments_dropped");
    st->c_udp_dropped = host->counter(inst, "udp_dropped");
    st->c_udp_bad = host->counter(inst, "udp_bad_dropped");
    st->c_udp_src_refused = host->counter(inst, "udp_source_refused");
    st->c_udp_rate_limited = host->counter(inst, "udp_rate_limited");
    st->c_domain_verified = host->counter(inst, "domain_verified");
    st->c_domain_unverified = host->counter(inst, "domain_unverified");
    *state = st;
    return 0;
}

static void s5_destroy(void *state)
{
    struct s5_state *st = state;
    s5_tcp_free_all(st);
    s5_udp_free_all(st);
    s5_verify_free_all(st);
    s5_local_free(&st->local);
    s5_rate_free(&st->udp_rate);
    free(st);
}

static const struct vr_outbound_ops s5_ops = {
    .size = sizeof(struct vr_outbound_ops),
    .create = s5_create,
    .destroy = s5_destroy,
    .tcp_connect = s5_tcp_connect,
    .tcp_cancel = s5_tcp_cancel,
    .udp_open = s5_udp_open,
    .udp_send = s5_udp_send,
    .udp_close = s5_udp_close,
};

VR_MODULE_DEFINE(.name = "socks5", .version = "1.0.0", .kind = VR_KIND_OUTBOUND, .ops = &s5_ops);
