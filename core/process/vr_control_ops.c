/* The control socket's operations on the daemon as a whole: status, reload,
 * explain, rules, outbounds, log-level. What lives in a worker (its
 * connections and UDP sessions) is asked of the worker (vr_control_flows.c
 * for the listings; here only counts). */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <vrouter/vr_abi.h>

#include "vr_addr.h"
#include "vr_conn.h"
#include "vr_dns_stats.h"
#include "vr_control_ops.h"
#include "vr_explain.h"
#include "vr_generation.h"
#include "vr_listener.h"
#include "vr_log.h"
#include "vr_module.h"
#include "vr_offload_counters.h"
#include "vr_process.h"
#include "vr_worker_thread.h"
#include "vr_udp_listener.h"
#include "vr_udp_session.h"
#include "vr_watch.h"

static json_object *jstr(const char *s) { return s ? json_object_new_string(s) : json_object_new_null(); }
static json_object *jint(int64_t v) { return json_object_new_int64(v); }
static json_object *jsec(uint64_t ms) { return json_object_new_double((double)ms / 1000.0); }

static const char *level_name(int level)
{
    switch (level) {
    case VR_LOG_ERROR: return "error";
    case VR_LOG_WARN: return "warn";
    case VR_LOG_INFO: return "info";
    default: return "debug";
    }
}

/* ---- what the workers hold, counted while they are parked
 * (vr_workers_stop: a short pause of the data path) */

struct gen_count {
    const struct vr_generation *g;
    size_t conns, sessions;
};

static void count_session(const struct vr_udp_session_info *i, void *arg)
{
    struct gen_count *gc = arg;
    if (gc->g == NULL || i->gen == gc->g)
        gc->sessions++;
}

/* Connections and sessions of generation g (NULL: all) in every worker. */
static struct gen_count workers_count(struct vr_daemon *d, const struct vr_generation *g)
{
    struct gen_count gc = {g, 0, 0};
    for (size_t i = 0; i < d->n_workers; i++) {
        struct vr_worker *w = &d->workers[i];
        for (const struct vr_conn *c = w->conns; c; c = c->next)
            if (g == NULL || c->gen == g)
                gc.conns++;
        for (struct vr_udp_listener *l = w->udp_listeners; l; l = l->next)
            vr_udp_sessions_each(l, count_session, &gc);
    }
    return gc;
}

static long count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    return n - 1; /* the directory's own fd */
}

static long long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = -1, rss = -1;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%lld %lld", &pages, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

static json_object *listeners_json(const struct vr_worker *w)
{
    json_object *a = json_object_new_array();
    char addr[VR_ADDRSTRLEN];
    for (const struct vr_listener *l = w->listeners; l; l = l->next) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "tag", jstr(l->tag));
        json_object_object_add(o, "network", jstr("tcp"));
        json_object_object_add(o, "mode", jstr(l->mode == VR_MODE_REDIRECT ? "redirect" : "tproxy"));
        json_object_object_add(o, "address", jstr(vr_sockaddr_str((const struct sockaddr *)&l->addr, addr,
                                                                  sizeof(addr))));
        json_object_object_add(o, "paused", json_object_new_boolean(l->paused));
        json_object_array_add(a, o);
    }
    for (const struct vr_udp_listener *l = w->udp_listeners; l; l = l->next) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "tag", jstr(l->tag));
        json_object_object_add(o, "network", jstr("udp"));
        json_object_object_add(o, "mode", jstr("tproxy"));
        json_object_object_add(o, "address", jstr(vr_sockaddr_str((const struct sockaddr *)&l->addr, addr,
                                                                  sizeof(addr))));
        json_object_object_add(o, "sessions_total", jint((int64_t)l->stats.sessions));
        json_object_array_add(a, o);
    }
    return a;
}

static json_object *modules_json(void)
{
    json_object *a = json_object_new_array();
    for (const struct vr_module *m = vr_module_loaded(); m; m = m->next) {
        char abi[32];
        snprintf(abi, sizeof(abi), "%u.%u", (unsigned)m->desc->abi_major, (unsigned)m->desc->abi_minor);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", jstr(m->name));
        json_object_object_add(o, "kind", jstr(vr_module_kind_name(m->desc->kind)));
        json_object_object_add(o, "path", jstr(m->path));
        json_object_object_add(o, "abi", jstr(abi));
        json_object_object_add(o, "refs", jint(m->refs));
        json_object_array_add(a, o);
    }
    return a;
}

void vr_control_op_status(struct vr_control_client *cl, json_object *req)
{
    (void)req;
    struct vr_daemon *d = vr_control_daemon(cl);
    struct vr_worker *w = &d->workers[0]; /* listeners: every worker has the same */
    uint64_t now = vr_now_ms();
    time_t wall = time(NULL);
    json_object *o = json_object_new_object();
    char abi[32];
    snprintf(abi, sizeof(abi), "%d.%d", VR_ABI_MAJOR, VR_ABI_MINOR);
    json_object_object_add(o, "version", jstr(VR_VERSION));
    json_object_object_add(o, "abi", jstr(abi));
    json_object_object_add(o, "pid", jint(getpid()));
    json_object_object_add(o, "uptime_s", jsec(now - d->started_ms));
    json_object_object_add(o, "config", jstr(d->config_path));
    json_object_object_add(o, "log_level", jstr(level_name(vr_log_level)));
    json_object_object_add(o, "draining", json_object_new_boolean(d->draining));
    vr_workers_stop(d->workers, d->n_workers);
    json_object *gen = json_object_new_object();
    json_object_object_add(gen, "id", jint((int64_t)d->gen->id));
    json_object_object_add(gen, "loaded_s_ago", jsec(now - d->gen->built_ms));
    json_object_object_add(gen, "loaded_at", jint((int64_t)wall - (int64_t)((now - d->gen->built_ms) / 1000)));
    json_object_object_add(o, "generation", gen);
    json_object *retired = json_object_new_array();
    for (struct vr_generation *lg = vr_generation_live(); lg; lg = lg->live_next) {
        if (lg == d->gen || lg->retired_ms == 0)
            continue;
        struct gen_count h = workers_count(d, lg);
        size_t refs = (size_t)atomic_load(&lg->refs);
        size_t other = refs > h.conns + h.sessions ? refs - h.conns - h.sessions : 0;
        json_object *r = json_object_new_object();
        json_object_object_add(r, "id", jint((int64_t)lg->id));
        json_object_object_add(r, "retired_s_ago", jsec(now - lg->retired_ms));
        json_object_object_add(r, "connections", jint((int64_t)h.conns));
        json_object_object_add(r, "sessions", jint((int64_t)h.sessions));
        json_object_object_add(r, "other", jint((int64_t)other));
        json_object_object_add(r, "deadline_in_s",
                               lg->deadline_ms ? jsec(lg->deadline_ms > now ? lg->deadline_ms - now : 0)
                                               : json_object_new_null());
        json_object_array_add(retired, r);
    }
    json_object_object_add(o, "retired", retired);
    json_object_object_add(o, "listeners", listeners_json(w));
    json_object_object_add(o, "modules", modules_json());
    struct gen_count all = workers_count(d, NULL);
    uint64_t sessions_total = 0, active = 0, accepted = 0, refused = 0;
    json_object *per_worker = json_object_new_array();
    for (size_t i = 0; i < d->n_workers; i++) {
        const struct vr_worker *wk = &d->workers[i];
        for (struct vr_udp_listener *l = wk->udp_listeners; l; l = l->next)
            sessions_total += l->stats.sessions;
        active += wk->n_conns;
        accepted += wk->accepted;
        refused += wk->refused;
        json_object *wo = json_object_new_object();
        json_object_object_add(wo, "index", jint((int64_t)i));
        json_object_object_add(wo, "connections", jint((int64_t)wk->n_conns));
        json_object_object_add(wo, "accepted", jint((int64_t)wk->accepted));
        json_object_array_add(per_worker, wo);
    }
    vr_workers_start(d->workers, d->n_workers);
    json_object *conns = json_object_new_object();
    json_object_object_add(conns, "active", jint((int64_t)active));
    json_object_object_add(conns, "total", jint((int64_t)accepted));
    json_object_object_add(conns, "refused", jint((int64_t)refused));
    json_object_object_add(conns, "max", jint(d->shared.max_conns));
    json_object_object_add(o, "connections", conns);
    json_object *udp = json_object_new_object();
    json_object_object_add(udp, "active", jint((int64_t)all.sessions));
    json_object_object_add(udp, "total", jint((int64_t)sessions_total));
    json_object_object_add(o, "udp_sessions", udp);
    struct rlimit rl;
    json_object *fds = json_object_new_object();
    json_object_object_add(fds, "open", jint(count_fds()));
    json_object_object_add(fds, "limit", getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                                             ? jint((int64_t)rl.rlim_cur)
                                             : json_object_new_null());
    json_object_object_add(o, "fds", fds);
    json_object_object_add(o, "rss_bytes", jint(rss_bytes()));
    json_object_object_add(o, "workers", jint((int64_t)d->n_workers));
    json_object_object_add(o, "per_worker", per_worker);
    vr_control_send(cl, o);
}

void vr_control_op_reload(struct vr_control_client *cl, json_object *req)
{
    (void)req;
    struct vr_daemon *d = vr_control_daemon(cl);
    if (d->draining) {
        vr_control_fail(cl, "draining: no reload");
        return;
    }
    struct vr_errors errs = {0};
    vr_info("reload: asked on the control socket");
    uint64_t id = vr_process_reload(&errs);
    json_object *o = json_object_new_object();
    if (id) {
        json_object_object_add(o, "generation", jint((int64_t)id));
    } else {
        json_object_object_add(o, "ok", json_object_new_boolean(0));
        json_object_object_add(o, "error", jstr("the config has errors: the running generation is kept"));
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < errs.n; i++)
            json_object_array_add(a, jstr(errs.msgs[i]));
        json_object_object_add(o, "errors", a);
        json_object_object_add(o, "generation", jint((int64_t)d->gen->id));
    }
    vr_errors_clear(&errs);
    vr_control_send(cl, o);
}

void vr_control_op_explain(struct vr_control_client *cl, json_object *req)
{
    const char *flow = vr_control_str(req, "flow");
    if (flow == NULL) {
        vr_control_fail(cl, "explain needs \"flow\": \"[tcp|udp] [PROTOCOL] [DOMAIN] DST:PORT [from SRC:PORT] "
                            "[inbound TAG]\"");
        return;
    }
    char *out = NULL, *err = NULL;
    size_t outlen = 0, errlen = 0;
    FILE *fo = open_memstream(&out, &outlen), *fe = open_memstream(&err, &errlen);
    int r = fo && fe ? vr_explain(vr_control_daemon(cl)->gen, flow, fo, fe) : -1;
    if (fo)
        fclose(fo);
    if (fe)
        fclose(fe);
    json_object *o = json_object_new_object();
    if (r < 0) {
        json_object_object_add(o, "ok", json_object_new_boolean(0));
        json_object_object_add(o, "error", jstr(err && err[0] ? err : "cannot explain"));
    } else {
        json_object_object_add(o, "generation", jint((int64_t)vr_control_daemon(cl)->gen->id));
        json_object_object_add(o, "text", jstr(out ? out : ""));
    }
    free(out);
    free(err);
    vr_control_send(cl, o);
}

static const char *outbound_tag(const struct vr_generation *g, int idx)
{
    return idx >= 0 && (size_t)idx < g->cfg->n_outbounds ? g->cfg->outbounds[idx].tag : "-";
}

void vr_control_op_rules(struct vr_control_client *cl, json_object *req)
{
    (void)req;
    struct vr_daemon *d = vr_control_daemon(cl);
    const struct vr_generation *g = d->gen;
    const struct vr_rules *rules = &g->cfg->rules;
    /* the kernel fast path's nft counters, read before the workers park */
    struct vr_rule_offload_count *kc = calloc(rules->n + 1, sizeof(*kc));
    bool kernel = kc && vr_offload_counters(g, kc);
    vr_workers_stop(d->workers, d->n_workers);
    json_object *a = json_object_new_array();
    for (size_t i = 0; i <= rules->n; i++) {
        bool final = i == rules->n;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "index", final ? json_object_new_null() : jint((int64_t)i + 1)); /* "rule #N" */
        json_object_object_add(o, "name", jstr(final ? "final" : rules->rules[i].name));
        json_object_object_add(o, "file", final                    ? json_object_new_null()
                                          : rules->rules[i].file ? jstr(rules->rules[i].file)
                                                                 : jstr(g->cfg->path));
        json_object_object_add(o, "line", final ? json_object_new_null() : jint(rules->rules[i].line));
        json_object_object_add(o, "outbound",
                               jstr(outbound_tag(g, final ? rules->final_outbound : rules->rules[i].outbound)));
        /* "route" (to the outbound), or "reject" / "drop" (outbound "-") */
        json_object_object_add(o, "action", jstr(vr_rule_action_name(final ? VR_ACTION_ROUTE : rules->rules[i].action)));
        /* rules.n + 1 entries, final last */
        json_object_object_add(o, "hits", jint((int64_t)vr_generation_rule_hits(g, i)));
        if (kernel) { /* packets and bytes nft counted on the rule's kernel lines */
            json_object_object_add(o, "offloaded_packets", jint((int64_t)kc[i].packets));
            json_object_object_add(o, "offloaded_bytes", jint((int64_t)kc[i].bytes));
        }
        json_object_array_add(a, o);
    }
    vr_workers_start(d->workers, d->n_workers);
    free(kc);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "generation", jint((int64_t)g->id));
    json_object_object_add(o, "rules", a);
    vr_control_send(cl, o);
}

struct per_outbound {
    const char *tag;
    size_t conns, sessions;
};

static void count_outbound_session(const struct vr_udp_session_info *i, void *arg)
{
    struct per_outbound *p = arg;
    if (i->outbound && strcmp(i->outbound, p->tag) == 0)
        p->sessions++;
}

static void add_counter(const char *name, int64_t sum, void *arg) { json_object_object_add(arg, name, jint(sum)); }

void vr_control_op_outbounds(struct vr_control_client *cl, json_object *req)
{
    (void)req;
    struct vr_daemon *d = vr_control_daemon(cl);
    const struct vr_generation *g = d->gen;
    json_object *a = json_object_new_array();
    vr_workers_stop(d->workers, d->n_workers);
    for (size_t i = 0; i < g->cfg->n_outbounds; i++) {
        /* One instance per worker: healthy when every one is; counters summed. */
        const struct vr_instance *inst = g->sets[0].outbounds[i];
        const struct vr_instance *sick = NULL;
        for (size_t k = 0; k < g->n_sets && !sick; k++)
            if (g->sets[k].outbounds[i] && !g->sets[k].outbounds[i]->healthy)
                sick = g->sets[k].outbounds[i];
        struct per_outbound p = {g->cfg->outbounds[i].tag, 0, 0};
        /* Every generation's flows through an outbound of this tag. */
        for (size_t k = 0; k < d->n_workers; k++) {
            for (const struct vr_conn *c = d->workers[k].conns; c; c = c->next)
                if (c->outbound && strcmp(c->outbound->tag, p.tag) == 0)
                    p.conns++;
            for (struct vr_udp_listener *l = d->workers[k].udp_listeners; l; l = l->next)
                vr_udp_sessions_each(l, count_outbound_session, &p);
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "tag", jstr(p.tag));
        json_object_object_add(o, "module", jstr(g->cfg->outbounds[i].module));
        json_object_object_add(o, "created", json_object_new_boolean(inst != NULL));
        json_object_object_add(o, "healthy", inst ? json_object_new_boolean(sick == NULL) : json_object_new_null());
        json_object_object_add(o, "health_reason", jstr(sick ? sick->health_reason : NULL));
        json_object_object_add(o, "connections", jint((int64_t)p.conns));
        json_object_object_add(o, "sessions", jint((int64_t)p.sessions));
        json_object *counters = json_object_new_object();
        vr_generation_outbound_counters(g, i, add_counter, counters);
        json_object_object_add(o, "counters", counters);
        /* A composite's members (host->member_health): up when every
         * worker's instance says so; the detail of one that does not. */
        json_object *members = json_object_new_array();
        for (const struct vr_member_health *mh = inst ? inst->members : NULL; mh; mh = mh->next) {
            const struct vr_member_health *shown = mh;
            for (size_t k = 0; k < g->n_sets; k++) {
                const struct vr_member_health *other = vr_instance_member(g->sets[k].outbounds[i], mh->name);
                if (other && !other->up && shown->up)
                    shown = other;
            }
            json_object *mo = json_object_new_object();
            json_object_object_add(mo, "member", jstr(shown->name));
            json_object_object_add(mo, "up", json_object_new_boolean(shown->up));
            json_object_object_add(mo, "detail", jstr(shown->detail));
            json_object_array_add(members, mo);
        }
        json_object_object_add(o, "members", members);
        json_object_array_add(a, o);
    }
    vr_workers_start(d->workers, d->n_workers);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "generation", jint((int64_t)g->id));
    json_object_object_add(o, "outbounds", a);
    vr_control_send(cl, o);
}

void vr_control_op_log_level(struct vr_control_client *cl, json_object *req)
{
    const char *name = vr_control_str(req, "level");
    int level = name ? vr_log_level_parse(name) : -1;
    if (level < 0) {
        vr_control_fail(cl, "log-level needs \"level\": \"error\", \"warn\", \"info\" or \"debug\"");
        return;
    }
    int old = vr_log_level;
    struct vr_daemon *d = vr_control_daemon(cl);
    vr_workers_stop(d->workers, d->n_workers); /* the workers read it */
    vr_log_level = level;
    vr_workers_start(d->workers, d->n_workers);
    /* Logged at the more verbose of the two levels so the change shows. */
    vr_log_write(level > old ? level : old, "control: log level %s -> %s (until the next reload)", level_name(old),
                 level_name(level));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "level", jstr(level_name(level)));
    json_object_object_add(o, "previous", jstr(level_name(old)));
    vr_control_send(cl, o);
}

void vr_control_op_dns(struct vr_control_client *cl, json_object *req)
{
    (void)req;
    const struct vr_generation *g = vr_control_daemon(cl)->gen;
    json_object *o = vr_dns_stats_json(g->cfg->dns); /* atomics and locked tables: no need to park the workers */
    json_object_object_add(o, "generation", jint((int64_t)g->id));
    vr_control_send(cl, o);
}
