#include "vr_dns_stats.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <string.h>

#include "vr_dns_cache.h"
#include "vr_dns_ratelimit.h"
#include "vr_log.h"

void vr_dns_stats_totals(const struct vr_dns_config *d, struct vr_dns_totals *out)
{
    memset(out, 0, sizeof(*out));
    out->queries = atomic_load(&d->totals.queries);
    out->local = atomic_load(&d->totals.local);
    out->cached = atomic_load(&d->totals.cached);
    out->forwarded = atomic_load(&d->totals.forwarded);
    out->coalesced = atomic_load(&d->totals.coalesced);
    out->rate_limited = atomic_load(&d->totals.rate_limited);
    out->formerr = atomic_load(&d->totals.formerr);
    out->servfail = atomic_load(&d->totals.servfail);
    if (d->cache) {
        struct vr_dns_cache_stats cs;
        vr_dns_cache_stats(d->cache, &cs);
        out->cache_hits = cs.hits;
        out->cache_misses = cs.misses;
        out->cache_entries = cs.entries;
        out->cache_evictions = cs.evictions;
    }
}

void vr_dns_stats_log(const struct vr_dns_config *d)
{
    if (d == NULL)
        return;
    struct vr_dns_totals t;
    vr_dns_stats_totals(d, &t);
    vr_log_write(VR_LOG_INFO, "stats: dns: %" PRIu64 " queries, %" PRIu64 " answered by rules, %" PRIu64
                 " from the cache, %" PRIu64 " forwarded, %" PRIu64 " coalesced (waited for the same question), "
                 "rate_limited %" PRIu64 ", formerr %" PRIu64 ", servfail %" PRIu64,
                 t.queries, t.local, t.cached, t.forwarded, t.coalesced, t.rate_limited, t.formerr, t.servfail);
    if (d->cache)
        vr_log_write(VR_LOG_INFO, "stats: dns: cache %" PRIu64 " of %" PRIu32 " entries, hits %" PRIu64
                     ", misses %" PRIu64 ", evictions %" PRIu64, t.cache_entries, d->cache_size, t.cache_hits,
                     t.cache_misses, t.cache_evictions);
    if (d->ratelimit) {
        uint64_t clients;
        uint64_t refused = vr_dns_ratelimit_refused(d->ratelimit, &clients);
        vr_log_write(VR_LOG_INFO, "stats: dns: rate limit %" PRIu32 " qps: %" PRIu64 " clients tracked, %" PRIu64
                     " queries refused", d->rate_qps, clients, refused);
    }
    for (size_t i = 0; i < d->n_upstreams; i++) {
        const struct vr_dns_upstream *u = &d->upstreams[i];
        vr_log_write(VR_LOG_INFO, "stats: dns: upstream %s (%s): queries %" PRIu64 ", answers %" PRIu64
                     ", timeouts %" PRIu64 ", errors %" PRIu64 ", tcp_retries %" PRIu64 ", failovers %" PRIu64,
                     u->tag, u->address, (uint64_t)atomic_load(&u->stats.queries),
                     (uint64_t)atomic_load(&u->stats.answers), (uint64_t)atomic_load(&u->stats.timeouts),
                     (uint64_t)atomic_load(&u->stats.errors), (uint64_t)atomic_load(&u->stats.tcp_retries),
                     (uint64_t)atomic_load(&u->stats.failovers));
    }
}

static void add_u(json_object *o, const char *k, uint64_t v) { json_object_object_add(o, k, json_object_new_int64((int64_t)v)); }

json_object *vr_dns_stats_json(const struct vr_dns_config *d)
{
    json_object *o = json_object_new_object();
    if (d == NULL) {
        json_object_object_add(o, "configured", json_object_new_boolean(0));
        return o;
    }
    json_object_object_add(o, "configured", json_object_new_boolean(1));
    struct vr_dns_totals t;
    vr_dns_stats_totals(d, &t);
    add_u(o, "queries", t.queries);
    add_u(o, "local", t.local);
    add_u(o, "cached", t.cached);
    add_u(o, "forwarded", t.forwarded);
    add_u(o, "coalesced", t.coalesced);
    add_u(o, "rate_limited", t.rate_limited);
    add_u(o, "formerr", t.formerr);
    add_u(o, "servfail", t.servfail);
    json_object *c = json_object_new_object();
    add_u(c, "size", d->cache_size);
    add_u(c, "entries", t.cache_entries);
    add_u(c, "hits", t.cache_hits);
    add_u(c, "misses", t.cache_misses);
    add_u(c, "evictions", t.cache_evictions);
    json_object_object_add(o, "cache", c);
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < d->n_upstreams; i++) {
        const struct vr_dns_upstream *u = &d->upstreams[i];
        json_object *x = json_object_new_object();
        json_object_object_add(x, "tag", json_object_new_string(u->tag));
        json_object_object_add(x, "address", json_object_new_string(u->address));
        add_u(x, "queries", atomic_load(&u->stats.queries));
        add_u(x, "answers", atomic_load(&u->stats.answers));
        add_u(x, "timeouts", atomic_load(&u->stats.timeouts));
        add_u(x, "errors", atomic_load(&u->stats.errors));
        add_u(x, "tcp_retries", atomic_load(&u->stats.tcp_retries));
        add_u(x, "failovers", atomic_load(&u->stats.failovers));
        json_object_array_add(a, x);
    }
    json_object_object_add(o, "upstreams", a);
    return o;
}
