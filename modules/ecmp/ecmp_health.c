/* Member health: the member's own report (outbound_healthy) AND, when
 * health_check is set, an active TCP probe to the target through the
 * member. fall consecutive failed probes take a member out, rise good ones
 * bring it back. After a failure the next probe comes after interval/fall,
 * so a member that died is out within about one interval; a real flow that
 * fails through a member triggers a probe at once. */
#include "ecmp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void ecmp_probe_start(void *arg);

static void ecmp_health_publish(struct ecmp_member *m)
{
    const struct vr_host *h = m->st->host;
    int up = m->probe_up && h->outbound_healthy(m->ref);
    if (up != m->reported_up) {
        m->reported_up = up;
        h->counter_set(m->c_healthy, up);
    }
    if (VR_HAS(h, member_health) && h->member_health) {
        char detail[160];
        if (!h->outbound_healthy(m->ref))
            snprintf(detail, sizeof(detail), "outbound %s reports itself unhealthy", m->tag);
        else
            snprintf(detail, sizeof(detail), "%s", m->last_probe[0] ? m->last_probe : "no health_check");
        h->member_health(m->st->inst, m->tag, up, detail);
    }
}

int ecmp_member_usable(struct ecmp_state *st, int i)
{
    struct ecmp_member *m = &st->m[i];
    int up = m->probe_up && st->host->outbound_healthy(m->ref);
    /* A member's own health changed (a link went down): report it now, not
     * at the next probe (there may be no health_check at all). */
    if (up != m->reported_up && m->reported_up != -1)
        ecmp_health_publish(m);
    return up;
}

static void ecmp_probe_schedule(struct ecmp_member *m, uint32_t ms)
{
    const struct vr_host *h = m->st->host;
    h->timer_del(m->probe_timer);
    m->probe_timer = h->timer_add(m->st->inst, ms, 0, ecmp_probe_start, m);
}

static void ecmp_probe_result(struct ecmp_member *m, int ok, const char *reason)
{
    struct ecmp_state *st = m->st;
    const struct vr_host *h = st->host;
    uint32_t next = st->interval_ms;
    snprintf(m->last_probe, sizeof(m->last_probe), "probe to %s %s%s%s", st->target_str, ok ? "succeeded" : "failed",
             !ok && reason ? ": " : "", !ok && reason ? reason : "");
    if (ok) {
        m->fails = 0;
        m->oks++;
        if (!m->probe_up && m->oks >= st->rise) {
            m->probe_up = 1;
            h->log(st->inst, VR_LOG_INFO, "member %s up: %d probes to %s succeeded", m->tag,
                   m->oks, st->target_str);
        }
    } else {
        m->oks = 0;
        m->fails++;
        h->counter_add(m->c_probe_fail, 1);
        if (m->probe_up && m->fails >= st->fall) {
            m->probe_up = 0;
            h->log(st->inst, VR_LOG_WARN, "member %s down: %d probes to %s failed (last: %s)",
                   m->tag, m->fails, st->target_str, reason);
        } else if (m->probe_up) {
            /* suspect: confirm within the interval */
            next = st->interval_ms / (uint32_t)st->fall;
            h->log(st->inst, VR_LOG_DEBUG, "member %s: probe failed (%s)", m->tag, reason);
        }
    }
    ecmp_health_publish(m);
    ecmp_probe_schedule(m, next > 0 ? next : 1);
}

static void ecmp_probe_done(void *arg, int fd, int err, const char *reason)
{
    struct ecmp_member *m = arg;
    m->probe_pending = NULL;
    m->st->host->timer_del(m->probe_timeout);
    m->probe_timeout = NULL;
    if (fd >= 0)
        close(fd);
    ecmp_probe_result(m, err == 0, reason != NULL ? reason : strerror(-err));
}

static void ecmp_probe_timeout(void *arg)
{
    struct ecmp_member *m = arg;
    m->probe_timeout = NULL;
    if (m->probe_pending != NULL) {
        m->st->host->outbound_tcp_cancel(m->ref, m->probe_pending);
        m->probe_pending = NULL;
    }
    ecmp_probe_result(m, 0, "probe timeout");
}

static void ecmp_probe_start(void *arg)
{
    struct ecmp_member *m = arg;
    struct ecmp_state *st = m->st;
    const struct vr_host *h = st->host;
    m->probe_timer = NULL;
    if (m->probe_pending != NULL)
        return;
    int r = h->outbound_tcp_connect(m->ref, &st->probe_flow, ecmp_probe_done, m,
                                    &m->probe_pending);
    if (r < 0) {
        m->probe_pending = NULL;
        ecmp_probe_result(m, 0, strerror(-r));
        return;
    }
    m->probe_timeout = h->timer_add(st->inst, st->timeout_ms, 0, ecmp_probe_timeout, m);
}

void ecmp_health_start(struct ecmp_state *st)
{
    for (int i = 0; i < st->n; i++) {
        struct ecmp_member *m = &st->m[i];
        m->probe_up = 1; /* members start healthy, like instances */
        m->reported_up = -1;
        ecmp_health_publish(m);
        if (st->probing)
            ecmp_probe_schedule(m, 1);
    }
}

void ecmp_health_stop(struct ecmp_state *st)
{
    const struct vr_host *h = st->host;
    for (int i = 0; i < st->n; i++) {
        struct ecmp_member *m = &st->m[i];
        h->timer_del(m->probe_timer);
        h->timer_del(m->probe_timeout);
        m->probe_timer = m->probe_timeout = NULL;
        if (m->probe_pending != NULL)
            h->outbound_tcp_cancel(m->ref, m->probe_pending);
        m->probe_pending = NULL;
    }
}

void ecmp_health_flow_failed(struct ecmp_state *st, int i)
{
    struct ecmp_member *m = &st->m[i];
    ecmp_health_publish(m);
    if (st->probing && m->probe_pending == NULL && m->probe_up)
        ecmp_probe_schedule(m, 1);
}
