/* The resolver's counters in one place, for SIGUSR1, the control socket
 * and /metrics: totals, the shared cache, the rate limiter, and each
 * upstream (queries, answers, timeouts, errors, TC retried over TCP,
 * failovers). They belong to the generation's dns block: a reload starts
 * them (and the cache) afresh. */
#ifndef VR_DNS_STATS_H
#define VR_DNS_STATS_H

#include <stdint.h>

#include "vr_dns_config.h"

struct vr_dns_totals {
    uint64_t queries, local, cached, forwarded, coalesced, rate_limited, formerr, servfail;
    uint64_t cache_hits, cache_misses, cache_entries, cache_evictions;
};

void vr_dns_stats_totals(const struct vr_dns_config *d, struct vr_dns_totals *out);
/* The same as a JSON object (the control socket's "dns" operation). */
struct json_object;
struct json_object *vr_dns_stats_json(const struct vr_dns_config *d);

/* "stats: dns: ..." lines at info level (SIGUSR1). d may be NULL. */
void vr_dns_stats_log(const struct vr_dns_config *d);

#endif
