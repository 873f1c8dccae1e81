/* ecmp outbound: descriptor and configuration.
 *
 *   { tag = "lb"; module = "ecmp"; members = ["wg1", "wg2", "proxy"]; weights = [2, 1, 1];
 *     hash = "flow";   # "flow" (5-tuple; UDP: client endpoint) | "source" (client address) | "round-robin"
 *     health_check = { target = "198.19.2.2:80"; interval_ms = 2000; timeout_ms = 1000;
 *                      fall = 2; rise = 2; };
 *     fallback = "direct"; }
 */
#include "ecmp.h"
#include "ecmp_hash.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ecmp_cfg_range(const struct vr_host *h, const struct vr_cfg *cfg, const char *key,
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

/* "IP:PORT" or "[IPv6]:PORT". */
static int ecmp_parse_target(const char *s, struct sockaddr_storage *ss)
{
    char host[64];
    const char *port;
    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (e == NULL || e[1] != ':' || (size_t)(e - s - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = 0;
        port = e + 2;
    } else {
        const char *c = strrchr(s, ':');
        if (c == NULL || (size_t)(c - s) >= sizeof(host) || strchr(s, ':') != c)
            return -EINVAL;
        memcpy(host, s, (size_t)(c - s));
        host[c - s] = 0;
        port = c + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*port == 0 || *end != 0 || p < 1 || p > 65535)
        return -EINVAL;
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)p);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
    } else {
        return -EINVAL;
    }
    return 0;
}

static int ecmp_cfg_health(struct ecmp_state *st, const struct vr_cfg *cfg)
{
    const struct vr_host *h = st->host;
    const struct vr_cfg *hc = h->cfg_group(cfg, "health_check");
    if (hc == NULL) {
        /* absent is fine; a wrong type was recorded by the host */
        int64_t dummy;
        return h->cfg_int(cfg, "health_check", &dummy) == -ENOENT ? 0 : -EINVAL;
    }
    int64_t interval = 2000, timeout = 1000, fall = 2, rise = 2;
    int bad = 0;
    bad |= ecmp_cfg_range(h, hc, "interval_ms", 10, 3600000, &interval) < 0;
    bad |= ecmp_cfg_range(h, hc, "timeout_ms", 10, 3600000, &timeout) < 0;
    bad |= ecmp_cfg_range(h, hc, "fall", 1, 100, &fall) < 0;
    bad |= ecmp_cfg_range(h, hc, "rise", 1, 100, &rise) < 0;
    const char *target;
    int r = h->cfg_string(hc, "target", &target);
    if (r == -ENOENT) {
        h->cfg_error(hc, NULL, "health_check: target: missing (\"IP:PORT\" to probe with TCP)");
        return -EINVAL;
    }
    if (r < 0)
        return -EINVAL;
    if (ecmp_parse_target(target, &st->target) < 0) {
        h->cfg_error(hc, "target", "\"%s\" is not IP:PORT or [IPv6]:PORT", target);
        return -EINVAL;
    }
    if (bad)
        return -EINVAL;
    snprintf(st->target_str, sizeof(st->target_str), "%s", target);
    st->probing = 1;
    st->interval_ms = (uint32_t)interval;
    st->timeout_ms = (uint32_t)timeout;
    st->fall = (int)fall;
    st->rise = (int)rise;
    memset(&st->probe_flow, 0, sizeof(st->probe_flow));
    st->probe_flow.size = sizeof(st->probe_flow);
    st->probe_flow.network = VR_NET_TCP;
    st->probe_flow.dst = st->target;
    st->probe_flow.inbound = "ecmp";
    st->probe_flow.rule = "health_check";
    return 0;
}

static int ecmp_cfg_members(struct ecmp_state *st, const struct vr_cfg *cfg)
{
    const struct vr_host *h = st->host;
    int n = h->cfg_list_len(cfg, "members");
    if (n == -ENOENT) {
        h->cfg_error(cfg, NULL, "members: missing (a list of outbound tags)");
        return -EINVAL;
    }
    if (n < 0)
        return -EINVAL;
    if (n < 1 || n > ECMP_MAX_MEMBERS) {
        h->cfg_error(cfg, "members", "needs 1 to %d outbound tags, got %d", ECMP_MAX_MEMBERS, n);
        return -EINVAL;
    }
    int nw = h->cfg_list_len(cfg, "weights");
    if (nw != -ENOENT && nw < 0)
        return -EINVAL;
    if (nw >= 0 && nw != n) {
        h->cfg_error(cfg, "weights", "has %d entries but members has %d", nw, n);
        return -EINVAL;
    }
    for (int i = 0; i < n; i++) {
        struct ecmp_member *m = &st->m[i];
        if (h->cfg_list_string(cfg, "members", i, &m->tag) < 0)
            return -EINVAL;
        for (int j = 0; j < i; j++) {
            if (strcmp(st->m[j].tag, m->tag) == 0) {
                h->cfg_error(cfg, "members", "\"%s\" is listed twice", m->tag);
                return -EINVAL;
            }
        }
        m->weight = 1;
        if (nw >= 0) {
            if (h->cfg_list_int(cfg, "weights", i, &m->weight) < 0)
                return -EINVAL;
            if (m->weight < 1 || m->weight > 1000000) {
                h->cfg_error(cfg, "weights", "entry %d must be between 1 and 1000000, got %lld",
                             i + 1, (long long)m->weight);
                return -EINVAL;
            }
        }
        m->ref = h->outbound_find(st->inst, cfg, "members", m->tag);
        if (m->ref == NULL)
            return -EINVAL;
        m->st = st;
        m->idx = i;
        m->seed = ecmp_hash_bytes(m->tag, strlen(m->tag), 0x7a9);
        st->seeds[i] = m->seed;
        st->weights[i] = (double)m->weight;
    }
    st->n = n;
    return 0;
}

static void ecmp_counters(struct ecmp_state *st)
{
    const struct vr_host *h = st->host;
    char name[128];
    for (int i = 0; i < st->n; i++) {
        struct ecmp_member *m = &st->m[i];
        snprintf(name, sizeof(name), "member.%s.flows", m->tag);
        m->c_flows = h->counter(st->inst, name);
        snprintf(name, sizeof(name), "member.%s.failures", m->tag);
        m->c_failures = h->counter(st->inst, name);
        snprintf(name, sizeof(name), "member.%s.healthy", m->tag);
        m->c_healthy = h->counter(st->inst, name);
        snprintf(name, sizeof(name), "member.%s.probe_failures", m->tag);
        m->c_probe_fail = h->counter(st->inst, name);
    }
    st->c_no_member = h->counter(st->inst, "no_member");
    st->c_fallback = h->counter(st->inst, "fallback_flows");
}

static int ecmp_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    const struct vr_cfg *cfg = host->instance_cfg(inst);
    struct ecmp_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    st->inst = inst;
    st->host = host;
    st->pending.next = st->pending.prev = &st->pending;

    int bad = 0;
    const char *mode = "flow";
    int r = host->cfg_string(cfg, "hash", &mode);
    bad |= r < 0 && r != -ENOENT;
    if (strcmp(mode, "flow") == 0) {
        st->mode = ECMP_FLOW;
    } else if (strcmp(mode, "source") == 0) {
        st->mode = ECMP_SOURCE;
    } else if (strcmp(mode, "round-robin") == 0) {
        st->mode = ECMP_RR;
    } else {
        host->cfg_error(cfg, "hash", "\"%s\": expected \"flow\", \"source\" or \"round-robin\"",
                        mode);
        bad = 1;
    }
    bad |= ecmp_cfg_health(st, cfg) < 0;
    r = host->cfg_string(cfg, "fallback", &st->fallback_tag);
    if (r == 0) {
        st->fallback = host->outbound_find(inst, cfg, "fallback", st->fallback_tag);
        bad |= st->fallback == NULL;
    } else {
        bad |= r != -ENOENT;
    }
    bad |= ecmp_cfg_members(st, cfg) < 0;
    if (bad) {
        free(st);
        return -EINVAL;
    }
    ecmp_counters(st);
    ecmp_health_start(st);
    *state = st;
    return 0;
}

static void ecmp_destroy(void *state)
{
    struct ecmp_state *st = state;
    ecmp_tcp_free_all(st);
    ecmp_health_stop(st);
    free(st);
}

/* ABI 1.1 kernel_plan: a multipath route over the members (the host asks
 * each member for its own plan). What the kernel's multipath route does not
 * do, probing and round-robin, keeps the flows with the module. */
static int ecmp_kernel_plan(const struct vr_host *host, const struct vr_cfg *cfg, struct vr_kernel_plan *plan)
{
    const char *mode;
    if (host->cfg_group(cfg, "health_check") != NULL) {
        plan->why = "its ecmp outbound has a health_check (the kernel's multipath route does not probe)";
        return -EOPNOTSUPP;
    }
    if (host->cfg_string(cfg, "hash", &mode) == 0 && strcmp(mode, "round-robin") == 0) {
        plan->why = "its ecmp outbound uses round-robin (a multipath route hashes)";
        return -EOPNOTSUPP;
    }
    int n = host->cfg_list_len(cfg, "members");
    int nw = host->cfg_list_len(cfg, "weights");
    if (n < 1 || n > 16) {
        plan->why = "its ecmp outbound's members are not 1 to 16 outbounds";
        return -EOPNOTSUPP;
    }
    for (int i = 0; i < n; i++) {
        int64_t w = 1;
        if (host->cfg_list_string(cfg, "members", i, &plan->members[i]) < 0 ||
            (nw == n && host->cfg_list_int(cfg, "weights", i, &w) < 0)) {
            plan->why = "its ecmp outbound's members or weights are not readable";
            return -EOPNOTSUPP;
        }
        if (w < 1 || w > 256) {
            plan->why = "its ecmp outbound has a weight above 256 (a multipath route's limit)";
            return -EOPNOTSUPP;
        }
        plan->weights[i] = (int)w;
    }
    plan->n_members = n;
    return 0;
}

static const struct vr_outbound_ops ecmp_ops = {
    .size = sizeof(struct vr_outbound_ops),
    .create = ecmp_create,
    .destroy = ecmp_destroy,
    .tcp_connect = ecmp_tcp_connect,
    .tcp_cancel = ecmp_tcp_cancel,
    .udp_open = ecmp_udp_open,
    .udp_send = ecmp_udp_send,
    .udp_close = ecmp_udp_close,
    .kernel_plan = ecmp_kernel_plan,
};

VR_MODULE_DEFINE(.name = "ecmp", .version = "1.0.0", .kind = VR_KIND_OUTBOUND, .ops = &ecmp_ops);
