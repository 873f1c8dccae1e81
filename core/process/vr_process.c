#include "vr_dns_stats.h"
#include "vr_process.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <vrouter/vr_flow.h>

#include "vr_addr.h"
#include "vr_conn.h"
#include "vr_control.h"
#include "vr_fakeip_service.h"
#include "vr_ct_log.h"
#include "vr_generation.h"
#include "vr_host_table.h"
#include "vr_listener.h"
#include "vr_listener_set.h"
#include "vr_log.h"
#include "vr_notify.h"
#include "vr_offload_counters.h"
#include "vr_privdrop.h"
#include "vr_secrets.h"
#include "vr_selftest.h"
#include "vr_udp_listener.h"
#include "vr_udp_session.h"
#include "vr_watch.h"
#include "vr_relay_sockmap.h"
#include "vr_sockmap.h"
#include "vr_fdloop.h"
#include "vr_worker_thread.h"
#include "vr_xdp.h"

/* The one daemon of the process. Only this file reads it: flows get what
 * they need from their worker and listener. */
/* Spare pipes the budget keeps in sockmap mode (vr_config_pipe_reserve's floor). */
#define VR_SOCKMAP_PIPE_RESERVE 16

static struct vr_daemon vr_daemon;

static void log_errors(const struct vr_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        vr_err("%s", errs->msgs[i]);
}

/* The spare pipes the budget keeps for conns connections. The sockmap relay
 * needs none for a joined pair: only its fall-backs to splice (a FIN or a lot
 * queued before the join, full maps: rare and mostly short) take pipes, so it
 * keeps the reserve's floor. */
static uint64_t pipe_reserve(uint64_t conns, bool kernel_relay)
{
    uint64_t p = vr_config_pipe_reserve(conns);
    return kernel_relay && p > VR_SOCKMAP_PIPE_RESERVE ? VR_SOCKMAP_PIPE_RESERVE : p;
}

/* The fd budget: the open-file limit less what listeners, modules and UDP
 * (its sessions and reply sockets, at most half the limit) may take. Each
 * TCP connection is counted two sockets; a reserve of pipes for zero-copy
 * relaying comes on top (pipe_reserve). max_connections is lowered
 * to what that leaves, so accept stops before the files run out, and a
 * transfer that finds no pipe copies instead of failing (vr_relay.h). */
static void set_limits(const struct vr_config *c)
{
    const struct vr_daemon_cfg *d = &c->daemon;
    struct rlimit rl;
    uint64_t limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : UINT64_MAX / 4;
    uint64_t udp;
    (void)vr_config_open_files(c, &udp);
    if (udp > limit / 2)
        udp = limit / 2;
    uint64_t budget = limit > udp + VR_FD_RESERVE ? limit - udp - VR_FD_RESERVE : limit / 4;
    uint64_t conns = d->max_connections;
    bool kernel_relay = vr_relay_mode_sockmap(&vr_daemon.relay, d) != NULL;
    uint64_t pipes = pipe_reserve(conns, kernel_relay);
    if (2 * conns + 2 * pipes > budget) {
        pipes = pipe_reserve(budget / 2, kernel_relay);
        conns = budget > 2 * pipes + 2 ? (budget - 2 * pipes) / 2 : 1;
    }
    if (conns != vr_daemon.shared.max_conns && conns < d->max_connections)
        vr_warn("open files: the limit of %llu leaves %llu for TCP, enough for %llu connections (2 sockets each) "
                "and %llu spare pipes: daemon.max_connections=%u is lowered to %llu (raise LimitNOFILE= to %llu "
                "for all of them)",
                (unsigned long long)limit, (unsigned long long)budget, (unsigned long long)conns,
                (unsigned long long)pipes, d->max_connections, (unsigned long long)conns,
                (unsigned long long)vr_config_open_files(c, &udp));
    vr_daemon.shared.max_conns = (uint32_t)conns;
    /* A quarter of what the daemon can really take, unless set; below 64
     * connections a quarter is too few to browse with, so no cap. */
    uint32_t per_client = d->max_connections_per_client_set ? d->max_connections_per_client
                          : conns / 4 >= 16                 ? (uint32_t)(conns / 4)
                                                            : 0;
    /* Written while the workers are parked (or not yet running). */
    for (size_t i = 0; i < vr_daemon.n_workers; i++) {
        struct vr_worker *w = &vr_daemon.workers[i];
        /* Pipes are per worker: each gets its share of the budget. */
        vr_worker_set_fd_budget(w, budget / vr_daemon.n_workers);
        w->pipes.max_free = (VR_PIPE_POOL_MAX + vr_daemon.n_workers - 1) / vr_daemon.n_workers;
        w->max_per_client = per_client;
        w->client_prefix_v6 = d->client_prefix_v6;
        w->idle_timeout_s = d->tcp_idle_timeout_s;
        w->sockmap = vr_relay_mode_sockmap(&vr_daemon.relay, d);
    }
}

/* The daemon's settings of g's config. Workers' fields are written while
 * they are parked. */
static void apply_daemon_settings(const struct vr_generation *g)
{
    const struct vr_daemon_cfg *d = &g->cfg->daemon;
    /* Globals the workers read, written while they are parked. */
    vr_workers_stop(vr_daemon.workers, vr_daemon.n_workers);
    vr_log_level = d->log_level;
    vr_host_bypass_mark = d->bypass_mark;
    set_limits(g->cfg);
    vr_workers_start(vr_daemon.workers, vr_daemon.n_workers);
}

static void raise_nofile(const struct vr_config *c)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    uint64_t udp;
    rlim_t want = vr_config_open_files(c, &udp);
    uint32_t max_connections = c->daemon.max_connections;
    if (rl.rlim_cur >= want)
        return;
    struct rlimit nl = {want, rl.rlim_max > want ? rl.rlim_max : want};
    if (setrlimit(RLIMIT_NOFILE, &nl) == 0) {
        vr_info("open-file limit raised to %llu for max_connections=%u and %llu for UDP sessions",
                (unsigned long long)want, max_connections, (unsigned long long)udp);
        return;
    }
    int err = errno;
    nl.rlim_cur = rl.rlim_max;
    nl.rlim_max = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nl);
    vr_warn("open-file limit: the config can need about %llu open files (2 x max_connections=%u and spare pipes, "
            "plus %llu for UDP sessions and their reply sockets), but the hard limit is %llu and cannot be raised (%s: needs "
            "CAP_SYS_RESOURCE). When files run out, new TCP connections wait and new UDP sessions drop their "
            "datagrams (counted and logged). Raise LimitNOFILE= in the service, or the container's limit from "
            "outside, or lower daemon.max_connections / udp.max_sessions.",
            (unsigned long long)want, max_connections, (unsigned long long)udp, (unsigned long long)rl.rlim_max,
            strerror(err));
}

/* TCP and UDP listeners of every worker together: all or nothing. Every
 * worker opens what g adds before any worker closes what g drops, so at no
 * moment is an address without a socket. Then each worker, on its thread,
 * binds its listeners to g's entries and takes g as the generation of its
 * new flows, in one step. g is the active generation at start, a new one on
 * reload. */
struct listener_step {
    struct vr_generation *g;
    struct vr_listener_change *changes; /* one per worker */
    struct vr_errors errs;
    bool failed;
    bool reloading;
};

static void prepare_listeners(struct vr_worker *w, void *arg)
{
    struct listener_step *st = arg;
    if (st->failed)
        return;
    if (vr_listener_set_prepare(w, st->g->cfg, &st->changes[w->index], &st->errs) < 0)
        st->failed = true;
}

static void abort_listeners(struct vr_worker *w, void *arg)
{
    struct listener_step *st = arg;
    vr_listener_set_abort(&st->changes[w->index]);
}

static void commit_listeners(struct vr_worker *w, void *arg)
{
    struct listener_step *st = arg;
    /* Only worker 0 logs what a reload opened: the others opened the same. */
    vr_listener_set_commit(w, st->g->cfg, &st->changes[w->index], st->reloading && w->index == 0);
    vr_worker_set_generation(w, st->g);
    vr_worker_resume(w);
}

static int sync_all_listeners(struct vr_generation *g, bool reloading, struct vr_errors *errs)
{
    struct listener_step st = {.g = g, .reloading = reloading};
    st.changes = calloc(vr_daemon.n_workers, sizeof(*st.changes));
    if (st.changes == NULL) {
        vr_errors_add(errs, "listeners: out of memory");
        return -ENOMEM;
    }
    vr_workers_call(vr_daemon.workers, vr_daemon.n_workers, prepare_listeners, &st);
    if (st.failed) {
        vr_workers_call(vr_daemon.workers, vr_daemon.n_workers, abort_listeners, &st);
        for (size_t i = 0; i < st.errs.n; i++)
            vr_errors_add(errs, "%s", st.errs.msgs[i]);
        vr_errors_clear(&st.errs);
        free(st.changes);
        return -EINVAL;
    }
    vr_workers_call(vr_daemon.workers, vr_daemon.n_workers, commit_listeners, &st);
    vr_errors_clear(&st.errs);
    free(st.changes);
    return 0;
}

/* What still holds a generation, counted when asked (statistics and the
 * retire deadline are rare; the data path keeps no extra counters). */
struct gen_holders {
    size_t conns, sessions;
};

/* Call with the workers parked. */
static struct gen_holders holders_of(const struct vr_generation *g)
{
    struct gen_holders h = {0, 0};
    for (size_t i = 0; i < vr_daemon.n_workers; i++) {
        struct vr_worker *w = &vr_daemon.workers[i];
        for (const struct vr_conn *c = w->conns; c; c = c->next)
            if (c->gen == g)
                h.conns++;
        for (struct vr_udp_listener *l = w->udp_listeners; l; l = l->next)
            h.sessions += vr_udp_sessions_of_generation(l, g, NULL);
    }
    return h;
}

/* On a worker's thread: close its flows of generation arg. */
static void close_flows_of(struct vr_worker *w, void *arg)
{
    struct vr_generation *g = arg;
    const char *why = "retire timeout (daemon.retire_timeout_s)";
    struct vr_conn *next;
    for (struct vr_conn *c = w->conns; c; c = next) {
        next = c->next;
        if (c->gen == g)
            vr_conn_close(c, why);
    }
    for (struct vr_udp_listener *l = w->udp_listeners; l; l = l->next)
        vr_udp_sessions_of_generation(l, g, why);
}

/* daemon.retire_timeout_s reached: close what still holds g, each flow
 * logged with the reason; g goes with its last reference. */
static void retire_deadline(struct vr_generation *g)
{
    vr_workers_stop(vr_daemon.workers, vr_daemon.n_workers);
    struct gen_holders h = holders_of(g);
    vr_workers_start(vr_daemon.workers, vr_daemon.n_workers);
    vr_warn("generation %" PRIu64 ": retire_timeout_s reached %.1f s after the reload that replaced it: closing its "
            "%zu connections and %zu UDP sessions",
            g->id, (double)(vr_now_ms() - g->retired_ms) / 1000.0, h.conns, h.sessions);
    /* The last flow's close may drop the last reference: keep g until the
     * workers are done with it. */
    vr_generation_ref(g);
    vr_workers_call(vr_daemon.workers, vr_daemon.n_workers, close_flows_of, g);
    vr_generation_unref(g);
}

/* daemon.control of the active generation: on, off, a new path. */
static void apply_control(const struct vr_generation *g)
{
    if (vr_daemon.control == NULL && g->cfg->daemon.control)
        vr_daemon.control = vr_control_new(&vr_daemon);
    if (vr_daemon.control)
        vr_control_apply(vr_daemon.control, &g->cfg->daemon);
}

static void resume_worker(struct vr_worker *w, void *arg)
{
    (void)arg;
    vr_worker_resume(w);
}

/* The service manager's STATUS= line (vr_notify.h), every few seconds: the
 * UDP session counts are the workers', read with them parked a moment. */
static void notify_status(char *buf, size_t len)
{
    size_t sessions = 0;
    vr_workers_stop(vr_daemon.workers, vr_daemon.n_workers);
    for (size_t i = 0; i < vr_daemon.n_workers; i++)
        for (struct vr_udp_listener *l = vr_daemon.workers[i].udp_listeners; l; l = l->next)
            sessions += l->table.n;
    vr_workers_start(vr_daemon.workers, vr_daemon.n_workers);
    snprintf(buf, len, "generation %" PRIu64 ": %u connections, %zu UDP sessions", vr_daemon.gen->id,
             (unsigned)atomic_load(&vr_daemon.shared.n_conns), sessions);
}

uint64_t vr_process_reload(struct vr_errors *out)
{
    struct vr_errors errs = {0};
    vr_notify_reloading();
    uint64_t id = ++vr_daemon.next_gen_id;
    vr_info("reload: reading %s", vr_daemon.config_path);
    struct vr_generation *g = vr_generation_build_on(vr_daemon.config_path, vr_daemon.base, &vr_daemon.place, id, &errs);
    if (g == NULL)
        goto failed;
    uint32_t want_workers = g->cfg->daemon.workers ? g->cfg->daemon.workers : (uint32_t)vr_online_cpus();
    if (!vr_daemon.workers_forced && want_workers != vr_daemon.n_workers)
        vr_warn("reload: daemon.workers asks for %u workers; %zu keep running (the number of workers changes only "
                "with a restart)",
                want_workers, vr_daemon.n_workers);
    vr_secrets_warn_readable(g->cfg);
    vr_privdrop_check_reload(&g->cfg->daemon);
    if (vr_relay_mode_prepare(&vr_daemon.relay, &g->cfg->daemon, g->cfg->daemon.max_connections, &errs) < 0)
        goto failed;
    if (vr_generation_install(g, vr_daemon.gen) < 0) {
        vr_errors_add(&errs, "installers could not apply the new config (or xdp, capture_cgroup could not); the old kernel state was restored");
        goto failed;
    }
    if (vr_metrics_prepare(&vr_daemon.metrics, &g->cfg->daemon, &errs) < 0) {
        vr_generation_install(vr_daemon.gen, g);
        goto failed;
    }
    if (sync_all_listeners(g, true, &errs) < 0) {
        /* Give the kernel state back to the generation that stays. */
        vr_generation_install(vr_daemon.gen, g);
        vr_metrics_abort(&vr_daemon.metrics);
        goto failed;
    }
    vr_metrics_commit(&vr_daemon.metrics, &g->cfg->daemon);
    vr_metrics_loaded(&vr_daemon.metrics, true, true);
    struct vr_generation *old = vr_daemon.gen;
    vr_daemon.gen = g;
    apply_daemon_settings(g);
    vr_fakeip_service_apply(g->cfg, vr_daemon.base); /* the pool outlives generations */
    vr_ct_log_sync(vr_daemon.base, &vr_daemon.gen);
    uint64_t old_id = old->id;
    vr_generation_retire(old, g->cfg->daemon.retire_timeout_s, retire_deadline);
    vr_generation_unref(old);
    vr_info("reload: generation %" PRIu64 " active (generation %" PRIu64 " stays until its last connection; "
            "%u connections open)",
            id, old_id, (unsigned)atomic_load(&vr_daemon.shared.n_conns));
    vr_errors_clear(&errs);
    vr_workers_call(vr_daemon.workers, vr_daemon.n_workers, resume_worker, NULL);
    apply_control(g);
    vr_notify_ready();
    return id;
failed:
    vr_metrics_loaded(&vr_daemon.metrics, true, false);
    vr_notify_reload_failed(errs.n ? errs.msgs[0] : NULL);
    log_errors(&errs);
    vr_err("reload: failed, keeping generation %" PRIu64 " (fix the config and send SIGHUP again)",
           vr_daemon.gen->id);
    if (out) {
        for (size_t i = 0; i < errs.n; i++)
            vr_errors_add(out, "%s", errs.msgs[i]);
        if (errs.n == 0)
            vr_errors_add(out, "reload failed (see the log)");
    }
    vr_errors_clear(&errs);
    if (g)
        vr_generation_unref(g);
    return 0;
}

/* Sums over workers: call with them parked. */
struct worker_totals {
    size_t conns, pipes_lent, pipes_free;
    uint64_t accepted, refused, closed, fds, fd_budget, pipes_refused, pipes_unstuck;
};

static struct worker_totals worker_totals(void)
{
    struct worker_totals t = {0};
    for (size_t i = 0; i < vr_daemon.n_workers; i++) {
        const struct vr_worker *w = &vr_daemon.workers[i];
        t.conns += w->n_conns;
        t.accepted += w->accepted;
        t.refused += w->refused;
        t.closed += w->closed;
        t.pipes_lent += w->pipes.lent;
        t.pipes_free += w->pipes.n_free;
        t.fds += vr_worker_fds(w);
        t.fd_budget += w->fd_budget;
        t.pipes_refused += w->pipes.refused;
        t.pipes_unstuck += w->pipes.unstuck;
    }
    return t;
}

static void log_counter(const char *name, int64_t sum, void *arg)
{
    const struct vr_instance *inst = arg;
    vr_log_write(VR_LOG_INFO, "stats: %s%s=%" PRId64, inst->prefix, name, sum);
}

/* The sockmap relay's per-CPU counters, summed (vr_sockmap.h). */
static void log_sockmap_counter(bool is_outbound, const char *tag, const struct vr_sockmap_totals *t, void *arg)
{
    (void)arg;
    vr_log_write(VR_LOG_INFO, "stats: sockmap %s %s: up %" PRIu64 " bytes %" PRIu64 " packets, down %" PRIu64
                 " bytes %" PRIu64 " packets",
                 is_outbound ? "outbound" : "listener", tag, t->up_bytes, t->up_packets, t->down_bytes,
                 t->down_packets);
}

static void dump_stats(void)
{
    vr_workers_stop(vr_daemon.workers, vr_daemon.n_workers);
    struct worker_totals t = worker_totals();
    vr_log_write(VR_LOG_INFO, "stats: generation %" PRIu64 ", %zu workers, %zu connections open, %" PRIu64
                 " accepted, %" PRIu64 " refused, %" PRIu64 " closed, %zu pipes lent, %zu pipes pooled",
                 vr_daemon.gen->id, vr_daemon.n_workers, t.conns, t.accepted, t.refused, t.closed, t.pipes_lent,
                 t.pipes_free);
    if (vr_daemon.n_workers > 1)
        for (size_t i = 0; i < vr_daemon.n_workers; i++) {
            const struct vr_worker *w = &vr_daemon.workers[i];
            vr_log_write(VR_LOG_INFO, "stats: worker %zu: %zu connections open, %" PRIu64 " accepted", i, w->n_conns,
                         w->accepted);
        }
    uint64_t now = vr_now_ms();
    for (struct vr_generation *lg = vr_generation_live(); lg; lg = lg->live_next) {
        struct gen_holders h = holders_of(lg);
        if (lg == vr_daemon.gen) {
            vr_log_write(VR_LOG_INFO, "stats: generation %" PRIu64 " active for %.1f s: %zu connections, %zu UDP "
                         "sessions", lg->id, (double)(now - lg->built_ms) / 1000.0, h.conns, h.sessions);
            continue;
        }
        if (lg->retired_ms == 0)
            continue; /* a reload still building it */
        char deadline[64];
        if (lg->deadline_ms)
            snprintf(deadline, sizeof(deadline), "closed in %.1f s",
                     lg->deadline_ms > now ? (double)(lg->deadline_ms - now) / 1000.0 : 0.0);
        else
            snprintf(deadline, sizeof(deadline), "no deadline");
        /* Anything else holding it: a reference a module or the loop took. */
        size_t refs = (size_t)atomic_load(&lg->refs);
        size_t other = refs > h.conns + h.sessions ? refs - h.conns - h.sessions : 0;
        vr_log_write(VR_LOG_INFO, "stats: generation %" PRIu64 " retired %.1f s ago, held by %zu connections, %zu UDP "
                     "sessions, %zu other; %s",
                     lg->id, (double)(now - lg->retired_ms) / 1000.0, h.conns, h.sessions, other, deadline);
    }
    vr_dns_stats_log(vr_daemon.gen->cfg->dns);
    const struct vr_worker *w0 = &vr_daemon.workers[0];
    vr_log_write(VR_LOG_INFO,
                 "stats: limits: %zu clients, %" PRIu64 " connections refused at max_connections_per_client=%" PRIu32
                 " (%" PRIu64 " episodes); fds budgeted %" PRIu64 " of %" PRIu64 " (max %" PRIu32
                 " connections); %" PRIu64 " pipes refused (copied instead), %" PRIu64 " stalled pipes given back",
                 vr_daemon.shared.clients.n, vr_daemon.shared.clients.refused, w0->max_per_client,
                 vr_daemon.shared.clients.episodes, t.fds, t.fd_budget, vr_daemon.shared.max_conns, t.pipes_refused,
                 t.pipes_unstuck);
    vr_fakeip_service_log_stats();
    struct vr_xdp_counts xc;
    if (vr_xdp_counts(&xc))
        vr_log_write(VR_LOG_INFO, "stats: xdp: %" PRIu64 " packets passed (allowed source), %" PRIu64
                     " dropped (other source), %" PRIu64 " passed unchecked (not IP, IPv6 neighbour discovery)",
                     xc.passed, xc.dropped, xc.other);
    vr_sockmap_counters_each(vr_sockmap_loaded(), log_sockmap_counter, NULL);
    if (vr_sockmap_loaded()) {
        struct vr_relay_sockmap_fallbacks f;
        vr_relay_sockmap_fallbacks(&f);
        vr_log_write(VR_LOG_INFO, "stats: sockmap fallbacks to splice: %" PRIu64 " FIN before the join, %" PRIu64
                     " more than 8 MiB queued, %" PRIu64 " maps full, %" PRIu64 " other",
                     f.fin, f.queued, f.full, f.other);
    }
    /* Module counters are per instance, one instance per worker: summed by name. */
    struct vr_generation *g = vr_daemon.gen;
    for (size_t i = 0; i < g->cfg->n_outbounds; i++) {
        struct vr_instance *inst0 = g->sets[0].outbounds[i];
        vr_generation_outbound_counters(g, i, log_counter, inst0);
        for (size_t k = 0; k < g->n_sets; k++) {
            struct vr_instance *inst = g->sets[k].outbounds[i];
            if (!inst->healthy) {
                vr_log_write(VR_LOG_INFO, "stats: %sunhealthy: %s", inst->prefix, inst->health_reason);
                break;
            }
        }
    }
    /* Each UDP listener has a socket in every worker: one line, summed. */
    const struct vr_udp_listener *ls[VR_MAX_WORKERS];
    for (const struct vr_udp_listener *l0 = vr_daemon.workers[0].udp_listeners; l0; l0 = l0->next) {
        size_t n = 0;
        for (size_t i = 0; i < vr_daemon.n_workers; i++)
            for (const struct vr_udp_listener *l = vr_daemon.workers[i].udp_listeners; l; l = l->next)
                if (vr_sockaddr_equal((const struct sockaddr *)&l->addr, (const struct sockaddr *)&l0->addr)) {
                    ls[n++] = l;
                    break;
                }
        vr_udp_listener_log_stats(ls, n);
    }
    vr_workers_start(vr_daemon.workers, vr_daemon.n_workers);
    vr_offload_counters_log(vr_daemon.gen); /* nft's counters: read with the workers running */
}

static void drain_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    vr_warn("drain deadline reached: closing %u connections still open",
            (unsigned)atomic_load(&vr_daemon.shared.n_conns));
    event_base_loopbreak(vr_daemon.base);
}

/* On a worker's thread: its last connection closed while draining. The
 * main thread checks whether that was the last of all. */
static void worker_drained(struct vr_worker *w)
{
    (void)w;
    event_active(vr_daemon.drained_ev, EV_TIMEOUT, 1);
}

static void check_drained(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (atomic_load(&vr_daemon.shared.n_conns) == 0)
        event_base_loopbreak(vr_daemon.base);
}

/* On a worker's thread: stop accepting for good, close the listeners. */
static void drain_worker(struct vr_worker *w, void *arg)
{
    (void)arg;
    vr_worker_drain(w);
    /* UDP has no connection to finish: its sessions end with the listener. */
    vr_listener_set_close(w);
}

static void log_draining(struct vr_worker *w, void *arg)
{
    int *shown = arg;
    for (struct vr_conn *c = w->conns; c && *shown < 10; c = c->next, (*shown)++) {
        char s[VR_ADDRSTRLEN], d[VR_ADDRSTRLEN];
        vr_info("draining: conn %" PRIu64 " %s -> %s via %s", c->flow.id,
                vr_sockaddr_str((const struct sockaddr *)&c->flow.src, s, sizeof(s)),
                vr_sockaddr_str((const struct sockaddr *)&c->flow.dst, d, sizeof(d)),
                c->outbound ? c->outbound->tag : "-");
    }
}

static void start_drain(int sig)
{
    if (vr_daemon.draining) {
        vr_warn("%s again: stopping now", strsignal(sig));
        event_base_loopbreak(vr_daemon.base);
        return;
    }
    vr_notify_stopping();
    vr_daemon.draining = true;
    vr_workers_call(vr_daemon.workers, vr_daemon.n_workers, drain_worker, NULL);
    vr_control_free(vr_daemon.control);
    vr_daemon.control = NULL;
    size_t n = atomic_load(&vr_daemon.shared.n_conns);
    if (n == 0) {
        vr_info("%s: no connections open, exiting", strsignal(sig));
        event_base_loopbreak(vr_daemon.base);
        return;
    }
    uint32_t secs = vr_daemon.gen->cfg->daemon.drain_timeout_s;
    vr_info("%s: stopped accepting; draining %zu connections for up to %u s (send the signal again to stop now)",
            strsignal(sig), n, secs);
    int shown = 0;
    vr_workers_call(vr_daemon.workers, vr_daemon.n_workers, log_draining, &shown);
    struct timeval tv = {secs, 0};
    if (evtimer_add(vr_daemon.drain_timer, &tv) < 0)
        vr_err("cannot arm the drain deadline: draining without one (send the signal again to stop now)");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    switch (sig) {
    case SIGHUP:
        if (!vr_daemon.draining)
            vr_process_reload(NULL);
        break;
    case SIGUSR1: dump_stats(); break;
    default: start_drain((int)sig); break;
    }
}

static struct event *add_signal(int sig)
{
    struct event *ev = evsignal_new(vr_daemon.base, sig, on_signal, NULL);
    if (ev && event_add(ev, NULL) < 0) {
        event_free(ev);
        ev = NULL;
    }
    return ev;
}

unsigned vr_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > VR_MAX_WORKERS ? VR_MAX_WORKERS : (unsigned)n;
}

static void run_on_worker(void *ctx, size_t i, void (*fn)(void *arg), void *arg)
{
    (void)ctx;
    vr_worker_call(&vr_daemon.workers[i], fn, arg);
}

/* How many workers the config (or -w) asks for: read from the file before
 * the first generation is built, since each worker gets its own instances. */
static size_t workers_wanted(const char *path, unsigned forced)
{
    if (forced)
        return forced;
    struct vr_config *c = vr_config_load(path);
    unsigned n = c && c->daemon.workers ? c->daemon.workers : vr_online_cpus();
    vr_config_free(c);
    return n;
}

static int workers_init(size_t n)
{
    vr_daemon.workers = calloc(n, sizeof(*vr_daemon.workers));
    vr_daemon.bases = calloc(n, sizeof(*vr_daemon.bases));
    if (vr_daemon.workers == NULL || vr_daemon.bases == NULL)
        return -1;
    if (vr_worker_shared_init(&vr_daemon.shared, vr_daemon.workers, n) < 0)
        return -1;
    vr_daemon.n_workers = n;
    for (size_t i = 0; i < n; i++) {
        if (vr_worker_init(&vr_daemon.workers[i], i, &vr_daemon.shared) < 0)
            return -1;
        vr_daemon.bases[i] = vr_daemon.workers[i].base;
        vr_daemon.workers[i].on_drained = worker_drained;
    }
    vr_daemon.place.n = n;
    vr_daemon.place.bases = vr_daemon.bases;
    vr_daemon.place.run_on = run_on_worker;
    return 0;
}

/* Exit, in order: stop the threads (each flow is closed on the main thread
 * from here on: no worker runs any more), close the listeners and flows,
 * release the generations (their sets were made on the worker loops, which
 * still exist), then free the loops. */
static void workers_fini(void)
{
    for (size_t i = 0; i < vr_daemon.n_workers; i++)
        vr_worker_thread_stop(&vr_daemon.workers[i]);
    for (size_t i = 0; i < vr_daemon.n_workers; i++) {
        vr_listener_set_close(&vr_daemon.workers[i]);
        vr_worker_close_flows(&vr_daemon.workers[i]);
    }
    if (vr_daemon.gen)
        vr_generation_unref(vr_daemon.gen);
    vr_daemon.gen = NULL;
    vr_generation_release_all();
    for (size_t i = 0; i < vr_daemon.n_workers; i++)
        vr_worker_fini(&vr_daemon.workers[i]);
    if (vr_daemon.workers)
        vr_worker_shared_fini(&vr_daemon.shared);
    free(vr_daemon.workers);
    free(vr_daemon.bases);
    vr_daemon.workers = NULL;
    vr_daemon.n_workers = 0;
}

static void log_listeners(const struct vr_worker *w)
{
    for (struct vr_listener *l = w->listeners; l; l = l->next)
        vr_listener_log(l, "");
    for (struct vr_udp_listener *l = w->udp_listeners; l; l = l->next) {
        char a[VR_ADDRSTRLEN];
        vr_info("listener %s: tproxy UDP on %s", l->tag,
                vr_sockaddr_str((const struct sockaddr *)&l->addr, a, sizeof(a)));
    }
}

int vr_process_run(const char *path, unsigned workers)
{
    int status = 1;
    struct vr_errors errs = {0};
    memset(&vr_daemon, 0, sizeof(vr_daemon));
    vr_daemon.config_path = path;
    vr_daemon.started_ms = vr_now_ms();
    vr_daemon.workers_forced = workers > 0;
    vr_notify_init();
    signal(SIGPIPE, SIG_IGN);
    if (vr_threads_init() < 0) {
        vr_err("cannot set up libevent for threads");
        return 1;
    }
    vr_daemon.base = event_base_new();
    if (vr_daemon.base)
        vr_daemon.fdloop = vr_fdloop_new(vr_daemon.base);
    size_t n_workers = workers_wanted(path, workers);
    if (vr_daemon.base == NULL || vr_daemon.fdloop == NULL || workers_init(n_workers) < 0) {
        vr_err("cannot create the event loops");
        goto out;
    }
    vr_daemon.drained_ev = event_new(vr_daemon.base, -1, 0, check_drained, NULL);
    vr_metrics_init(&vr_daemon.metrics, vr_daemon.base, vr_daemon.workers, vr_daemon.n_workers, &vr_daemon.gen);
    vr_daemon.next_gen_id = 1;
    /* The workers' threads start once everything is set up: their instances
     * are created here, on this thread, before the threads exist (which
     * orders them before any use), and the privilege drop must come before
     * any thread (capabilities are per thread). */
    vr_daemon.gen = vr_generation_build_on(path, vr_daemon.base, &vr_daemon.place, 1, &errs);
    if (vr_daemon.gen == NULL) {
        log_errors(&errs);
        vr_err("not started: the config has errors");
        goto out;
    }
    vr_secrets_warn_readable(vr_daemon.gen->cfg);
    raise_nofile(vr_daemon.gen->cfg);
    if (vr_relay_mode_prepare(&vr_daemon.relay, &vr_daemon.gen->cfg->daemon, vr_daemon.gen->cfg->daemon.max_connections,
                              &errs) < 0) {
        log_errors(&errs);
        vr_err("not started: daemon.relay (see above)");
        goto out;
    }
    apply_daemon_settings(vr_daemon.gen); /* after raise_nofile: the fd budget reads the limit */
    vr_fakeip_service_apply(vr_daemon.gen->cfg, vr_daemon.base); /* loads dns.fakeip.persist */
    if (vr_generation_install(vr_daemon.gen, NULL) < 0) {
        vr_err("not started: installers could not set up the kernel state (or xdp, capture_cgroup could not; nothing was left behind)");
        goto out;
    }
    if (sync_all_listeners(vr_daemon.gen, false, &errs) < 0) {
        log_errors(&errs);
        vr_generation_uninstall(vr_daemon.gen);
        vr_err("not started: cannot open the listeners");
        goto out;
    }
    if (vr_metrics_prepare(&vr_daemon.metrics, &vr_daemon.gen->cfg->daemon, &errs) < 0) {
        log_errors(&errs);
        vr_generation_uninstall(vr_daemon.gen);
        vr_err("not started: cannot open the metrics endpoint");
        goto out;
    }
    vr_metrics_commit(&vr_daemon.metrics, &vr_daemon.gen->cfg->daemon);
    vr_metrics_loaded(&vr_daemon.metrics, false, true);
    if (vr_daemon.gen->cfg->n_installers > 0 || vr_daemon.gen->cfg->capture.cgroup) {
        char why[512] = "";
        struct vr_listener *lists[VR_MAX_WORKERS];
        for (size_t i = 0; i < vr_daemon.n_workers; i++)
            lists[i] = vr_daemon.workers[i].listeners;
        int lrc = vr_selftest_loop(lists, vr_daemon.n_workers, vr_daemon.gen->cfg->daemon.bypass_mark, why,
                                   sizeof(why));
        /* Cgroup capture must also spare vrouterd's sockets that carry
         * another mark (an outbound's routing mark) or none: probes without
         * one. Not with installers, whose capture of local traffic
         * (capture_local) rightly takes unmarked sockets. */
        if (lrc == 0 && vr_daemon.gen->cfg->capture.cgroup && vr_daemon.gen->cfg->n_installers == 0)
            lrc = vr_selftest_loop(lists, vr_daemon.n_workers, 0, why, sizeof(why));
        if (lrc > 0) {
            vr_generation_uninstall(vr_daemon.gen);
            vr_err("not started: loop self-test failed: %s", why);
            goto out;
        }
        if (lrc < 0)
            vr_warn("loop self-test could not run: %s", strerror(-lrc));
    }
    vr_daemon.drain_timer = evtimer_new(vr_daemon.base, drain_deadline, NULL);
    vr_daemon.sig_hup = add_signal(SIGHUP);
    vr_daemon.sig_term = add_signal(SIGTERM);
    vr_daemon.sig_int = add_signal(SIGINT);
    vr_daemon.sig_usr1 = add_signal(SIGUSR1);
    if (!vr_daemon.drain_timer || !vr_daemon.drained_ev || !vr_daemon.sig_hup || !vr_daemon.sig_term ||
        !vr_daemon.sig_int || !vr_daemon.sig_usr1) {
        vr_generation_uninstall(vr_daemon.gen);
        vr_err("not started: cannot set up the signal handlers and timers (out of memory)");
        goto out;
    }
    log_listeners(&vr_daemon.workers[0]);
    apply_control(vr_daemon.gen);
    vr_ct_log_sync(vr_daemon.base, &vr_daemon.gen); /* as root: it may switch on conntrack accounting */
    /* Last, after every setup step that needs root; before the event loop and
     * BEFORE ANY THREAD IS CREATED: capabilities are per thread, and a thread
     * started earlier would keep root's. The workers start right after. */
    if (vr_privdrop_apply(&vr_daemon.gen->cfg->daemon) < 0) {
        vr_generation_uninstall(vr_daemon.gen);
        vr_err("not started: cannot drop privileges to daemon.user (see above)");
        goto out;
    }
    for (size_t i = 0; i < vr_daemon.n_workers; i++) {
        int r = vr_worker_thread_start(&vr_daemon.workers[i]);
        if (r < 0) {
            vr_generation_uninstall(vr_daemon.gen);
            vr_err("not started: cannot start worker thread %zu: %s", i, strerror(-r));
            goto out;
        }
    }
    vr_log_write(VR_LOG_INFO < vr_log_level ? VR_LOG_INFO : vr_log_level,
                 "vrouterd ready: generation 1 from %s, %zu workers", path, vr_daemon.n_workers);
    vr_notify_start(vr_daemon.base, notify_status);
    vr_notify_ready();
    event_base_dispatch(vr_daemon.base);
    vr_generation_uninstall(vr_daemon.gen);
    vr_workers_stop(vr_daemon.workers, vr_daemon.n_workers);
    uint64_t served = worker_totals().accepted;
    vr_workers_start(vr_daemon.workers, vr_daemon.n_workers);
    vr_info("exiting: %" PRIu64 " connections served", served);
    status = 0;
out:
    vr_notify_fini();
    vr_errors_clear(&errs);
    vr_control_free(vr_daemon.control);
    vr_ct_log_close();
    vr_metrics_fini(&vr_daemon.metrics);
    workers_fini();
    vr_fakeip_service_stop(); /* after the workers: they read the pool */
    vr_relay_mode_fini(&vr_daemon.relay); /* after the last connection left its maps */
    vr_generation_release_all();
    struct event *evs[] = {vr_daemon.sig_hup, vr_daemon.sig_term, vr_daemon.sig_int, vr_daemon.sig_usr1,
                           vr_daemon.drain_timer, vr_daemon.drained_ev};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    vr_fdloop_free(vr_daemon.fdloop); /* after the generations: installers' watches are on it */
    if (vr_daemon.base)
        event_base_free(vr_daemon.base);
    return status;
}
