#include "vr_dns_resolver.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/event.h>

#include "vr_addr.h"
#include "vr_dns_cache.h"
#include "vr_dns_config.h"
#include "vr_dns_exchange.h"
#include "vr_dns_fake_answer.h"
#include "vr_dns_ratelimit.h"
#include "vr_generation.h"
#include "vr_log.h"
#include "vr_watch.h"

#define DOWN_MS 5000
/* Queries for the same question waiting behind one upstream query (per
 * worker): a burst of clients asking one uncached name costs one exchange. */
#define INFLIGHT_BUCKETS 256
#define MAX_FOLLOWERS 64

struct vr_dns_resolver {
    struct vr_gen_set *set;
    struct vr_dns_config *d;
    SSL_CTX *tls[VR_DNS_MAX_UPSTREAMS]; /* made on first use per upstream */
    struct vr_dns_job *jobs;
    uint64_t rng;
    /* An upstream that timed out or failed at the network level is asked
     * after the others of a list until then (this worker's view): a dead
     * first upstream costs its timeout once per DOWN_MS, not per query. */
    uint64_t down_until_ms[VR_DNS_MAX_UPSTREAMS];
    struct vr_dns_job *inflight[INFLIGHT_BUCKETS]; /* leaders, by their cache key's hash */
    bool closing;
};


struct vr_dns_job {
    struct vr_dns_resolver *r;
    struct vr_dns_job *prev, *next;
    uint8_t *msg; /* the client's query; its id is rewritten per attempt */
    size_t len;
    uint16_t client_id;
    struct vr_dns_query q;
    struct sockaddr_storage client;
    bool has_client;
    enum vr_dns_via via;
    const char *rule; /* for the log */
    const int *ups; /* the rule's list (its first is the cache key's) */
    size_t n_ups;
    int order[VR_DNS_MAX_FAILOVER]; /* the list as asked: upstreams marked down last */
    uint32_t attempt, max_attempts;
    bool over_tcp; /* the upstream answered TC: ask it again over TCP */
    struct vr_dns_exchange *x;
    struct event *kick; /* the first attempt starts from the loop: no callback inside the call */
    uint8_t *local;     /* host->resolve: a rule's fixed answer, delivered by the kick */
    size_t local_len;
    /* Coalescing: a leader asks the upstreams and sits in r->inflight; its
     * followers wait for its answer. */
    bool in_flight_table;
    uint64_t key_hash;
    struct vr_dns_job *bucket_next;
    struct vr_dns_job *leader;              /* a follower's */
    struct vr_dns_job *followers;           /* a leader's */
    struct vr_dns_job *fprev, *fnext;
    size_t n_followers;
    uint64_t start_ms;
    vr_dns_answer_cb cb;
    vr_dns_name_cb name_cb;
    void *arg;
};

static uint16_t next_id(struct vr_dns_resolver *r)
{
    /* xorshift64*, seeded from getrandom: ids an off-path attacker cannot
     * guess, with the random source port of each association (RFC 5452). */
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return (uint16_t)((r->rng * 2685821657736338717ull) >> 48);
}

struct vr_dns_resolver *vr_dns_resolver_new(struct vr_gen_set *set)
{
    struct vr_dns_resolver *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->set = set;
    r->d = set->gen->cfg->dns;
    if (getrandom(&r->rng, sizeof(r->rng), 0) != (ssize_t)sizeof(r->rng) || r->rng == 0)
        r->rng = vr_now_ms() | 1;
    return r;
}

static void job_unlink(struct vr_dns_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        j->r->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
}

static void inflight_remove(struct vr_dns_job *j)
{
    if (!j->in_flight_table)
        return;
    struct vr_dns_job **p = &j->r->inflight[j->key_hash % INFLIGHT_BUCKETS];
    while (*p && *p != j)
        p = &(*p)->bucket_next;
    if (*p)
        *p = j->bucket_next;
    j->in_flight_table = false;
}

static void inflight_add(struct vr_dns_job *j)
{
    struct vr_dns_job **b = &j->r->inflight[j->key_hash % INFLIGHT_BUCKETS];
    j->bucket_next = *b;
    *b = j;
    j->in_flight_table = true;
}

static void follower_unlink(struct vr_dns_job *f)
{
    struct vr_dns_job *l = f->leader;
    if (f->fprev)
        f->fprev->fnext = f->fnext;
    else
        l->followers = f->fnext;
    if (f->fnext)
        f->fnext->fprev = f->fprev;
    l->n_followers--;
    f->leader = NULL;
    f->fprev = f->fnext = NULL;
}

static void job_free(struct vr_dns_job *j)
{
    if (j->leader)
        follower_unlink(j);
    inflight_remove(j);
    if (j->followers) {
        /* A leader whose client went away: its first follower asks instead. */
        struct vr_dns_job *n = j->followers;
        follower_unlink(n);
        while (j->followers) {
            struct vr_dns_job *f = j->followers;
            follower_unlink(f);
            f->leader = n;
            f->fnext = n->followers;
            if (n->followers)
                n->followers->fprev = f;
            n->followers = f;
            n->n_followers++;
        }
        if (!j->r->closing) {
            inflight_add(n);
            event_active(n->kick, EV_TIMEOUT, 1);
        }
    }
    job_unlink(j);
    vr_dns_exchange_cancel(j->x);
    if (j->kick)
        event_free(j->kick);
    free(j->local);
    free(j->msg);
    free(j);
}

void vr_dns_job_cancel(struct vr_dns_job *job)
{
    if (job)
        job_free(job);
}

void vr_dns_resolver_free(struct vr_dns_resolver *r)
{
    if (r == NULL)
        return;
    r->closing = true;
    while (r->jobs) {
        struct vr_dns_job *j = r->jobs;
        vr_dns_answer_cb cb = j->cb;
        vr_dns_name_cb name_cb = j->name_cb;
        void *arg = j->arg;
        struct vr_dns_query q = j->q;
        job_free(j);
        if (cb)
            cb(arg, NULL, 0);
        else if (name_cb)
            name_cb(arg, -ECANCELED, NULL, 0, &q);
    }
    for (size_t i = 0; i < VR_DNS_MAX_UPSTREAMS; i++)
        vr_dns_tls_ctx_free(r->tls[i]);
    free(r);
}

/* ---- the log line and the answer's last touches */

static void log_query(struct vr_dns_resolver *r, const struct sockaddr *client, const struct vr_dns_query *q,
                      const char *rule, const char *source, int rcode, uint64_t start_ms)
{
    (void)r;
    if (vr_log_level < VR_LOG_DEBUG)
        return;
    char cbuf[64] = "-", tbuf[16];
    if (client)
        vr_sockaddr_str(client, cbuf, sizeof(cbuf));
    vr_debug("dns: %s %s %s rule=%s from=%s %s %" PRIu64 "ms", cbuf, q->name[0] ? q->name : ".",
             vr_dns_type_name(q->qtype, tbuf, sizeof(tbuf)), rule, source, vr_dns_rcode_name(rcode),
             vr_now_ms() - start_ms);
}

/* The client's id back, and a UDP answer cut to the client's buffer. */
static size_t fit(uint8_t *out, size_t len, const struct vr_dns_query *q, enum vr_dns_via via)
{
    vr_dns_put16(out, q->id);
    if (via == VR_DNS_VIA_UDP && len > q->udp_size)
        len = vr_dns_truncate(out, len, q);
    return len;
}

/* ---- upstream attempts */

static void attempt(struct vr_dns_job *j);

/* A follower's answer: the leader's response with the follower's id and
 * spelling of the name, fitted to its transport; or its own SERVFAIL. */
struct follower_answer {
    vr_dns_answer_cb cb;
    void *arg;
    uint8_t *out;
    size_t len;
};

static size_t fit(uint8_t *out, size_t len, const struct vr_dns_query *q, enum vr_dns_via via);
static void log_query(struct vr_dns_resolver *r, const struct sockaddr *client, const struct vr_dns_query *q,
                      const char *rule, const char *source, int rcode, uint64_t start_ms);

static size_t take_followers(struct vr_dns_job *j, const uint8_t *msg, size_t len, int rcode,
                             struct follower_answer *fa)
{
    size_t n = 0;
    while (j->followers) {
        struct vr_dns_job *f = j->followers;
        follower_unlink(f);
        struct follower_answer *a = &fa[n++];
        a->cb = f->cb;
        a->arg = f->arg;
        a->out = malloc(msg ? len : VR_DNS_HEADER + 260 + 11);
        a->len = 0;
        if (a->out && msg) {
            memcpy(a->out, msg, len);
            if (f->q.question_end <= len)
                memcpy(a->out + VR_DNS_HEADER, f->msg + VR_DNS_HEADER, f->q.question_end - VR_DNS_HEADER);
            a->len = fit(a->out, len, &f->q, f->via);
        } else if (a->out)
            a->len = vr_dns_build_answer(f->msg, &f->q, VR_DNS_SERVFAIL, NULL, 0, 0, 0, a->out, VR_DNS_HEADER + 260 + 11);
        log_query(f->r, f->has_client ? (const struct sockaddr *)&f->client : NULL, &f->q, f->rule, "coalesced",
                  msg ? rcode : VR_DNS_SERVFAIL, f->start_ms);
        job_free(f);
    }
    return n;
}

static void job_end(struct vr_dns_job *j, const uint8_t *msg, size_t len, int rcode, const char *source)
{
    struct vr_dns_resolver *r = j->r;
    struct follower_answer fa[MAX_FOLLOWERS];
    size_t n_fa = take_followers(j, msg, len, rcode, fa);
    log_query(r, j->has_client ? (const struct sockaddr *)&j->client : NULL, &j->q, j->rule, source, rcode,
              j->start_ms);
    j->x = NULL;
    vr_dns_answer_cb cb = j->cb;
    vr_dns_name_cb name_cb = j->name_cb;
    void *arg = j->arg;
    struct vr_dns_query q = j->q;
    enum vr_dns_via via = j->via;
    uint8_t *client_msg = j->msg;
    j->msg = NULL;
    job_free(j);
    if (name_cb) {
        name_cb(arg, msg ? 0 : -ETIMEDOUT, msg, len, &q);
    } else if (msg) {
        uint8_t *out = malloc(len);
        if (out) {
            memcpy(out, msg, len);
            len = fit(out, len, &q, via);
            cb(arg, out, len);
            free(out);
        } else
            cb(arg, NULL, 0);
    } else {
        uint8_t out[VR_DNS_HEADER + 260 + 11];
        size_t n = vr_dns_build_answer(client_msg, &q, VR_DNS_SERVFAIL, NULL, 0, 0, 0, out, sizeof(out));
        cb(arg, n ? out : NULL, n);
    }
    free(client_msg);
    /* The followers' jobs are gone already: their callbacks see no job of theirs. */
    for (size_t i = 0; i < n_fa; i++) {
        fa[i].cb(fa[i].arg, fa[i].len ? fa[i].out : NULL, fa[i].len);
        free(fa[i].out);
    }
}

/* How long a response may be cached (RFC 2308 for negative ones). */
static uint32_t cache_ttl(const struct vr_dns_response_info *info)
{
    if (info->truncated)
        return 0;
    if (info->rcode == VR_DNS_NOERROR && info->ancount > 0)
        return info->min_ttl == UINT32_MAX ? 0 : info->min_ttl;
    if (info->rcode == VR_DNS_NXDOMAIN || (info->rcode == VR_DNS_NOERROR && info->ancount == 0))
        return info->has_soa ? info->negative_ttl : 0;
    return 0;
}

static void cache_key(const struct vr_dns_job *j, struct vr_dns_cache_key *k)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->name, j->q.name, sizeof(k->name));
    k->qtype = j->q.qtype;
    k->qclass = j->q.qclass;
    k->do_bit = j->q.do_bit;
    k->upstream = j->ups[0];
}

static void on_exchange(void *arg, int err, const char *why, const uint8_t *msg, size_t len)
{
    struct vr_dns_job *j = arg;
    struct vr_dns_resolver *r = j->r;
    int idx = j->order[j->attempt % j->n_ups];
    const struct vr_dns_upstream *up = &r->d->upstreams[idx];
    struct vr_dns_upstream_stats *st = (struct vr_dns_upstream_stats *)&up->stats;
    j->x = NULL;
    if (err < 0) {
        r->down_until_ms[idx] = vr_now_ms() + DOWN_MS;
        atomic_fetch_add(err == -ETIMEDOUT ? &st->timeouts : &st->errors, 1);
        char tbuf[16];
        vr_debug("dns: %s %s rule=%s: upstream %s (%s%s): %s", j->q.name[0] ? j->q.name : ".",
                 vr_dns_type_name(j->q.qtype, tbuf, sizeof(tbuf)), j->rule, up->tag, up->address,
                 j->over_tcp ? ", over TCP after TC" : "", why ? why : strerror(-err));
        j->attempt++;
        j->over_tcp = false;
        attempt(j);
        return;
    }
    struct vr_dns_response_info info;
    if (vr_dns_parse_response(msg, len, &j->q, &info) < 0) { /* checked by the exchange; cannot happen */
        j->attempt++;
        attempt(j);
        return;
    }
    if (info.truncated && !j->over_tcp && up->transport == VR_DNS_UDP) {
        atomic_fetch_add(&st->tcp_retries, 1);
        j->over_tcp = true;
        attempt(j);
        return;
    }
    if ((info.rcode == VR_DNS_SERVFAIL || info.rcode == VR_DNS_REFUSED) && j->attempt + 1 < j->max_attempts) {
        atomic_fetch_add(&st->errors, 1);
        j->attempt++;
        j->over_tcp = false;
        attempt(j);
        return;
    }
    atomic_fetch_add(&st->answers, 1);
    r->down_until_ms[idx] = 0;
    struct vr_dns_cache_key k;
    cache_key(j, &k);
    if (r->d->cache)
        vr_dns_cache_put(r->d->cache, &k, msg, len, cache_ttl(&info), vr_now_ms());
    char source[96];
    snprintf(source, sizeof(source), "%s%s", up->tag, j->over_tcp ? "/tcp" : "");
    job_end(j, msg, len, info.rcode, source);
}

static SSL_CTX *tls_ctx(struct vr_dns_resolver *r, int idx)
{
    if (r->tls[idx] == NULL) {
        char err[256];
        const struct vr_dns_upstream *up = &r->d->upstreams[idx];
        r->tls[idx] = vr_dns_tls_ctx_new(up->tls_ca, err, sizeof(err));
        if (r->tls[idx] == NULL)
            vr_warn("dns: upstream %s (%s:%d): %s", up->tag, up->file, up->line, err);
    }
    return r->tls[idx];
}

static void attempt(struct vr_dns_job *j)
{
    struct vr_dns_resolver *r = j->r;
    while (j->attempt < j->max_attempts) {
        int idx = j->order[j->attempt % j->n_ups];
        const struct vr_dns_upstream *up = &r->d->upstreams[idx];
        struct vr_dns_upstream_stats *st = (struct vr_dns_upstream_stats *)&up->stats;
        if (j->attempt > 0 && j->n_ups > 1 && !j->over_tcp)
            atomic_fetch_add(&st->failovers, 1);
        atomic_fetch_add(&st->queries, 1);
        vr_dns_put16(j->msg, next_id(r));
        struct vr_dns_exchange_req req = {
            .base = r->set->base,
            .outbound = vr_gen_set_outbound(r->set, up->outbound, NULL, NULL),
            .up = up,
            .transport = j->over_tcp && up->transport == VR_DNS_UDP ? VR_DNS_TCP : up->transport,
            .tls = up->transport == VR_DNS_TLS ? tls_ctx(r, idx) : NULL,
            .q = &j->q,
            .msg = j->msg,
            .len = j->len,
            .client = j->has_client ? (const struct sockaddr *)&j->client : NULL,
        };
        int err = -ENOENT;
        if (req.outbound)
            j->x = vr_dns_exchange_start(&req, on_exchange, j, &err);
        if (j->x)
            return;
        atomic_fetch_add(&st->errors, 1);
        r->down_until_ms[idx] = vr_now_ms() + DOWN_MS;
        vr_debug("dns: %s: upstream %s: cannot ask: %s", j->q.name, up->tag, strerror(-err));
        j->attempt++;
        j->over_tcp = false;
    }
    atomic_fetch_add(&r->d->totals.servfail, 1);
    job_end(j, NULL, 0, VR_DNS_SERVFAIL, "all upstreams failed");
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_dns_job *j = arg;
    if (j->local) {
        uint8_t *m = j->local;
        j->local = NULL;
        job_end(j, m, j->local_len, VR_DNS_NOERROR, "local");
        free(m);
        return;
    }
    struct vr_dns_config *d = j->r->d;
    if (j->name_cb && d->cache) { /* host->resolve: the cache first (client queries looked already) */
        struct vr_dns_cache_key k;
        cache_key(j, &k);
        uint8_t *m = malloc(VR_DNS_MAX_MSG);
        size_t n = m ? vr_dns_cache_get(d->cache, &k, vr_now_ms(), m, VR_DNS_MAX_MSG) : 0;
        if (n > 0) {
            job_end(j, m, n, VR_DNS_RCODE(vr_dns_get16(m + 2)), "cache");
            free(m);
            return;
        }
        free(m);
    }
    attempt(j);
}

static struct vr_dns_job *job_new(struct vr_dns_resolver *r, const uint8_t *msg, size_t len,
                                  const struct vr_dns_query *q, const struct sockaddr *client)
{
    struct vr_dns_job *j = calloc(1, sizeof(*j));
    if (j == NULL || (j->msg = malloc(len)) == NULL) {
        free(j);
        return NULL;
    }
    j->kick = event_new(r->set->base, -1, 0, on_kick, j);
    if (j->kick == NULL) {
        free(j->msg);
        free(j);
        return NULL;
    }
    memcpy(j->msg, msg, len);
    j->len = len;
    j->r = r;
    j->q = *q;
    j->client_id = q->id;
    if (client) {
        memcpy(&j->client, client, vr_sockaddr_len(client));
        j->has_client = true;
    }
    j->start_ms = vr_now_ms();
    j->next = r->jobs;
    if (r->jobs)
        r->jobs->prev = j;
    r->jobs = j;
    return j;
}

static void job_route(struct vr_dns_job *j, const struct vr_dns_rule *rule)
{
    const struct vr_dns_config *d = j->r->d;
    if (rule && rule->action == VR_DNS_RULE_UPSTREAM) {
        j->ups = rule->upstreams;
        j->n_ups = rule->n_upstreams;
    } else {
        j->ups = d->final;
        j->n_ups = d->n_final;
    }
    j->rule = rule ? rule->name : "final";
    /* Upstreams up first, in the list's order, then those marked down. */
    uint64_t now = vr_now_ms();
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < j->n_ups && n < VR_DNS_MAX_FAILOVER; i++)
            if ((j->r->down_until_ms[j->ups[i]] > now) == (pass == 1))
                j->order[n++] = j->ups[i];
    j->max_attempts = d->attempts > j->n_ups ? d->attempts : (uint32_t)j->n_ups;
}

/* ---- the client's way in */

/* A rule's own answer (no upstream), or 0 when the rule asks an upstream. */
static size_t local_answer(const struct vr_dns_rule *rule, const uint8_t *msg, const struct vr_dns_query *q,
                           uint8_t *out, size_t cap, int *rcode)
{
    *rcode = VR_DNS_NOERROR;
    switch (rule ? rule->action : VR_DNS_RULE_UPSTREAM) {
    case VR_DNS_RULE_REJECT:
        *rcode = VR_DNS_NXDOMAIN;
        return vr_dns_build_answer(msg, q, VR_DNS_NXDOMAIN, NULL, 0, 0, 0, out, cap);
    case VR_DNS_RULE_EMPTY:
        return vr_dns_build_answer(msg, q, VR_DNS_NOERROR, NULL, 0, 0, 0, out, cap);
    case VR_DNS_RULE_ADDRESS: {
        bool v4 = rule->addr_family == AF_INET;
        bool hit = q->qtype == (v4 ? VR_DNS_T_A : VR_DNS_T_AAAA);
        return vr_dns_build_answer(msg, q, VR_DNS_NOERROR, rule->addr, v4 ? 4 : 16, hit ? 1 : 0, 60, out, cap);
    }
    case VR_DNS_RULE_FAKEIP:
        return vr_dns_fake_answer(msg, q, out, cap);
    default:
        return 0;
    }
}

static bool same_question(const struct vr_dns_job *a, const struct vr_dns_job *b)
{
    return a->q.qtype == b->q.qtype && a->q.qclass == b->q.qclass && a->q.do_bit == b->q.do_bit &&
           a->ups[0] == b->ups[0] && strcmp(a->q.name, b->q.name) == 0;
}

ssize_t vr_dns_resolver_answer(struct vr_dns_resolver *r, const uint8_t *msg, size_t len,
                               const struct sockaddr *client, enum vr_dns_via via, uint8_t *out, size_t cap,
                               vr_dns_answer_cb cb, void *arg, struct vr_dns_job **job)
{
    struct vr_dns_config *d = r->d;
    uint64_t now = vr_now_ms();
    *job = NULL;
    atomic_fetch_add(&d->totals.queries, 1);
    if (d->ratelimit && !vr_dns_ratelimit_allow(d->ratelimit, client, now)) {
        atomic_fetch_add(&d->totals.rate_limited, 1);
        /* UDP: silence (an answer would serve a spoofed flood); TCP: REFUSED. */
        return via == VR_DNS_VIA_UDP ? 0 : (ssize_t)vr_dns_build_header_error(msg, len, VR_DNS_REFUSED, out, cap);
    }
    struct vr_dns_query q;
    enum vr_dns_parse p = vr_dns_parse_query(msg, len, &q);
    if (p == VR_DNS_PARSE_DROP)
        return 0;
    if (p != VR_DNS_PARSE_OK) {
        atomic_fetch_add(&d->totals.formerr, 1);
        if (vr_log_level >= VR_LOG_DEBUG) {
            char cbuf[64];
            vr_debug("dns: %s: %s (%zu bytes)", vr_sockaddr_str(client, cbuf, sizeof(cbuf)),
                     p == VR_DNS_PARSE_NOTIMP ? "an opcode other than QUERY: NOTIMP" : "malformed query: FORMERR", len);
        }
        return (ssize_t)vr_dns_build_header_error(msg, len, p == VR_DNS_PARSE_NOTIMP ? VR_DNS_NOTIMP : VR_DNS_FORMERR,
                                                  out, cap);
    }
    const struct vr_dns_rule *rule = vr_dns_rules_match(d, q.name, q.qtype, client);
    int rcode;
    size_t n = local_answer(rule, msg, &q, out, cap, &rcode);
    if (n > 0) {
        atomic_fetch_add(&d->totals.local, 1);
        log_query(r, client, &q, rule->name, "local", rcode, now);
        return (ssize_t)fit(out, n, &q, via);
    }
    struct vr_dns_job tmp = {.r = r, .q = q};
    job_route(&tmp, rule);
    if (d->cache) {
        struct vr_dns_cache_key k;
        cache_key(&tmp, &k);
        n = vr_dns_cache_get(d->cache, &k, now, out, cap);
        if (n > 0) {
            atomic_fetch_add(&d->totals.cached, 1);
            /* The client's spelling of the name back (0x20 case), same length. */
            if (q.question_end <= n)
                memcpy(out + VR_DNS_HEADER, msg + VR_DNS_HEADER, q.question_end - VR_DNS_HEADER);
            log_query(r, client, &q, tmp.rule, "cache", VR_DNS_RCODE(vr_dns_get16(out + 2)), now);
            return (ssize_t)fit(out, n, &q, via);
        }
    }
    struct vr_dns_cache_key k;
    cache_key(&tmp, &k);
    uint64_t h = vr_dns_cache_key_hash(&k);
    struct vr_dns_job *leader = r->inflight[h % INFLIGHT_BUCKETS];
    while (leader && !(leader->key_hash == h && same_question(leader, &tmp)))
        leader = leader->bucket_next;
    if (leader && leader->n_followers >= MAX_FOLLOWERS)
        leader = NULL;
    if (!leader)
        atomic_fetch_add(&d->totals.forwarded, 1);
    else
        atomic_fetch_add(&d->totals.coalesced, 1);
    struct vr_dns_job *j = job_new(r, msg, len, &q, client);
    if (j == NULL)
        return (ssize_t)vr_dns_build_answer(msg, &q, VR_DNS_SERVFAIL, NULL, 0, 0, 0, out, cap);
    job_route(j, rule);
    j->via = via;
    j->cb = cb;
    j->arg = arg;
    j->key_hash = h;
    *job = j;
    if (leader) { /* waits for the leader's answer */
        j->leader = leader;
        j->fnext = leader->followers;
        if (leader->followers)
            leader->followers->fprev = j;
        leader->followers = j;
        leader->n_followers++;
        return -1;
    }
    inflight_add(j);
    event_active(j->kick, EV_TIMEOUT, 1);
    return -1;
}

int vr_dns_resolver_lookup(struct vr_dns_resolver *r, const char *name, uint16_t qtype, vr_dns_name_cb cb,
                           void *arg, struct vr_dns_job **job)
{
    uint8_t msg[VR_DNS_HEADER + VR_DNS_NAME_MAX + 2 + 4 + 11];
    size_t len = vr_dns_build_query(name, qtype, next_id(r), msg, sizeof(msg));
    struct vr_dns_query q;
    if (len == 0 || vr_dns_parse_query(msg, len, &q) != VR_DNS_PARSE_OK)
        return -EINVAL;
    const struct vr_dns_rule *rule = vr_dns_rules_match(r->d, q.name, qtype, NULL);
    if (rule && (rule->action == VR_DNS_RULE_REJECT || rule->action == VR_DNS_RULE_EMPTY))
        return -ECONNREFUSED;
    if (rule && rule->action == VR_DNS_RULE_FAKEIP)
        rule = NULL; /* an outbound needs the real addresses: the final upstreams */
    struct vr_dns_job *j = job_new(r, msg, len, &q, NULL);
    if (j == NULL)
        return -ENOMEM;
    if (rule && rule->action == VR_DNS_RULE_ADDRESS) { /* the operator's fixed answer holds here too */
        int rcode;
        j->local = malloc(512);
        j->local_len = j->local ? local_answer(rule, msg, &q, j->local, 512, &rcode) : 0;
        if (j->local_len == 0) {
            job_free(j);
            return -ENOMEM;
        }
    }
    job_route(j, rule);
    j->via = VR_DNS_VIA_TCP;
    j->name_cb = cb;
    j->arg = arg;
    *job = j;
    event_active(j->kick, EV_TIMEOUT, 1);
    return 0;
}
