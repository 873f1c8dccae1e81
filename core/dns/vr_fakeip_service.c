#include "vr_fakeip_service.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_config.h"
#include "vr_fakeip_config.h"
#include "vr_fakeip_pool.h"
#include "vr_log.h"

static _Atomic(struct vr_fakeip_pool *) active;

static struct {
    struct vr_fakeip_pool *pool;
    struct event *timer;
    char *persist;           /* where saves go; NULL: none */
    uint32_t interval_s;
    uint64_t saved_changes;  /* vr_fakeip_changes at the last good save */
    bool loaded;             /* the persist file was read once (at start) */
    bool failing;            /* the last save failed: log again only when it works */
} svc;

struct vr_fakeip_pool *vr_fakeip_active(void)
{
    return atomic_load_explicit(&active, memory_order_acquire);
}

static void save_now(void)
{
    if (svc.pool == NULL || svc.persist == NULL || vr_fakeip_changes(svc.pool) == svc.saved_changes)
        return;
    uint64_t changes;
    const char *why = "";
    int r = vr_fakeip_save(svc.pool, svc.persist, &changes, &why);
    if (r < 0) {
        if (!svc.failing)
            vr_err("fakeip: cannot save the pool to %s: %s: %s (mappings are kept in memory; retrying every %u s)",
                   svc.persist, why, strerror(-r), svc.interval_s);
        svc.failing = true;
        return;
    }
    if (svc.failing)
        vr_info("fakeip: saving to %s works again", svc.persist);
    svc.failing = false;
    svc.saved_changes = changes;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    save_now();
}

static void load_persisted(const char *path)
{
    size_t skipped = 0;
    char err[512] = "";
    long n = vr_fakeip_load(svc.pool, path, &skipped, err, sizeof(err));
    if (n == -EINVAL)
        vr_err("fakeip: %s: the file is corrupt; starting with an EMPTY FakeIP pool (clients holding old fake "
               "addresses are refused until they ask again); the file was moved to %s.corrupt",
               err, path);
    else if (n < 0)
        vr_err("fakeip: %s; starting with an empty FakeIP pool", err);
    else
        vr_info("fakeip: %ld mappings loaded from %s%s", n, path, n == 0 ? " (none yet)" : "");
    if (skipped > 0)
        vr_warn("fakeip: %zu mappings in %s lie outside the configured ranges (the range changed) and were dropped",
                skipped, path);
    svc.saved_changes = n > 0 ? vr_fakeip_changes(svc.pool) : 0;
}

void vr_fakeip_service_apply(const struct vr_config *cfg, struct event_base *base)
{
    const struct vr_fakeip_cfg *fc = cfg->fakeip;
    if (fc == NULL && svc.pool == NULL)
        return;
    if (svc.pool == NULL) {
        svc.pool = vr_fakeip_create();
        if (svc.pool == NULL) {
            vr_err("fakeip: out of memory: no FakeIP pool");
            return;
        }
    }
    if (fc == NULL) {
        save_now(); /* what was held, for a later config that persists again */
        vr_fakeip_configure(svc.pool, NULL, NULL, 1, VR_FAKEIP_DEFAULT_MAX);
        vr_info("fakeip: no dns.fakeip in this config: no fake addresses are handed out; flows to the old ranges are "
                "refused");
        free(svc.persist);
        svc.persist = NULL;
    } else {
        vr_fakeip_configure(svc.pool, &fc->range4, &fc->range6, fc->ttl, fc->max_mappings);
        if (fc->persist && (svc.persist == NULL || strcmp(svc.persist, fc->persist) != 0)) {
            char *p = strdup(fc->persist);
            if (p) {
                free(svc.persist);
                svc.persist = p;
            }
            if (!svc.loaded)
                load_persisted(svc.persist);
            else
                svc.saved_changes = 0; /* a new file: write it at the next tick */
        } else if (fc->persist == NULL && svc.persist) {
            free(svc.persist);
            svc.persist = NULL;
        }
        svc.loaded = true;
        svc.interval_s = fc->persist_interval_s;
    }
    atomic_store_explicit(&active, svc.pool, memory_order_release);
    if (svc.timer == NULL && base != NULL)
        svc.timer = event_new(base, -1, EV_PERSIST, on_timer, NULL);
    if (svc.timer) {
        event_del(svc.timer);
        if (svc.persist) {
            struct timeval tv = {(time_t)svc.interval_s, 0};
            event_add(svc.timer, &tv);
        }
    }
}

void vr_fakeip_service_log_stats(void)
{
    if (svc.pool == NULL)
        return;
    struct vr_fakeip_stats st;
    vr_fakeip_get_stats(svc.pool, &st);
    vr_log_write(VR_LOG_INFO,
                 "stats: fakeip: %" PRIu64 "/%" PRIu64 " IPv4 and %" PRIu64 "/%" PRIu64 " IPv6 mappings, %" PRIu64
                 " assigned (%" PRIu64 " recycled), flows %" PRIu64 " routed by name, %" PRIu64
                 " refused (no mapping)%s%s%s",
                 st.mappings4, st.capacity4, st.mappings6, st.capacity6, st.assigned, st.recycled, st.lookups_hit,
                 st.lookups_gone, svc.persist ? ", persist " : "", svc.persist ? svc.persist : "",
                 svc.failing ? " (last save FAILED)" : "");
}

void vr_fakeip_service_stop(void)
{
    save_now();
    if (svc.timer)
        event_free(svc.timer);
    atomic_store_explicit(&active, NULL, memory_order_release);
    vr_fakeip_destroy(svc.pool);
    free(svc.persist);
    memset(&svc, 0, sizeof(svc));
}
