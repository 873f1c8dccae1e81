#include "vr_process.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <vrouter/vr_flow.h>

#include "vr_addr.h"
#include "vr_conn.h"
#include "vr_control.h"
#include "vr_generation.h"
#include "vr_host_table.h"
#include "vr_listener.h"
#include "vr_listener_set.h"
#include "vr_log.h"
#include "vr_notify.h"
#include "vr_privdrop.h"
#include "vr_secrets.h"
#include "vr_selftest.h"
#include "vr_udp_listener.h"
#include "vr_udp_session.h"
#include "vr_watch.h"

/* The one daemon of the process. Only this file reads it: flows get what
 * they need from their worker and listener. */
static struct vr_daemon vr_daemon;

static void log_errors(const struct vr_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        vr_err("%s", errs->msgs[i]);
}

/* The fd budget: the open-file limit less what listeners, modules and UDP
 * (its sessions and reply sockets, at most half the limit) may take. Each
 * TCP connection is counted two sockets; a reserve of pipes for zero-copy
 * relaying comes on top (vr_config_pipe_reserve). max_connections is lowered
 * to what that leaves, so accept stops before the files run out, and a
 * transfer that finds no pipe copies instead of failing (vr_relay.h). */
static void set_limits(const struct vr_config *c)
{
    struct vr_worker *w = &vr_daemon.worker;
    const struct vr_daemon_cfg *d = &c->daemon;
    struct rlimit rl;
    uint64_t limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : UINT64_MAX / 4;
    uint64_t udp;
    (void)vr_config_open_files(c, &udp);
    if (udp > limit / 2)
        udp = limit / 2;
    uint64_t budget = limit > udp + VR_FD_RESERVE ? limit - udp - VR_FD_RESERVE : limit / 4;
    uint64_t conns = d->max_connections;
    uint64_t pipes = vr_config_pipe_reserve(conns);
    if (2 * conns + 2 * pipes > budget) {
        pipes = vr_config_pipe_reserve(budget / 2);
        conns = budget > 2 * pipes + 2 ? (budget - 2 * pipes) / 2 : 1;
    }
    if (conns != w->max_conns && conns < d->max_connections)
        vr_warn("open files: the limit of %llu leaves %llu for TCP, enough for %llu connections (2 sockets each) "
                "and %llu spare pipes: daemon.max_connections=%u is lowered to %llu (raise LimitNOFILE= to %llu "
                "for all of them)",
                (unsigned long long)limit, (unsigned long long)budget, (unsigned long long)conns,
                (unsigned long long)pipes, d->max_connections, (unsigned long long)conns,
                (unsigned long long)vr_config_open_files(c, &udp));
    w->max_conns = (uint32_t)conns;
    vr_worker_set_fd_budget(w, budget);
    /* A quarter of what the daemon can really take, unless set; below 64
     * connections a quarter is too few to browse with, so no cap. */
    if (d->max_connections_per_client_set)
        w->max_per_client = d->max_connections_per_client;
    else
        w->max_per_client = conns / 4 >= 16 ? (uint32_t)(conns / 4) : 0;
    w->client_prefix_v6 = d->client_prefix_v6;
}

static void apply_daemon_settings(const struct vr_generation *g)
{
    const struct vr_daemon_cfg *d = &g->cfg->daemon;
    vr_log_level = d->log_level;
    vr_host_bypass_mark = d->bypass_mark;
    vr_daemon.worker.idle_timeout_s = d->tcp_idle_timeout_s;
    set_limits(g->cfg);
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

/* TCP and UDP listeners together: all or nothing. g is the active
 * generation at start, a new one on reload. */
static int sync_all_listeners(struct vr_generation *g, struct vr_errors *errs)
{
    struct vr_listener_change ch;
    if (vr_listener_set_prepare(&vr_daemon.worker, g->cfg, &ch, errs) < 0)
        return -EINVAL;
    vr_listener_set_commit(&vr_daemon.worker, g->cfg, &ch, g != vr_daemon.gen);
    return 0;
}

/* What still holds a generation, counted when asked (statistics and the
 * retire deadline are rare; the data path keeps no extra counters). */
struct gen_holders {
    size_t conns, sessions;
};

static struct gen_holders holders_of(const struct vr_generation *g)
{
    struct gen_holders h = {0, 0};
    for (const struct vr_conn *c = vr_daemon.worker.conns; c; c = c->next)
        if (c->gen == g)
            h.conns++;
    for (struct vr_udp_listener *l = vr_daemon.worker.udp_listeners; l; l = l->next)
        h.sessions += vr_udp_sessions_of_generation(l, g, NULL);
    return h;
}

/* daemon.retire_timeout_s reached: close what still holds g, each flow
 * logged with the reason; g goes with its last reference. */
static void retire_deadline(struct vr_generation *g)
{
    struct gen_holders h = holders_of(g);
    vr_warn("generation %" PRIu64 ": retire_timeout_s reached %.1f s after the reload that replaced it: closing its "
            "%zu connections and %zu UDP sessions",
            g->id, (double)(vr_now_ms() - g->retired_ms) / 1000.0, h.conns, h.sessions);
    const char *why = "retire timeout (daemon.retire_timeout_s)";
    struct vr_conn *next;
    for (struct vr_conn *c = vr_daemon.worker.conns; c; c = next) {
        next = c->next;
        if (c->gen == g)
            vr_conn_close(c, why);
    }
    for (struct vr_udp_listener *l = vr_daemon.worker.udp_listeners; l; l = l->next)
        vr_udp_sessions_of_generation(l, g, why);
}

/* daemon.control of the active generation: on, off, a new path. */
static void apply_control(const struct vr_generation *g)
{
    if (vr_daemon.control == NULL && g->cfg->daemon.control)
        vr_daemon.control = vr_control_new(&vr_daemon);
    if (vr_daemon.control)
        vr_control_apply(vr_daemon.control, &g->cfg->daemon);
}

/* The service manager's STATUS= line (vr_notify.h): cheap, counts kept. */
static void notify_status(char *buf, size_t len)
{
    size_t sessions = 0;
    for (struct vr_udp_listener *l = vr_daemon.worker.udp_listeners; l; l = l->next)
        sessions += l->table.n;
    snprintf(buf, len, "generation %" PRIu64 ": %zu connections, %zu UDP sessions", vr_daemon.gen->id,
             vr_daemon.worker.n_conns, sessions);
}

uint64_t vr_process_reload(struct vr_errors *out)
{
    struct vr_errors errs = {0};
    vr_notify_reloading();
    uint64_t id = ++vr_daemon.next_gen_id;
    vr_info("reload: reading %s", vr_daemon.config_path);
    struct vr_generation *g = vr_generation_build(vr_daemon.config_path, vr_daemon.base, id, &errs);
    if (g == NULL)
        goto failed;
    vr_secrets_warn_readable(g->cfg);
    vr_privdrop_check_reload(&g->cfg->daemon);
    if (vr_generation_install(g, vr_daemon.gen) < 0) {
        vr_errors_add(&errs, "installers could not apply the new config; the old kernel state was restored");
        goto failed;
    }
    if (vr_metrics_prepare(&vr_daemon.metrics, &g->cfg->daemon, &errs) < 0) {
        vr_generation_install(vr_daemon.gen, g);
        goto failed;
    }
    if (sync_all_listeners(g, &errs) < 0) {
        /* Give the kernel state back to the generation that stays. */
        vr_generation_install(vr_daemon.gen, g);
        vr_metrics_abort(&vr_daemon.metrics);
        goto failed;
    }
    vr_metrics_commit(&vr_daemon.metrics, &g->cfg->daemon);
    vr_metrics_loaded(&vr_daemon.metrics, true, true);
    struct vr_generation *old = vr_daemon.gen;
    vr_daemon.gen = g;
    vr_worker_set_generation(&vr_daemon.worker, g);
    apply_daemon_settings(g);
    uint64_t old_id = old->id;
    vr_generation_retire(old, g->cfg->daemon.retire_timeout_s, retire_deadline);
    vr_generation_unref(old);
    vr_info("reload: generation %" PRIu64 " active (generation %" PRIu64 " stays until its last connection; "
            "%zu connections open)",
            id, old_id, vr_daemon.worker.n_conns);
    vr_errors_clear(&errs);
    vr_worker_resume(&vr_daemon.worker);
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

static void dump_stats(void)
{
    struct vr_worker *w = &vr_daemon.worker;
    vr_log_write(VR_LOG_INFO, "stats: generation %" PRIu64 ", %zu connections open, %" PRIu64 " accepted, %" PRIu64
                 " refused, %" PRIu64 " closed, %zu pipes lent, %zu pipes pooled",
                 vr_daemon.gen->id, w->n_conns, w->accepted, w->refused, w->closed, w->pipes.lent, w->pipes.n_free);
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
        size_t other = (size_t)lg->refs > h.conns + h.sessions ? (size_t)lg->refs - h.conns - h.sessions : 0;
        vr_log_write(VR_LOG_INFO, "stats: generation %" PRIu64 " retired %.1f s ago, held by %zu connections, %zu UDP "
                     "sessions, %zu other; %s",
                     lg->id, (double)(now - lg->retired_ms) / 1000.0, h.conns, h.sessions, other, deadline);
    }
    vr_log_write(VR_LOG_INFO,
                 "stats: limits: %zu clients, %" PRIu64 " connections refused at max_connections_per_client=%" PRIu32
                 " (%" PRIu64 " episodes); fds budgeted %" PRIu64 " of %" PRIu64 " (max %" PRIu32
                 " connections); %" PRIu64 " pipes refused (copied instead), %" PRIu64 " stalled pipes given back",
                 w->clients.n, w->clients.refused, w->max_per_client, w->clients.episodes, vr_worker_fds(w),
                 w->fd_budget, w->max_conns, w->pipes.refused, w->pipes.unstuck);
    struct vr_generation *g = vr_daemon.gen;
    for (size_t i = 0; i < g->cfg->n_outbounds; i++) {
        struct vr_instance *inst = g->outbounds[i];
        for (struct vr_counter *c = inst->counters; c; c = c->next)
            vr_log_write(VR_LOG_INFO, "stats: %s%s=%" PRId64, inst->prefix, c->name, c->value);
        if (!inst->healthy)
            vr_log_write(VR_LOG_INFO, "stats: %sunhealthy: %s", inst->prefix, inst->health_reason);
    }
    for (struct vr_udp_listener *l = vr_daemon.worker.udp_listeners; l; l = l->next)
        vr_udp_listener_log_stats(l);
}

static void drain_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    vr_warn("drain deadline reached: closing %zu connections still open", vr_daemon.worker.n_conns);
    event_base_loopbreak(vr_daemon.base);
}

static void worker_drained(struct vr_worker *w)
{
    (void)w;
    event_base_loopbreak(vr_daemon.base);
}

static void start_drain(int sig)
{
    if (vr_daemon.worker.draining) {
        vr_warn("%s again: stopping now", strsignal(sig));
        event_base_loopbreak(vr_daemon.base);
        return;
    }
    vr_notify_stopping();
    vr_worker_drain(&vr_daemon.worker);
    vr_control_free(vr_daemon.control);
    vr_daemon.control = NULL;
    /* UDP has no connection to finish: its sessions end with the listener. */
    vr_listener_set_close(&vr_daemon.worker);
    size_t n = vr_daemon.worker.n_conns;
    if (n == 0) {
        vr_info("%s: no connections open, exiting", strsignal(sig));
        event_base_loopbreak(vr_daemon.base);
        return;
    }
    uint32_t secs = vr_daemon.gen->cfg->daemon.drain_timeout_s;
    vr_info("%s: stopped accepting; draining %zu connections for up to %u s (send the signal again to stop now)",
            strsignal(sig), n, secs);
    int shown = 0;
    for (struct vr_conn *c = vr_daemon.worker.conns; c && shown < 10; c = c->next, shown++) {
        char s[VR_ADDRSTRLEN], d[VR_ADDRSTRLEN];
        vr_info("draining: conn %" PRIu64 " %s -> %s via %s", c->flow.id,
                vr_sockaddr_str((const struct sockaddr *)&c->flow.src, s, sizeof(s)),
                vr_sockaddr_str((const struct sockaddr *)&c->flow.dst, d, sizeof(d)),
                c->outbound ? c->outbound->tag : "-");
    }
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
        if (!vr_daemon.worker.draining)
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

int vr_process_run(const char *path)
{
    int status = 1;
    struct vr_errors errs = {0};
    memset(&vr_daemon, 0, sizeof(vr_daemon));
    vr_daemon.config_path = path;
    vr_daemon.started_ms = vr_now_ms();
    vr_notify_init();
    signal(SIGPIPE, SIG_IGN);
    vr_daemon.base = event_base_new();
    if (vr_daemon.base == NULL || vr_worker_init(&vr_daemon.worker, vr_daemon.base) < 0) {
        vr_err("cannot create the event loop");
        goto out;
    }
    vr_metrics_init(&vr_daemon.metrics, vr_daemon.base, &vr_daemon.worker, 1, &vr_daemon.gen);
    vr_daemon.next_gen_id = 1;
    vr_daemon.gen = vr_generation_build(path, vr_daemon.base, 1, &errs);
    if (vr_daemon.gen == NULL) {
        log_errors(&errs);
        vr_err("not started: the config has errors");
        goto out;
    }
    vr_secrets_warn_readable(vr_daemon.gen->cfg);
    raise_nofile(vr_daemon.gen->cfg);
    apply_daemon_settings(vr_daemon.gen); /* after raise_nofile: the fd budget reads the limit */
    if (vr_generation_install(vr_daemon.gen, NULL) < 0) {
        vr_err("not started: installers could not set up the kernel state (nothing was left behind)");
        goto out;
    }
    if (sync_all_listeners(vr_daemon.gen, &errs) < 0) {
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
    if (vr_daemon.gen->cfg->n_installers > 0) {
        char why[512] = "";
        int lrc = vr_selftest_loop(vr_daemon.worker.listeners, vr_daemon.gen->cfg->daemon.bypass_mark, why, sizeof(why));
        if (lrc > 0) {
            vr_generation_uninstall(vr_daemon.gen);
            vr_err("not started: loop self-test failed: %s", why);
            goto out;
        }
        if (lrc < 0)
            vr_warn("loop self-test could not run: %s", strerror(-lrc));
    }
    vr_worker_set_generation(&vr_daemon.worker, vr_daemon.gen);
    vr_daemon.worker.on_drained = worker_drained;
    vr_daemon.drain_timer = evtimer_new(vr_daemon.base, drain_deadline, NULL);
    vr_daemon.sig_hup = add_signal(SIGHUP);
    vr_daemon.sig_term = add_signal(SIGTERM);
    vr_daemon.sig_int = add_signal(SIGINT);
    vr_daemon.sig_usr1 = add_signal(SIGUSR1);
    if (!vr_daemon.drain_timer || !vr_daemon.sig_hup || !vr_daemon.sig_term ||
        !vr_daemon.sig_int || !vr_daemon.sig_usr1) {
        vr_generation_uninstall(vr_daemon.gen);
        vr_err("not started: cannot set up the signal handlers and timers (out of memory)");
        goto out;
    }
    for (struct vr_listener *l = vr_daemon.worker.listeners; l; l = l->next)
        vr_listener_log(l, "");
    for (struct vr_udp_listener *l = vr_daemon.worker.udp_listeners; l; l = l->next) {
        char a[VR_ADDRSTRLEN];
        vr_info("listener %s: tproxy UDP on %s", l->tag,
                vr_sockaddr_str((const struct sockaddr *)&l->addr, a, sizeof(a)));
    }
    apply_control(vr_daemon.gen);
    /* Last, after every setup step that needs root; before the event loop and
     * BEFORE ANY THREAD IS CREATED: capabilities are per thread, and a thread
     * started earlier would keep root's. */
    if (vr_privdrop_apply(&vr_daemon.gen->cfg->daemon) < 0) {
        vr_generation_uninstall(vr_daemon.gen);
        vr_err("not started: cannot drop privileges to daemon.user (see above)");
        goto out;
    }
    vr_log_write(VR_LOG_INFO < vr_log_level ? VR_LOG_INFO : vr_log_level, "vrouterd ready: generation 1 from %s",
                 path);
    vr_notify_start(vr_daemon.base, notify_status);
    vr_notify_ready();
    event_base_dispatch(vr_daemon.base);
    vr_generation_uninstall(vr_daemon.gen);
    vr_info("exiting: %" PRIu64 " connections served", vr_daemon.worker.accepted);
    status = 0;
out:
    vr_notify_fini();
    vr_errors_clear(&errs);
    vr_control_free(vr_daemon.control);
    vr_listener_set_close(&vr_daemon.worker);
    vr_metrics_fini(&vr_daemon.metrics);
    if (vr_daemon.base)
        vr_worker_fini(&vr_daemon.worker);
    if (vr_daemon.gen)
        vr_generation_unref(vr_daemon.gen);
    vr_generation_release_all();
    struct event *evs[] = {vr_daemon.sig_hup, vr_daemon.sig_term, vr_daemon.sig_int, vr_daemon.sig_usr1,
                           vr_daemon.drain_timer};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    if (vr_daemon.base)
        event_base_free(vr_daemon.base);
    return status;
}
