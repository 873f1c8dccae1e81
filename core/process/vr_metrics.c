#include "vr_dns_stats.h"
#include "vr_metrics.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vrouter/vr_abi.h>

#include "vr_addr.h"
#include "vr_conn.h"
#include "vr_fakeip_pool.h"
#include "vr_fakeip_service.h"
#include "vr_generation.h"
#include "vr_log.h"
#include "vr_offload_counters.h"
#include "vr_relay_sockmap.h"
#include "vr_sockmap.h"
#include "vr_udp_listener.h"
#include "vr_worker.h"
#include "vr_worker_thread.h"
#include "vr_xdp.h"

/* ---- exposition: one writer for both formats */

struct expo {
    struct evbuffer *b;
    bool om; /* OpenMetrics 1.0.0: counter families drop _total, info type, # EOF */
};

/* # HELP and # TYPE. name is the sample name of the Prometheus format. */
static void family(struct expo *e, const char *name, const char *type, const char *help)
{
    char fam[128];
    snprintf(fam, sizeof(fam), "%s", name);
    size_t n = strlen(fam);
    if (e->om && strcmp(type, "counter") == 0 && n > 6 && strcmp(fam + n - 6, "_total") == 0)
        fam[n - 6] = '\0';
    if (strcmp(type, "info") == 0) {
        if (e->om && n > 5 && strcmp(fam + n - 5, "_info") == 0)
            fam[n - 5] = '\0';
        else
            type = "gauge"; /* the 0.0.4 format has no info type */
    }
    evbuffer_add_printf(e->b, "# HELP %s %s\n# TYPE %s %s\n", fam, help, fam, type);
}

/* Appends {k="v",...} to buf: pairs of key and value, values escaped. */
static const char *labels(char *buf, size_t size, int pairs, ...)
{
    va_list ap;
    va_start(ap, pairs);
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < pairs && at + 8 < size; i++) {
        const char *k = va_arg(ap, const char *);
        const char *v = va_arg(ap, const char *);
        at += (size_t)snprintf(buf + at, size - at, "%s%s=\"", i ? "," : "{", k);
        for (; *v && at + 4 < size; v++) {
            if (*v == '\\' || *v == '"' || *v == '\n') {
                buf[at++] = '\\';
                buf[at++] = *v == '\n' ? 'n' : *v;
            } else {
                buf[at++] = *v;
            }
        }
        if (at + 2 < size)
            buf[at++] = '"';
        buf[at] = '\0';
    }
    va_end(ap);
    if (pairs > 0 && at + 1 < size) {
        buf[at++] = '}';
        buf[at] = '\0';
    }
    return buf;
}

static void sample_u(struct expo *e, const char *name, const char *lbl, uint64_t v)
{
    evbuffer_add_printf(e->b, "%s%s %" PRIu64 "\n", name, lbl, v);
}

static void sample_d(struct expo *e, const char *name, const char *lbl, double v)
{
    evbuffer_add_printf(e->b, "%s%s %.17g\n", name, lbl, v);
}

/* A histogram in seconds, with one more label key=val (key NULL: none). */
static void histogram(struct expo *e, const char *name, const char *key, const char *val,
                      const struct vr_histogram *h)
{
    char lbl[256], b[160];
    uint64_t cum = 0;
    for (int i = 0; i <= VR_HISTOGRAM_BUCKETS; i++) {
        cum += h->counts[i];
        char le[32];
        if (i < VR_HISTOGRAM_BUCKETS)
            snprintf(le, sizeof(le), "%g", vr_histogram_bounds_ms[i] / 1000.0);
        else
            snprintf(le, sizeof(le), "+Inf");
        snprintf(b, sizeof(b), "%s_bucket", name);
        sample_u(e, b, key ? labels(lbl, sizeof(lbl), 2, key, val, "le", le) : labels(lbl, sizeof(lbl), 1, "le", le),
                 cum);
    }
    const char *l = key ? labels(lbl, sizeof(lbl), 1, key, val) : "";
    snprintf(b, sizeof(b), "%s_sum", name);
    sample_d(e, b, l, (double)h->sum_ms / 1000.0);
    snprintf(b, sizeof(b), "%s_count", name);
    sample_u(e, b, l, h->count);
}

/* ---- the flows of every worker, summed by (listener, outbound) */

struct flow_sum {
    struct vr_flow_slot *slots; /* names borrowed from the workers' tables */
    size_t n;
};

static struct vr_flow_slot *sum_slot(struct flow_sum *fs, const char *listener, const char *outbound)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->slots[i].listener, listener) == 0 && strcmp(fs->slots[i].outbound, outbound) == 0)
            return &fs->slots[i];
    struct vr_flow_slot *s = &fs->slots[fs->n++];
    memset(s, 0, sizeof(*s));
    s->listener = (char *)listener;
    s->outbound = (char *)outbound;
    return s;
}

static int sum_flows(const struct vr_metrics *m, struct flow_sum *fs)
{
    size_t cap = 0;
    for (size_t w = 0; w < m->n_workers; w++)
        cap += m->workers[w].flows.n;
    fs->n = 0;
    fs->slots = calloc(cap + 1, sizeof(*fs->slots));
    if (fs->slots == NULL)
        return -1;
    for (size_t w = 0; w < m->n_workers; w++) {
        const struct vr_worker *wk = &m->workers[w];
        for (uint32_t i = 0; i < wk->flows.n; i++) {
            const struct vr_flow_slot *src = &wk->flows.slots[i];
            struct vr_flow_slot *s = sum_slot(fs, src->listener, src->outbound);
            s->active += src->active;
            for (int k = 0; k < VR_END_N; k++)
                s->ends[k] += src->ends[k];
            s->bytes_up += src->bytes_up;
            s->bytes_down += src->bytes_down;
            vr_histogram_add(&s->connect, &src->connect);
            s->udp_dgrams_up += src->udp_dgrams_up;
            s->udp_dgrams_down += src->udp_dgrams_down;
            s->udp_bytes_up += src->udp_bytes_up;
            s->udp_bytes_down += src->udp_bytes_down;
        }
        /* Open connections' bytes so far: a counter that moves while a
         * transfer runs, and stays put when it closes. */
        for (const struct vr_conn *c = wk->conns; c; c = c->next) {
            if (c->stats_slot < 0)
                continue;
            const struct vr_flow_slot *src = &wk->flows.slots[c->stats_slot];
            struct vr_flow_slot *s = sum_slot(fs, src->listener, src->outbound);
            uint64_t up, down; /* the kernel relay's from its sockets */
            vr_relay_sockmap_bytes(&c->relay, &up, &down);
            s->bytes_up += up;
            s->bytes_down += down;
        }
    }
    return 0;
}

/* fs's slots summed over listeners into *out for each distinct outbound:
 * calls back once per outbound (names are few; quadratic is fine). */
static void by_outbound(struct expo *e, const struct flow_sum *fs, bool skip_none,
                        void (*emit)(struct expo *e, const char *outbound, const struct vr_flow_slot *sum))
{
    for (size_t i = 0; i < fs->n; i++) {
        if (skip_none && strcmp(fs->slots[i].outbound, VR_METRICS_NO_OUTBOUND) == 0)
            continue;
        bool first = true;
        struct vr_flow_slot sum;
        memset(&sum, 0, sizeof(sum));
        for (size_t j = 0; j < fs->n && first; j++) {
            const struct vr_flow_slot *s = &fs->slots[j];
            if (strcmp(s->outbound, fs->slots[i].outbound) != 0)
                continue;
            if (j < i) {
                first = false;
                break;
            }
            sum.bytes_up += s->bytes_up;
            sum.bytes_down += s->bytes_down;
            vr_histogram_add(&sum.connect, &s->connect);
            sum.udp_dgrams_up += s->udp_dgrams_up;
            sum.udp_dgrams_down += s->udp_dgrams_down;
            sum.udp_bytes_up += s->udp_bytes_up;
            sum.udp_bytes_down += s->udp_bytes_down;
        }
        if (first)
            emit(e, fs->slots[i].outbound, &sum);
    }
}

static void emit_bytes(struct expo *e, const char *ob, const struct vr_flow_slot *s)
{
    char l[256];
    sample_u(e, "vrouter_bytes_total", labels(l, sizeof(l), 2, "outbound", ob, "direction", "up"), s->bytes_up);
    sample_u(e, "vrouter_bytes_total", labels(l, sizeof(l), 2, "outbound", ob, "direction", "down"), s->bytes_down);
}

static void emit_connect(struct expo *e, const char *ob, const struct vr_flow_slot *s)
{
    histogram(e, "vrouter_outbound_connect_seconds", "outbound", ob, &s->connect);
}

static void emit_udp_dgrams(struct expo *e, const char *ob, const struct vr_flow_slot *s)
{
    char l[256];
    sample_u(e, "vrouter_udp_datagrams_total", labels(l, sizeof(l), 2, "outbound", ob, "direction", "up"),
             s->udp_dgrams_up);
    sample_u(e, "vrouter_udp_datagrams_total", labels(l, sizeof(l), 2, "outbound", ob, "direction", "down"),
             s->udp_dgrams_down);
}

static void emit_udp_bytes(struct expo *e, const char *ob, const struct vr_flow_slot *s)
{
    char l[256];
    sample_u(e, "vrouter_udp_bytes_total", labels(l, sizeof(l), 2, "outbound", ob, "direction", "up"),
             s->udp_bytes_up);
    sample_u(e, "vrouter_udp_bytes_total", labels(l, sizeof(l), 2, "outbound", ob, "direction", "down"),
             s->udp_bytes_down);
}

static void expose_flows(struct expo *e, const struct flow_sum *fs)
{
    char l[256];
    family(e, "vrouter_connections_active", "gauge", "TCP connections open, by listener and outbound (none: not routed yet)");
    for (size_t i = 0; i < fs->n; i++)
        sample_u(e, "vrouter_connections_active",
                 labels(l, sizeof(l), 2, "listener", fs->slots[i].listener, "outbound", fs->slots[i].outbound),
                 fs->slots[i].active);
    family(e, "vrouter_connections_total", "counter", "TCP connections closed, by listener, outbound and how they ended");
    for (size_t i = 0; i < fs->n; i++)
        for (int k = 0; k < VR_END_N; k++)
            sample_u(e, "vrouter_connections_total",
                     labels(l, sizeof(l), 3, "listener", fs->slots[i].listener, "outbound", fs->slots[i].outbound,
                            "end", vr_end_name((enum vr_end)k)),
                     fs->slots[i].ends[k]);
    family(e, "vrouter_bytes_total", "counter",
           "TCP payload bytes relayed, by outbound and direction (up: client to server, down: server to client)");
    by_outbound(e, fs, false, emit_bytes);
    family(e, "vrouter_outbound_connect_seconds", "histogram",
           "Time from routing to an established outbound connection (successful connects only)");
    by_outbound(e, fs, true, emit_connect);
    family(e, "vrouter_udp_datagrams_total", "counter", "UDP datagrams relayed, by outbound and direction");
    by_outbound(e, fs, true, emit_udp_dgrams);
    family(e, "vrouter_udp_bytes_total", "counter", "UDP payload bytes relayed, by outbound and direction");
    by_outbound(e, fs, true, emit_udp_bytes);
}

/* One sniff family (TCP or UDP), summed over workers by protocol. */
static void expose_sniff_family(struct expo *e, const struct vr_metrics *m, bool udp, const char *name,
                                const char *help)
{
    char l[160];
    struct vr_sniff_slot all[64];
    size_t n = 0;
    uint64_t unknown = 0, timeout = 0, other = 0;
    for (size_t w = 0; w < m->n_workers; w++) {
        const struct vr_sniff_tally *t = udp ? &m->workers[w].flows.udp_sniff : &m->workers[w].flows.sniff;
        unknown += t->unknown;
        timeout += t->timeout;
        other += t->found_other;
        for (uint32_t i = 0; i < t->n; i++) {
            size_t j = 0;
            while (j < n && strcmp(all[j].protocol, t->found[i].protocol) != 0)
                j++;
            if (j == n && n == sizeof(all) / sizeof(all[0])) {
                other += t->found[i].found;
                continue;
            }
            if (j == n)
                all[n++] = (struct vr_sniff_slot){.found = 0};
            memcpy(all[j].protocol, t->found[i].protocol, sizeof(all[j].protocol));
            all[j].found += t->found[i].found;
        }
    }
    family(e, name, "counter", help);
    for (size_t j = 0; j < n; j++)
        sample_u(e, name, labels(l, sizeof(l), 2, "sniffer", all[j].protocol, "result", "found"), all[j].found);
    if (other)
        sample_u(e, name, labels(l, sizeof(l), 2, "sniffer", "other", "result", "found"), other);
    sample_u(e, name, labels(l, sizeof(l), 2, "sniffer", "none", "result", "unknown"), unknown);
    sample_u(e, name, labels(l, sizeof(l), 2, "sniffer", "none", "result", "timeout"), timeout);
}

static void expose_sniff(struct expo *e, const struct vr_metrics *m)
{
    expose_sniff_family(e, m, false, "vrouter_sniff_total",
                        "TCP connections sniffed, by the protocol found (sniffer) and result (found, unknown, timeout)");
    expose_sniff_family(e, m, true, "vrouter_udp_sniff_total",
                        "UDP sessions sniffed, by the protocol found (sniffer) and result (found, unknown, timeout)");
    struct vr_histogram wait = {0};
    for (size_t w = 0; w < m->n_workers; w++)
        vr_histogram_add(&wait, &m->workers[w].flows.sniff_wait);
    family(e, "vrouter_sniff_wait_seconds", "histogram", "Time from accept to the sniffing verdict");
    histogram(e, "vrouter_sniff_wait_seconds", NULL, NULL, &wait);
}

static void expose_udp(struct expo *e, const struct vr_metrics *m)
{
    struct vr_udp_stats t = {0};
    uint64_t active = 0;
    for (size_t w = 0; w < m->n_workers; w++)
        for (const struct vr_udp_listener *u = m->workers[w].udp_listeners; u; u = u->next) {
            active += u->table.n;
            t.dropped += u->stats.dropped;
            t.filtered += u->stats.filtered;
            t.loops += u->stats.loops;
            t.no_origdst += u->stats.no_origdst;
            t.no_fd += u->stats.no_fd;
            t.by_rule += u->stats.by_rule;
            t.evicted += u->stats.evicted + u->stats.evicted_by_client;
        }
    char l[128];
    family(e, "vrouter_udp_sessions_active", "gauge", "UDP sessions open");
    sample_u(e, "vrouter_udp_sessions_active", "", active);
    family(e, "vrouter_udp_dropped_total", "counter", "UDP datagrams dropped, by reason");
    /* no_fd drops are also counted in dropped: send_failed excludes them. */
    sample_u(e, "vrouter_udp_dropped_total", labels(l, sizeof(l), 1, "reason", "send_failed"),
             t.dropped >= t.no_fd + t.by_rule ? t.dropped - t.no_fd - t.by_rule : 0);
    sample_u(e, "vrouter_udp_dropped_total", labels(l, sizeof(l), 1, "reason", "rule"), t.by_rule);
    sample_u(e, "vrouter_udp_dropped_total", labels(l, sizeof(l), 1, "reason", "no_fd"), t.no_fd);
    sample_u(e, "vrouter_udp_dropped_total", labels(l, sizeof(l), 1, "reason", "filtered"), t.filtered);
    sample_u(e, "vrouter_udp_dropped_total", labels(l, sizeof(l), 1, "reason", "loop"), t.loops);
    sample_u(e, "vrouter_udp_dropped_total", labels(l, sizeof(l), 1, "reason", "no_origdst"), t.no_origdst);
    family(e, "vrouter_udp_sessions_evicted_total", "counter",
           "UDP sessions closed early to make room (max_sessions, max_sessions_per_client)");
    sample_u(e, "vrouter_udp_sessions_evicted_total", "", t.evicted);
}

struct module_values {
    struct expo *e;
    const char *outbound;
};

static void module_value(const char *name, int64_t sum, void *arg)
{
    struct module_values *mv = arg;
    char l[256];
    sample_d(mv->e, "vrouter_module_value", labels(l, sizeof(l), 2, "outbound", mv->outbound, "counter", name),
             (double)sum);
}

static void expose_generation(struct expo *e, const struct vr_metrics *m)
{
    const struct vr_generation *g = *m->active;
    char l[256], idx[24];
    family(e, "vrouter_rule_hits_total", "counter",
           "Flows (TCP connections and UDP routes) routed by each rule of the active generation, by rule number "
           "(as in the log's rule #N; final: no rule matched); starts at 0 with each reload");
    for (size_t i = 0; i <= g->cfg->rules.n; i++) {
        snprintf(idx, sizeof(idx), "%zu", i + 1);
        sample_u(e, "vrouter_rule_hits_total", labels(l, sizeof(l), 1, "rule", i < g->cfg->rules.n ? idx : "final"),
                 vr_generation_rule_hits(g, i));
    }
    /* One instance per worker and outbound: up when every worker's is;
     * module counters summed over them. */
    family(e, "vrouter_outbound_up", "gauge", "1 if the outbound instance reports itself healthy, else 0");
    for (size_t i = 0; i < g->cfg->n_outbounds; i++) {
        const struct vr_instance *inst = g->sets[0].outbounds[i];
        if (inst == NULL)
            continue;
        bool up = true;
        for (size_t k = 0; k < g->n_sets; k++)
            if (g->sets[k].outbounds[i] && !g->sets[k].outbounds[i]->healthy)
                up = false;
        sample_u(e, "vrouter_outbound_up", labels(l, sizeof(l), 2, "outbound", inst->tag, "member", ""), up ? 1 : 0);
        /* A composite's members as it reports them (host->member_health). */
        for (const struct vr_member_health *mh = inst->members; mh; mh = mh->next) {
            bool mup = true;
            for (size_t k = 0; k < g->n_sets; k++) {
                const struct vr_member_health *o = vr_instance_member(g->sets[k].outbounds[i], mh->name);
                if (o && !o->up)
                    mup = false;
            }
            sample_u(e, "vrouter_outbound_up", labels(l, sizeof(l), 2, "outbound", inst->tag, "member", mh->name),
                     mup ? 1 : 0);
        }
    }
    family(e, "vrouter_module_value", "gauge", "Counters an outbound module keeps (vr_host counters), by name");
    for (size_t i = 0; i < g->cfg->n_outbounds; i++) {
        struct module_values mv = {e, g->cfg->outbounds[i].tag};
        vr_generation_outbound_counters(g, i, module_value, &mv);
    }
    size_t alive = 0;
    for (const struct vr_generation *lg = vr_generation_live(); lg; lg = lg->live_next)
        if (lg == g || lg->retired_ms != 0)
            alive++; /* not a reload still building one */
    family(e, "vrouter_generations_alive", "gauge", "Config generations alive: the active one and retired ones still held");
    sample_u(e, "vrouter_generations_alive", "", alive);
    struct vr_xdp_counts xc;
    if (vr_xdp_counts(&xc)) {
        family(e, "vrouter_xdp_packets_total", "counter",
               "Packets seen by the XDP source allow-list, by verdict (passed: allowed source; dropped: any other; "
               "unchecked: not IP or IPv6 neighbour discovery)");
        sample_u(e, "vrouter_xdp_packets_total", labels(l, sizeof(l), 1, "verdict", "passed"), xc.passed);
        sample_u(e, "vrouter_xdp_packets_total", labels(l, sizeof(l), 1, "verdict", "dropped"), xc.dropped);
        sample_u(e, "vrouter_xdp_packets_total", labels(l, sizeof(l), 1, "verdict", "unchecked"), xc.other);
    }
    family(e, "vrouter_reloads_total", "counter", "Config reloads (SIGHUP), by result");
    sample_u(e, "vrouter_reloads_total", labels(l, sizeof(l), 1, "result", "success"), m->reloads_ok);
    sample_u(e, "vrouter_reloads_total", labels(l, sizeof(l), 1, "result", "failure"), m->reloads_failed);
    family(e, "vrouter_config_last_reload_success_timestamp_seconds", "gauge",
           "Unix time of the last successful config load (start or reload)");
    sample_d(e, "vrouter_config_last_reload_success_timestamp_seconds", "", m->last_reload_ok_s);
}

/* The resolver's counters (core/dns/vr_dns_stats.h): atomics, read as they are. */
static void expose_dns(struct expo *e, const struct vr_metrics *m)
{
    const struct vr_dns_config *d = (*m->active)->cfg->dns;
    if (d == NULL)
        return;
    struct vr_dns_totals t;
    vr_dns_stats_totals(d, &t);
    char l[256];
    family(e, "vrouter_dns_queries_total", "counter", "DNS queries to the resolver, by how they were answered");
    sample_u(e, "vrouter_dns_queries_total", labels(l, sizeof(l), 1, "answer", "rule"), t.local);
    sample_u(e, "vrouter_dns_queries_total", labels(l, sizeof(l), 1, "answer", "cache"), t.cached);
    sample_u(e, "vrouter_dns_queries_total", labels(l, sizeof(l), 1, "answer", "upstream"), t.forwarded);
    sample_u(e, "vrouter_dns_queries_total", labels(l, sizeof(l), 1, "answer", "coalesced"), t.coalesced);
    sample_u(e, "vrouter_dns_queries_total", labels(l, sizeof(l), 1, "answer", "rate_limited"), t.rate_limited);
    sample_u(e, "vrouter_dns_queries_total", labels(l, sizeof(l), 1, "answer", "formerr"), t.formerr);
    family(e, "vrouter_dns_cache_lookups_total", "counter", "DNS cache lookups, by result");
    sample_u(e, "vrouter_dns_cache_lookups_total", labels(l, sizeof(l), 1, "result", "hit"), t.cache_hits);
    sample_u(e, "vrouter_dns_cache_lookups_total", labels(l, sizeof(l), 1, "result", "miss"), t.cache_misses);
    family(e, "vrouter_dns_cache_entries", "gauge", "Answers in the DNS cache");
    sample_u(e, "vrouter_dns_cache_entries", "", t.cache_entries);
    family(e, "vrouter_dns_upstream_total", "counter", "DNS upstream exchanges, by upstream and event");
    for (size_t i = 0; i < d->n_upstreams; i++) {
        const struct vr_dns_upstream *u = &d->upstreams[i];
        const struct {
            const char *what;
            uint64_t v;
        } ev[] = {{"query", atomic_load(&u->stats.queries)},       {"answer", atomic_load(&u->stats.answers)},
                  {"timeout", atomic_load(&u->stats.timeouts)},    {"error", atomic_load(&u->stats.errors)},
                  {"tcp_retry", atomic_load(&u->stats.tcp_retries)}, {"failover", atomic_load(&u->stats.failovers)}};
        for (size_t k = 0; k < sizeof(ev) / sizeof(ev[0]); k++)
            sample_u(e, "vrouter_dns_upstream_total", labels(l, sizeof(l), 2, "upstream", u->tag, "event", ev[k].what),
                     ev[k].v);
    }
}

/* ---- process_*: from /proc, as the Prometheus client libraries do */

static void expose_process(struct expo *e)
{
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    unsigned long long utime = 0, stime = 0, start = 0, btime = 0;
    long rss = 0;
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        /* After the command name (which may hold spaces): field 3 on. */
        const char *p = strrchr(buf, ')');
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu "
                               "%*u %ld",
                        &utime, &stime, &start, &rss) != 4)
            utime = stime = start = 0, rss = 0;
    }
    f = fopen("/proc/stat", "r");
    while (f && fgets(buf, sizeof(buf), f))
        if (sscanf(buf, "btime %llu", &btime) == 1)
            break;
    if (f)
        fclose(f);
    uint64_t fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *de; (de = readdir(d));)
            if (de->d_name[0] != '.')
                fds++;
        fds--; /* the directory's own */
        closedir(d);
    }
    struct rlimit rl = {0, 0};
    getrlimit(RLIMIT_NOFILE, &rl);
    family(e, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    sample_d(e, "process_cpu_seconds_total", "", tck > 0 ? (double)(utime + stime) / (double)tck : 0.0);
    family(e, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    sample_u(e, "process_resident_memory_bytes", "", (uint64_t)rss * (uint64_t)page);
    family(e, "process_open_fds", "gauge", "Number of open file descriptors.");
    sample_u(e, "process_open_fds", "", fds);
    family(e, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    sample_u(e, "process_max_fds", "", rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur);
    family(e, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
    sample_d(e, "process_start_time_seconds", "", tck > 0 ? (double)btime + (double)start / (double)tck : 0.0);
}

/* The FakeIP pool (docs/FAKEIP.md), while the daemon has one. */
static void expose_fakeip(struct expo *e)
{
    struct vr_fakeip_pool *pool = vr_fakeip_active();
    if (pool == NULL)
        return;
    struct vr_fakeip_stats st;
    vr_fakeip_get_stats(pool, &st);
    char l[64];
    family(e, "vrouter_fakeip_mappings", "gauge", "FakeIP names holding an address, by family");
    sample_u(e, "vrouter_fakeip_mappings", labels(l, sizeof(l), 1, "family", "ipv4"), st.mappings4);
    sample_u(e, "vrouter_fakeip_mappings", labels(l, sizeof(l), 1, "family", "ipv6"), st.mappings6);
    family(e, "vrouter_fakeip_capacity", "gauge", "FakeIP addresses the pool may hand out, by family");
    sample_u(e, "vrouter_fakeip_capacity", labels(l, sizeof(l), 1, "family", "ipv4"), st.capacity4);
    sample_u(e, "vrouter_fakeip_capacity", labels(l, sizeof(l), 1, "family", "ipv6"), st.capacity6);
    family(e, "vrouter_fakeip_assigned_total", "counter", "FakeIP mappings made (recycled ones included)");
    sample_u(e, "vrouter_fakeip_assigned_total", "", st.assigned);
    family(e, "vrouter_fakeip_recycled_total", "counter", "FakeIP mappings that took the least recently used address");
    sample_u(e, "vrouter_fakeip_recycled_total", "", st.recycled);
    family(e, "vrouter_fakeip_lookups_total", "counter",
           "Flows to a FakeIP address, by result: hit (routed by the name) or gone (refused)");
    sample_u(e, "vrouter_fakeip_lookups_total", labels(l, sizeof(l), 1, "result", "hit"), st.lookups_hit);
    sample_u(e, "vrouter_fakeip_lookups_total", labels(l, sizeof(l), 1, "result", "gone"), st.lookups_gone);
}

/* The kernel fast path's nft counters per rule (read with the workers
 * running: an nft dump per installer). Absent without a fast path chain. */
static void expose_offload(struct expo *e, const struct vr_generation *g)
{
    size_t n = g->cfg->rules.n + 1;
    struct vr_rule_offload_count *c = calloc(n, sizeof(*c));
    if (c == NULL || !vr_offload_counters(g, c)) {
        free(c);
        return;
    }
    const char *names[2] = {"vrouter_rule_offloaded_packets_total", "vrouter_rule_offloaded_bytes_total"};
    for (int k = 0; k < 2; k++) {
        family(e, names[k], "counter",
               k == 0 ? "Packets the kernel fast path forwarded, rejected or dropped by each rule (nft counters: "
                        "every packet of a UDP flow, the first packet of a TCP connection); restarts with each reload"
                      : "Bytes of those packets");
        char l[256], idx[24];
        for (size_t i = 0; i < n; i++) {
            snprintf(idx, sizeof(idx), "%zu", i + 1);
            sample_u(e, names[k], labels(l, sizeof(l), 1, "rule", i + 1 < n ? idx : "final"),
                     k == 0 ? c[i].packets : c[i].bytes);
        }
    }
    free(c);
}

/* The sockmap relay's per-CPU counters (vr_sockmap.h), summed over CPUs:
 * what the kernel relayed, live, per listener and per outbound. */
struct sockmap_pass {
    struct expo *e;
    bool packets;
};

static void sockmap_sample(bool is_outbound, const char *tag, const struct vr_sockmap_totals *t, void *arg)
{
    const struct sockmap_pass *p = arg;
    const char *name = p->packets ? "vrouter_sockmap_packets_total" : "vrouter_sockmap_bytes_total";
    const char *kind = is_outbound ? "outbound" : "listener";
    char l[256];
    sample_u(p->e, name, labels(l, sizeof(l), 2, kind, tag, "direction", "up"),
             p->packets ? t->up_packets : t->up_bytes);
    sample_u(p->e, name, labels(l, sizeof(l), 2, kind, tag, "direction", "down"),
             p->packets ? t->down_packets : t->down_bytes);
}

static void expose_sockmap(struct expo *e)
{
    struct vr_sockmap *sm = vr_sockmap_loaded();
    if (sm == NULL)
        return;
    struct sockmap_pass p = {e, false};
    family(e, "vrouter_sockmap_bytes_total", "counter",
           "Bytes the kernel relayed (daemon.relay = sockmap), per listener or outbound");
    vr_sockmap_counters_each(sm, sockmap_sample, &p);
    p.packets = true;
    family(e, "vrouter_sockmap_packets_total", "counter",
           "Segments the kernel relayed (daemon.relay = sockmap), per listener or outbound");
    vr_sockmap_counters_each(sm, sockmap_sample, &p);
}

static void expose(struct expo *e, const struct vr_metrics *m)
{
    char l[128], abi[16];
    snprintf(abi, sizeof(abi), "%d.%d", VR_ABI_MAJOR, VR_ABI_MINOR);
    family(e, "vrouter_build_info", "info", "vrouterd's version and plugin ABI");
    sample_u(e, "vrouter_build_info", labels(l, sizeof(l), 2, "version", VR_VERSION, "abi", abi), 1);
    /* What the workers count is read with them parked: a short pause of the
     * data path, once per scrape. The process's own figures come after. */
    vr_workers_stop(m->workers, m->n_workers);
    struct flow_sum fs;
    if (sum_flows(m, &fs) == 0) {
        expose_flows(e, &fs);
        free(fs.slots);
    }
    expose_sniff(e, m);
    expose_udp(e, m);
    expose_generation(e, m);
    expose_dns(e, m);
    vr_workers_start(m->workers, m->n_workers);
    expose_fakeip(e);
    expose_offload(e, *m->active);
    expose_sockmap(e); /* kernel maps: no need to park the workers */
    expose_process(e);
    if (e->om)
        evbuffer_add_printf(e->b, "# EOF\n");
}

/* ---- HTTP */

static bool wants_openmetrics(struct evhttp_request *req)
{
    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
    return accept && strstr(accept, "application/openmetrics-text") != NULL;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct vr_metrics *m = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (path == NULL || strcmp(path, "/metrics") != 0 || (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)) {
        evhttp_send_error(req, HTTP_NOTFOUND, "only GET /metrics is served here");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (b == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    struct expo e = {b, wants_openmetrics(req)};
    expose(&e, m);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      e.om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                           : "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, HTTP_OK, "OK", b);
    evbuffer_free(b);
}

static void server_close(struct vr_metrics_server *s)
{
    if (s->http)
        evhttp_free(s->http); /* closes its bound socket */
    memset(s, 0, sizeof(*s));
}

/* Our own socket, so that a bind failure says why (evhttp_bind_socket
 * does not). */
static int server_open(struct vr_metrics *m, struct vr_metrics_server *s, const struct vr_daemon_cfg *cfg,
                       struct vr_errors *errs)
{
    const struct sockaddr *sa = (const struct sockaddr *)&cfg->metrics.addr;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, sa, cfg->metrics.addrlen) < 0 || listen(fd, 64) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        vr_errors_at(errs, cfg->metrics.file, cfg->metrics.line,
                     "daemon.metrics: cannot listen on %s port %u: %s (choose a free address and port, or remove "
                     "daemon.metrics)",
                     cfg->metrics.address, cfg->metrics.port, strerror(err));
        return -err;
    }
    s->http = evhttp_new(m->base);
    if (s->http == NULL || evhttp_accept_socket_with_handle(s->http, fd) == NULL) {
        close(fd);
        server_close(s);
        vr_errors_at(errs, cfg->metrics.file, cfg->metrics.line, "daemon.metrics: out of memory");
        return -ENOMEM;
    }
    evhttp_set_timeout(s->http, 10);
    evhttp_set_gencb(s->http, on_request, m);
    memcpy(&s->addr, &cfg->metrics.addr, sizeof(s->addr));
    s->addrlen = cfg->metrics.addrlen;
    return 0;
}

void vr_metrics_init(struct vr_metrics *m, struct event_base *base, struct vr_worker *workers, size_t n_workers,
                     struct vr_generation *const *active)
{
    memset(m, 0, sizeof(*m));
    m->base = base;
    m->workers = workers;
    m->n_workers = n_workers;
    m->active = active;
}

static bool same_endpoint(const struct vr_metrics_server *s, const struct vr_daemon_cfg *cfg)
{
    return s->http != NULL && cfg->metrics.enabled &&
           vr_sockaddr_equal((const struct sockaddr *)&s->addr, (const struct sockaddr *)&cfg->metrics.addr);
}

int vr_metrics_prepare(struct vr_metrics *m, const struct vr_daemon_cfg *cfg, struct vr_errors *errs)
{
    server_close(&m->next);
    if (!cfg->metrics.enabled || same_endpoint(&m->cur, cfg))
        return 0;
    return server_open(m, &m->next, cfg, errs);
}

void vr_metrics_commit(struct vr_metrics *m, const struct vr_daemon_cfg *cfg)
{
    if (m->next.http) {
        server_close(&m->cur);
        m->cur = m->next;
        memset(&m->next, 0, sizeof(m->next));
        vr_info("metrics: serving http://%s%s%s:%u/metrics", strchr(cfg->metrics.address, ':') ? "[" : "",
                cfg->metrics.address, strchr(cfg->metrics.address, ':') ? "]" : "", cfg->metrics.port);
    } else if (!cfg->metrics.enabled && m->cur.http) {
        server_close(&m->cur);
        vr_info("metrics: endpoint closed (daemon.metrics removed)");
    }
}

void vr_metrics_abort(struct vr_metrics *m) { server_close(&m->next); }

void vr_metrics_loaded(struct vr_metrics *m, bool reload, bool ok)
{
    struct timespec ts;
    if (!ok) {
        m->reloads_failed += reload;
        return;
    }
    m->reloads_ok += reload;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->last_reload_ok_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void vr_metrics_fini(struct vr_metrics *m)
{
    server_close(&m->cur);
    server_close(&m->next);
}
