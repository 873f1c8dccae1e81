/* The control socket's flow listings (connections, sessions) and kill.
 * A listing asks each worker, on its own thread and one after the other
 * (vr_workers_call), for a snapshot of its flows that pass the filters,
 * then streams the rows as the client reads: no loop waits for the client,
 * and a flow that closes meanwhile is still listed as it was. A kill runs
 * on each worker's thread too, since closing a flow calls its outbound. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <vrouter/vr_flow.h>

#include "vr_addr.h"
#include "vr_conn.h"
#include "vr_control_ops.h"
#include "vr_generation.h"
#include "vr_listener.h"
#include "vr_log.h"
#include "vr_process.h"
#include "vr_relay_sockmap.h"
#include "vr_udp_listener.h"
#include "vr_udp_session.h"
#include "vr_watch.h"
#include "vr_worker_thread.h"

#define KILLED "killed by control"

struct flow_row {
    uint64_t id, generation, bytes_up, bytes_down, dgrams_up, dgrams_down, age_ms, idle_ms;
    bool udp;
    int rule_index, rule_line; /* -1: final or not routed yet */
    char rule_file[128];       /* "" with rule_line -1 */
    unsigned worker;
    char listener[48], client[VR_ADDRSTRLEN], dst[VR_ADDRSTRLEN], domain[256], protocol[16], rule[32],
        outbound[64], state[16];
};

struct flow_filter {
    const char *rule, *outbound, *domain, *listener, *state;
    bool has_client;
    struct vr_cidr client;
    const uint64_t *ids; /* kill: only these */
    size_t n_ids;
};

struct flow_rows {
    struct flow_row *v;
    size_t n, cap;
    bool oom;
};

static void copy(char *dst, size_t len, const char *src) { snprintf(dst, len, "%s", src ? src : ""); }

static bool domain_has_suffix(const char *domain, const char *suffix)
{
    size_t dl = strlen(domain), sl = strlen(suffix);
    if (sl > dl)
        return false;
    if (strcasecmp(domain + dl - sl, suffix) != 0)
        return false;
    return sl == dl || suffix[0] == '.' || domain[dl - sl - 1] == '.';
}

static bool passes(const struct flow_filter *f, const struct flow_row *r, const struct sockaddr_storage *client)
{
    if (f->rule && strcmp(f->rule, r->rule) != 0 &&
        !(r->rule_index >= 0 && atoi(f->rule) == r->rule_index && f->rule[strspn(f->rule, "0123456789")] == '\0'))
        return false;
    if (f->outbound && strcmp(f->outbound, r->outbound) != 0)
        return false;
    if (f->listener && strcmp(f->listener, r->listener) != 0)
        return false;
    if (f->state && strcmp(f->state, r->state) != 0)
        return false;
    if (f->domain && (r->domain[0] == '\0' || !domain_has_suffix(r->domain, f->domain)))
        return false;
    if (f->has_client) {
        const uint8_t *bytes;
        int family = vr_sockaddr_bytes((const struct sockaddr *)client, &bytes);
        if (family < 0 || !vr_cidr_contains(&f->client, family, bytes))
            return false;
    }
    if (f->ids) {
        size_t i;
        for (i = 0; i < f->n_ids && f->ids[i] != r->id; i++)
            ;
        if (i == f->n_ids)
            return false;
    }
    return true;
}

static struct flow_row *rows_add(struct flow_rows *rows)
{
    if (rows->n == rows->cap) {
        size_t cap = rows->cap ? rows->cap * 2 : 64;
        struct flow_row *v = realloc(rows->v, cap * sizeof(*v));
        if (v == NULL) {
            rows->oom = true;
            return NULL;
        }
        rows->v = v;
        rows->cap = cap;
    }
    return &rows->v[rows->n++];
}

static void rule_position(const struct vr_generation *g, const char *name, struct flow_row *r)
{
    r->rule_index = -1;
    r->rule_line = -1;
    if (name == NULL || g == NULL)
        return;
    const struct vr_rules *rules = &g->cfg->rules;
    for (size_t i = 0; i < rules->n; i++)
        if (strcmp(rules->rules[i].name, name) == 0) {
            r->rule_index = (int)i + 1; /* as in its name, "rule #N" */
            r->rule_line = rules->rules[i].line;
            copy(r->rule_file, sizeof(r->rule_file), rules->rules[i].file ? rules->rules[i].file : g->cfg->path);
            return;
        }
}

static const char *conn_state(const struct vr_conn *c)
{
    switch (c->stage) {
    case VR_CONN_SNIFFING: return "sniffing";
    case VR_CONN_CONNECTING: return "connecting";
    case VR_CONN_RELAYING:
        if (c->relay.up.eof || c->relay.down.eof)
            return "half-closed";
        return c->worker->draining ? "draining" : "relaying";
    default: return "closing";
    }
}

static void conn_row(const struct vr_conn *c, uint64_t now, struct flow_row *r)
{
    memset(r, 0, sizeof(*r));
    r->id = c->flow.id;
    r->worker = (unsigned)c->worker->index;
    r->generation = c->gen->id;
    vr_relay_sockmap_bytes(&c->relay, &r->bytes_up, &r->bytes_down); /* the kernel relay's live counts */
    r->age_ms = now > c->started_ms ? now - c->started_ms : 0;
    r->idle_ms = now > c->last_active_ms ? now - c->last_active_ms : 0;
    copy(r->listener, sizeof(r->listener), c->flow.inbound);
    vr_sockaddr_str((const struct sockaddr *)&c->flow.src, r->client, sizeof(r->client));
    vr_sockaddr_str((const struct sockaddr *)&c->flow.dst, r->dst, sizeof(r->dst));
    copy(r->domain, sizeof(r->domain), c->domain);
    copy(r->protocol, sizeof(r->protocol), c->protocol);
    copy(r->rule, sizeof(r->rule), c->flow.rule);
    rule_position(c->gen, c->flow.rule, r);
    copy(r->outbound, sizeof(r->outbound), c->outbound ? c->outbound->tag : NULL);
    copy(r->state, sizeof(r->state), conn_state(c));
}

struct session_walk {
    const struct flow_filter *f;
    struct flow_rows *rows;
    const char *listener;
    uint64_t now;
    unsigned worker;
};

static void session_row(const struct vr_udp_session_info *i, void *arg)
{
    struct session_walk *sw = arg;
    struct flow_row r;
    memset(&r, 0, sizeof(r));
    r.udp = true;
    r.worker = sw->worker;
    r.id = i->id;
    r.generation = i->gen->id;
    r.bytes_up = i->up_bytes;
    r.bytes_down = i->down_bytes;
    r.dgrams_up = i->up_dgrams;
    r.dgrams_down = i->down_dgrams;
    r.age_ms = sw->now > i->started_ms ? sw->now - i->started_ms : 0;
    r.idle_ms = sw->now > i->last_ms ? sw->now - i->last_ms : 0;
    copy(r.listener, sizeof(r.listener), sw->listener);
    vr_sockaddr_str((const struct sockaddr *)i->client, r.client, sizeof(r.client));
    vr_sockaddr_str((const struct sockaddr *)i->dst, r.dst, sizeof(r.dst));
    copy(r.domain, sizeof(r.domain), i->domain);
    copy(r.protocol, sizeof(r.protocol), i->protocol);
    copy(r.rule, sizeof(r.rule), i->rule);
    rule_position(i->gen, i->rule, &r);
    copy(r.outbound, sizeof(r.outbound), i->outbound);
    copy(r.state, sizeof(r.state), i->state);
    if (!passes(sw->f, &r, i->client))
        return;
    struct flow_row *slot = rows_add(sw->rows);
    if (slot)
        *slot = r;
}

/* What one worker answers: its TCP connections or UDP sessions passing f. */
static void worker_flows(struct vr_worker *w, bool udp, const struct flow_filter *f, struct flow_rows *rows)
{
    uint64_t now = vr_now_ms();
    if (!udp) {
        for (const struct vr_conn *c = w->conns; c && !rows->oom; c = c->next) {
            struct flow_row r;
            conn_row(c, now, &r);
            if (!passes(f, &r, &c->flow.src))
                continue;
            struct flow_row *slot = rows_add(rows);
            if (slot)
                *slot = r;
        }
        return;
    }
    for (struct vr_udp_listener *l = w->udp_listeners; l; l = l->next) {
        struct session_walk sw = {f, rows, l->tag, now, (unsigned)w->index};
        vr_udp_sessions_each(l, session_row, &sw);
    }
}

struct flows_ask {
    bool udp;
    const struct flow_filter *f;
    struct flow_rows *rows;
};

static void ask_worker(struct vr_worker *w, void *arg)
{
    struct flows_ask *a = arg;
    worker_flows(w, a->udp, a->f, a->rows);
}

/* Reads the filters of req into f; false (answered) when one is invalid. */
static bool read_filter(struct vr_control_client *cl, json_object *req, struct flow_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->rule = vr_control_str(req, "rule");
    f->outbound = vr_control_str(req, "outbound");
    f->domain = vr_control_str(req, "domain");
    f->listener = vr_control_str(req, "listener");
    f->state = vr_control_str(req, "state");
    const char *client = vr_control_str(req, "client");
    if (client) {
        /* A bare address or a network with host bits set is taken as its
         * network (what an operator means by "this client"). */
        char net[64];
        snprintf(net, sizeof(net), "%s", client);
        if (vr_cidr_parse(net, &f->client) < 0) {
            vr_control_fail(cl, "\"client\": \"%s\" is not an address or CIDR (like 198.18.0.0/15)", client);
            return false;
        }
        f->has_client = true;
    }
    return true;
}

static int by_bytes(const void *a, const void *b)
{
    const struct flow_row *x = a, *y = b;
    uint64_t bx = x->bytes_up + x->bytes_down, by = y->bytes_up + y->bytes_down;
    return bx < by ? 1 : bx > by ? -1 : 0;
}

static int by_age(const void *a, const void *b)
{
    const struct flow_row *x = a, *y = b;
    return x->age_ms < y->age_ms ? 1 : x->age_ms > y->age_ms ? -1 : 0;
}

static json_object *row_json(const void *p)
{
    const struct flow_row *r = p;
    json_object *o = json_object_new_object();
#define S(k, v) json_object_object_add(o, k, (v)[0] ? json_object_new_string(v) : json_object_new_null())
#define I(k, v) json_object_object_add(o, k, json_object_new_int64((int64_t)(v)))
    I("id", r->id);
    json_object_object_add(o, "network", json_object_new_string(r->udp ? "udp" : "tcp"));
    S("listener", r->listener);
    S("client", r->client);
    S("destination", r->dst);
    S("domain", r->domain);
    S("protocol", r->protocol);
    S("rule", r->rule);
    json_object_object_add(o, "rule_index", r->rule_index >= 0 ? json_object_new_int(r->rule_index)
                                                               : json_object_new_null());
    json_object_object_add(o, "rule_line", r->rule_line >= 0 ? json_object_new_int(r->rule_line)
                                                             : json_object_new_null());
    json_object_object_add(o, "rule_file", r->rule_line >= 0 ? json_object_new_string(r->rule_file)
                                                             : json_object_new_null());
    S("outbound", r->outbound);
    S("state", r->state);
    I("bytes_up", r->bytes_up);
    I("bytes_down", r->bytes_down);
    if (r->udp) {
        I("datagrams_up", r->dgrams_up);
        I("datagrams_down", r->dgrams_down);
    }
    json_object_object_add(o, "age_s", json_object_new_double((double)r->age_ms / 1000.0));
    json_object_object_add(o, "idle_s", json_object_new_double((double)r->idle_ms / 1000.0));
    I("generation", r->generation);
    I("worker", r->worker);
#undef S
#undef I
    return o;
}

static void list_flows(struct vr_control_client *cl, json_object *req, bool udp)
{
    struct flow_filter f;
    if (!read_filter(cl, req, &f))
        return;
    const char *sort = vr_control_str(req, "sort");
    if (sort && strcmp(sort, "bytes") != 0 && strcmp(sort, "age") != 0) {
        vr_control_fail(cl, "\"sort\": \"%s\" is not \"bytes\" or \"age\"", sort);
        return;
    }
    long long limit = vr_control_int(req, "limit", -1);
    struct flow_rows rows = {0};
    struct vr_daemon *d = vr_control_daemon(cl);
    struct flows_ask ask = {udp, &f, &rows};
    vr_workers_call(d->workers, d->n_workers, ask_worker, &ask);
    struct vr_control_stream *st = calloc(1, sizeof(*st));
    if (rows.oom || st == NULL) {
        free(rows.v);
        free(st);
        vr_control_fail(cl, "out of memory");
        return;
    }
    if (sort)
        qsort(rows.v, rows.n, sizeof(*rows.v), strcmp(sort, "bytes") == 0 ? by_bytes : by_age);
    size_t matched = rows.n;
    if (limit >= 0 && (size_t)limit < rows.n)
        rows.n = (size_t)limit;
    st->rows = rows.v;
    st->n = rows.n;
    st->row_size = sizeof(struct flow_row);
    st->row_json = row_json;
    st->end = json_object_new_object();
    json_object_object_add(st->end, "matched", json_object_new_int64((int64_t)matched));
    vr_control_stream(cl, st);
}

void vr_control_op_connections(struct vr_control_client *cl, json_object *req) { list_flows(cl, req, false); }
void vr_control_op_sessions(struct vr_control_client *cl, json_object *req) { list_flows(cl, req, true); }

/* A killed connection ends at once on both sides (RST), not after the
 * bytes still queued to a slow reader. */
static void abort_sockets(const struct vr_conn *c)
{
    struct linger lg = {1, 0};
    int fds[2] = {c->client_fd, c->server_fd};
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

struct kill_ask {
    const struct flow_filter *f;
    json_object *done; /* the main thread's: it waits while a worker adds to it */
    size_t killed;
};

/* On w's thread: close its flows that pass the filter. */
static void kill_in_worker(struct vr_worker *w, void *arg)
{
    struct kill_ask *a = arg;
    struct flow_rows tcp = {0}, udp = {0};
    worker_flows(w, false, a->f, &tcp);
    worker_flows(w, true, a->f, &udp);
    /* Close by id after the walk: a close may end other flows' state. */
    for (size_t i = 0; i < tcp.n; i++) {
        for (struct vr_conn *c = w->conns; c; c = c->next)
            if (c->flow.id == tcp.v[i].id) {
                abort_sockets(c);
                vr_conn_close(c, KILLED);
                json_object_array_add(a->done, json_object_new_int64((int64_t)tcp.v[i].id));
                a->killed++;
                break;
            }
    }
    for (size_t i = 0; i < udp.n; i++)
        for (struct vr_udp_listener *l = w->udp_listeners; l; l = l->next)
            if (vr_udp_session_kill(l, udp.v[i].id, KILLED)) {
                json_object_array_add(a->done, json_object_new_int64((int64_t)udp.v[i].id));
                a->killed++;
                break;
            }
    free(tcp.v);
    free(udp.v);
}

/* kill: {"ids":[...]} or filters (at least one: an empty kill is refused,
 * not "everything"). TCP connections and UDP sessions both. */
void vr_control_op_kill(struct vr_control_client *cl, json_object *req)
{
    struct flow_filter f;
    if (!read_filter(cl, req, &f))
        return;
    json_object *ids;
    uint64_t *idv = NULL;
    if (json_object_object_get_ex(req, "ids", &ids) && json_object_is_type(ids, json_type_array)) {
        size_t n = json_object_array_length(ids);
        idv = calloc(n ? n : 1, sizeof(*idv));
        if (idv == NULL) {
            vr_control_fail(cl, "out of memory");
            return;
        }
        for (size_t i = 0; i < n; i++)
            idv[i] = (uint64_t)json_object_get_int64(json_object_array_get_idx(ids, i));
        f.ids = idv;
        f.n_ids = n;
    }
    if (!f.ids && !f.rule && !f.outbound && !f.domain && !f.listener && !f.state && !f.has_client) {
        vr_control_fail(cl, "kill needs \"ids\" or at least one filter (rule, outbound, domain, client, listener, "
                            "state)");
        return;
    }
    struct vr_daemon *d = vr_control_daemon(cl);
    json_object *done = json_object_new_array();
    struct kill_ask ask = {&f, done, 0};
    vr_workers_call(d->workers, d->n_workers, kill_in_worker, &ask);
    size_t killed = ask.killed;
    vr_info("control: killed %zu flows", killed);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "killed", json_object_new_int64((int64_t)killed));
    json_object_object_add(o, "ids", done);
    if (f.ids && killed < f.n_ids) {
        json_object_object_add(o, "ok", json_object_new_boolean(0));
        json_object_object_add(o, "error", json_object_new_string("some ids are not live flows"));
    }
    free(idv);
    vr_control_send(cl, o);
}
