/* A poll(2)-based stand-in for the daemon's host services; see
 * outb_testhost.h. Small on purpose: fixed-size tables, linear search. */
#include "outb_testhost.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

enum th_type { TH_INT, TH_BOOL, TH_STR, TH_LINT, TH_LSTR, TH_GROUP };

struct th_item {
    char key[64];
    enum th_type type;
    int64_t i;
    char *s;
    int n;
    int64_t *li;
    char **ls;
    struct th_cfg *group;
    int read;
};

struct th_cfg {
    char name[64];
    struct th_item items[32];
    int n;
};

#define TH_MAX_WATCH 256
#define TH_MAX_TIMER 256
#define TH_MAX_COUNTER 64
#define TH_MAX_OUTBOUND 16

struct vr_watch {
    int used;
    struct vr_instance *inst;
    int fd;
    unsigned events;
    vr_watch_cb cb;
    void *arg;
};

struct vr_timer {
    int used;
    struct vr_instance *inst;
    uint64_t due;
    uint32_t ms;
    int repeat;
    vr_timer_cb cb;
    void *arg;
};

struct vr_counter {
    char name[64];
    int64_t value;
};

struct vr_instance {
    char tag[64];
    struct th_cfg *cfg;
    int healthy;
    struct vr_counter counters[TH_MAX_COUNTER];
    int ncounters;
};

struct vr_outbound_ref {
    char tag[64];
    struct vr_instance *inst;
    const struct vr_outbound_ops *ops;
    void *state;
};

static struct vr_watch th_watches[TH_MAX_WATCH];
static struct vr_timer th_timers[TH_MAX_TIMER];
static struct vr_outbound_ref th_outbounds[TH_MAX_OUTBOUND];
static int th_noutbounds;
static char th_err[512];
static char th_logbuf[1 << 16];
static size_t th_loglen;

/* ---- config */

struct th_cfg *th_cfg_new(const char *name)
{
    struct th_cfg *c = calloc(1, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    return c;
}

static struct th_item *th_cfg_add(struct th_cfg *c, const char *key, enum th_type t)
{
    struct th_item *it = &c->items[c->n++];
    snprintf(it->key, sizeof(it->key), "%s", key);
    it->type = t;
    return it;
}

void th_cfg_int(struct th_cfg *c, const char *key, int64_t v) { th_cfg_add(c, key, TH_INT)->i = v; }
void th_cfg_bool(struct th_cfg *c, const char *key, int v) { th_cfg_add(c, key, TH_BOOL)->i = v; }
void th_cfg_str(struct th_cfg *c, const char *key, const char *v)
{
    th_cfg_add(c, key, TH_STR)->s = strdup(v);
}

void th_cfg_list_int(struct th_cfg *c, const char *key, int n, const int64_t *v)
{
    struct th_item *it = th_cfg_add(c, key, TH_LINT);
    it->n = n;
    it->li = calloc((size_t)n + 1, sizeof(int64_t));
    memcpy(it->li, v, (size_t)n * sizeof(int64_t));
}

void th_cfg_list_str(struct th_cfg *c, const char *key, int n, const char *const *v)
{
    struct th_item *it = th_cfg_add(c, key, TH_LSTR);
    it->n = n;
    it->ls = calloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < n; i++)
        it->ls[i] = strdup(v[i]);
}

void th_cfg_group(struct th_cfg *c, const char *key, struct th_cfg *g)
{
    th_cfg_add(c, key, TH_GROUP)->group = g;
}

void th_cfg_free(struct th_cfg *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->n; i++) {
        struct th_item *it = &c->items[i];
        free(it->s);
        free(it->li);
        for (int j = 0; it->ls != NULL && j < it->n; j++)
            free(it->ls[j]);
        free(it->ls);
        th_cfg_free(it->group);
    }
    free(c);
}

int th_cfg_all_read(const struct th_cfg *c)
{
    for (int i = 0; i < c->n; i++) {
        if (!c->items[i].read)
            return 0;
        if (c->items[i].group != NULL && !th_cfg_all_read(c->items[i].group))
            return 0;
    }
    return 1;
}

const char *th_cfg_last_error(void) { return th_err; }
void th_cfg_clear_error(void) { th_err[0] = 0; }

static struct th_item *th_find(const struct vr_cfg *cfg, const char *key)
{
    struct th_cfg *c = (struct th_cfg *)cfg;
    for (int i = 0; i < c->n; i++) {
        if (strcmp(c->items[i].key, key) == 0) {
            c->items[i].read = 1;
            return &c->items[i];
        }
    }
    return NULL;
}

static void th_type_error(const struct vr_cfg *cfg, const char *key, const char *want)
{
    snprintf(th_err, sizeof(th_err), "test.conf:1: %s: %s: expected %s",
             ((const struct th_cfg *)cfg)->name, key, want);
}

static int h_cfg_int(const struct vr_cfg *cfg, const char *key, int64_t *out)
{
    struct th_item *it = th_find(cfg, key);
    if (it == NULL)
        return -ENOENT;
    if (it->type != TH_INT) {
        th_type_error(cfg, key, "an integer");
        return -EINVAL;
    }
    *out = it->i;
    return 0;
}

static int h_cfg_bool(const struct vr_cfg *cfg, const char *key, int *out)
{
    struct th_item *it = th_find(cfg, key);
    if (it == NULL)
        return -ENOENT;
    if (it->type != TH_BOOL) {
        th_type_error(cfg, key, "a boolean");
        return -EINVAL;
    }
    *out = (int)it->i;
    return 0;
}

static int h_cfg_string(const struct vr_cfg *cfg, const char *key, const char **out)
{
    struct th_item *it = th_find(cfg, key);
    if (it == NULL)
        return -ENOENT;
    if (it->type != TH_STR) {
        th_type_error(cfg, key, "a string");
        return -EINVAL;
    }
    *out = it->s;
    return 0;
}

/* host->connect_fail_reason: the test host keeps the last one (any flow). */
static char th_reason[256];
static uint64_t th_reason_flow;

static void h_connect_fail_reason(const struct vr_flow *flow, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(th_reason, sizeof(th_reason), fmt, ap);
    va_end(ap);
    th_reason_flow = flow ? flow->id : 0;
}

const char *th_connect_reason(uint64_t flow_id) { return th_reason[0] && th_reason_flow == flow_id ? th_reason : NULL; }

/* host->member_health: the last report per (instance, member). */
static struct th_member {
    struct vr_instance *inst;
    char name[64];
    int up;
    char detail[160];
} th_members[64];
static size_t th_n_members;

static void h_member_health(struct vr_instance *inst, const char *member, int up, const char *detail)
{
    size_t i = 0;
    while (i < th_n_members && !(th_members[i].inst == inst && strcmp(th_members[i].name, member) == 0))
        i++;
    if (i == th_n_members) {
        if (th_n_members == sizeof(th_members) / sizeof(th_members[0]))
            return;
        th_n_members++;
        th_members[i].inst = inst;
        snprintf(th_members[i].name, sizeof(th_members[i].name), "%s", member);
    }
    th_members[i].up = up;
    snprintf(th_members[i].detail, sizeof(th_members[i].detail), "%s", detail ? detail : "");
}

const char *th_member_health(struct vr_instance *inst, const char *member, int *up)
{
    for (size_t i = 0; i < th_n_members; i++)
        if (th_members[i].inst == inst && strcmp(th_members[i].name, member) == 0) {
            *up = th_members[i].up;
            return th_members[i].detail;
        }
    return NULL;
}
void th_connect_reason_clear(void) { th_reason[0] = '\0'; }

static int h_cfg_type(const struct vr_cfg *cfg, const char *key)
{
    struct th_item *it = th_find(cfg, key);
    if (it == NULL)
        return -ENOENT;
    switch (it->type) {
    case TH_INT: return VR_CFG_INT;
    case TH_BOOL: return VR_CFG_BOOL;
    case TH_STR: return VR_CFG_STRING;
    case TH_GROUP: return VR_CFG_GROUP;
    default: return VR_CFG_LIST;
    }
}

static int h_cfg_list_len(const struct vr_cfg *cfg, const char *key)
{
    struct th_item *it = th_find(cfg, key);
    if (it == NULL)
        return -ENOENT;
    if (it->type == TH_INT || it->type == TH_STR)
        return 1;
    if (it->type == TH_LINT || it->type == TH_LSTR)
        return it->n;
    th_type_error(cfg, key, "a list");
    return -EINVAL;
}

static int h_cfg_list_int(const struct vr_cfg *cfg, const char *key, int idx, int64_t *out)
{
    struct th_item *it = th_find(cfg, key);
    if (it == NULL)
        return -ENOENT;
    if (it->type == TH_INT && idx == 0) {
        *out = it->i;
        return 0;
    }
    if (it->type != TH_LINT || idx < 0 || idx >= it->n) {
        th_type_error(cfg, key, "a list of integers");
        return -EINVAL;
    }
    *out = it->li[idx];
    return 0;
}

static int h_cfg_list_string(const struct vr_cfg *cfg, const char *key, int idx,
                             const char **out)
{
    struct th_item *it = th_find(cfg, key);
    if (it == NULL)
        return -ENOENT;
    if (it->type == TH_STR && idx == 0) {
        *out = it->s;
        return 0;
    }
    if (it->type != TH_LSTR || idx < 0 || idx >= it->n) {
        th_type_error(cfg, key, "a list of strings");
        return -EINVAL;
    }
    *out = it->ls[idx];
    return 0;
}

static const struct vr_cfg *h_cfg_group(const struct vr_cfg *cfg, const char *key)
{
    struct th_item *it = th_find(cfg, key);
    if (it == NULL)
        return NULL;
    if (it->type != TH_GROUP) {
        th_type_error(cfg, key, "a group");
        return NULL;
    }
    return (const struct vr_cfg *)it->group;
}

static const struct vr_cfg *h_cfg_list_group(const struct vr_cfg *cfg, const char *key, int idx)
{
    (void)idx;
    th_type_error(cfg, key, "a list of groups (not supported by the test host)");
    return NULL;
}

static void h_cfg_error(const struct vr_cfg *cfg, const char *key, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (key != NULL)
        snprintf(th_err, sizeof(th_err), "test.conf:1: %s: %s: %s",
                 ((const struct th_cfg *)cfg)->name, key, msg);
    else
        snprintf(th_err, sizeof(th_err), "test.conf:1: %s: %s", ((const struct th_cfg *)cfg)->name,
                 msg);
    fprintf(stderr, "config error: %s\n", th_err);
}

static const char *h_cfg_path(const struct vr_cfg *cfg, const char *path)
{
    (void)cfg;
    return path;
}

/* ---- logging */

static void h_vlog(const struct vr_instance *inst, int level, const char *fmt, va_list ap)
{
    char msg[1024];
    int n = snprintf(msg, sizeof(msg), "[%d %s] ", level, inst != NULL ? inst->tag : "-");
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    fprintf(stderr, "%s\n", msg);
    size_t l = strlen(msg);
    if (th_loglen + l + 2 < sizeof(th_logbuf)) {
        memcpy(th_logbuf + th_loglen, msg, l);
        th_loglen += l;
        th_logbuf[th_loglen++] = '\n';
        th_logbuf[th_loglen] = 0;
    }
}

static void h_log(const struct vr_instance *inst, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    h_vlog(inst, level, fmt, ap);
    va_end(ap);
}

static int h_log_enabled(const struct vr_instance *inst, int level)
{
    (void)inst;
    (void)level;
    return 1;
}

int th_log_contains(const char *needle) { return strstr(th_logbuf, needle) != NULL; }
void th_log_clear(void)
{
    th_loglen = 0;
    th_logbuf[0] = 0;
}

/* ---- identity */

static const char *h_instance_tag(const struct vr_instance *inst) { return inst->tag; }
static const struct vr_cfg *h_instance_cfg(const struct vr_instance *inst)
{
    return (const struct vr_cfg *)inst->cfg;
}

/* ---- loop */

static uint64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct vr_watch *h_watch_add(struct vr_instance *inst, int fd, unsigned events,
                                    vr_watch_cb cb, void *arg)
{
    for (int i = 0; i < TH_MAX_WATCH; i++) {
        if (!th_watches[i].used) {
            th_watches[i] = (struct vr_watch){1, inst, fd, events, cb, arg};
            return &th_watches[i];
        }
    }
    return NULL;
}

static int h_watch_modify(struct vr_watch *w, unsigned events)
{
    w->events = events;
    return 0;
}

static void h_watch_del(struct vr_watch *w)
{
    if (w != NULL)
        w->used = 0;
}

/* Fault injection: timer_add calls left before one fails (0: none fails). */
static int th_timer_fail_in;

void th_timer_add_fail_at(int nth)
{
    th_timer_fail_in = nth;
}

static struct vr_timer *h_timer_add(struct vr_instance *inst, uint32_t ms, int repeat,
                                    vr_timer_cb cb, void *arg)
{
    if (th_timer_fail_in > 0 && --th_timer_fail_in == 0)
        return NULL;
    for (int i = 0; i < TH_MAX_TIMER; i++) {
        if (!th_timers[i].used) {
            th_timers[i] = (struct vr_timer){1, inst, h_now_ms() + ms, ms, repeat, cb, arg};
            return &th_timers[i];
        }
    }
    return NULL;
}

static void h_timer_del(struct vr_timer *t)
{
    if (t != NULL)
        t->used = 0;
}

static void th_loop_once(uint32_t max_ms)
{
    uint64_t now = h_now_ms();
    int timeout = (int)max_ms;
    for (int i = 0; i < TH_MAX_TIMER; i++) {
        if (th_timers[i].used) {
            int64_t d = (int64_t)(th_timers[i].due - now);
            if (d < 0)
                d = 0;
            if (d < timeout)
                timeout = (int)d;
        }
    }
    struct pollfd pfd[TH_MAX_WATCH];
    int map[TH_MAX_WATCH], n = 0;
    for (int i = 0; i < TH_MAX_WATCH; i++) {
        struct vr_watch *w = &th_watches[i];
        if (!w->used || w->events == 0)
            continue;
        pfd[n].fd = w->fd;
        pfd[n].events = (short)(((w->events & VR_EV_READ) ? POLLIN : 0) |
                                ((w->events & VR_EV_WRITE) ? POLLOUT : 0));
        pfd[n].revents = 0;
        map[n++] = i;
    }
    int r = poll(pfd, (nfds_t)n, timeout);
    for (int k = 0; r > 0 && k < n; k++) {
        struct vr_watch *w = &th_watches[map[k]];
        if (pfd[k].revents == 0 || !w->used || w->fd != pfd[k].fd)
            continue;
        unsigned ev = 0;
        if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
            ev |= VR_EV_READ;
        if (pfd[k].revents & (POLLOUT | POLLHUP | POLLERR))
            ev |= VR_EV_WRITE;
        ev &= w->events;
        if (ev != 0 && (pfd[k].revents & POLLERR))
            ev |= VR_EV_ERROR; /* ABI 1.2, as the daemon reports it */
        if (ev != 0)
            w->cb(w->fd, ev, w->arg);
    }
    now = h_now_ms();
    for (int i = 0; i < TH_MAX_TIMER; i++) {
        struct vr_timer *t = &th_timers[i];
        if (!t->used || t->due > now)
            continue;
        if (t->repeat)
            t->due = now + t->ms;
        else
            t->used = 0; /* one-shot: freed before it runs */
        t->cb(t->arg);
    }
}

int th_run_until(const int *done, uint32_t ms)
{
    uint64_t end = h_now_ms() + ms;
    while (!*done) {
        uint64_t now = h_now_ms();
        if (now >= end)
            break;
        th_loop_once((uint32_t)(end - now));
    }
    return *done;
}

void th_run_for(uint32_t ms)
{
    int never = 0;
    th_run_until(&never, ms);
}

/* ---- counters, health, sockets */

static struct vr_counter *h_counter(struct vr_instance *inst, const char *name)
{
    for (int i = 0; i < inst->ncounters; i++)
        if (strcmp(inst->counters[i].name, name) == 0)
            return &inst->counters[i];
    if (inst->ncounters == TH_MAX_COUNTER)
        return NULL;
    struct vr_counter *c = &inst->counters[inst->ncounters++];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->value = 0;
    return c;
}

static void h_counter_add(struct vr_counter *c, int64_t d)
{
    if (c != NULL)
        c->value += d;
}

static void h_counter_set(struct vr_counter *c, int64_t v)
{
    if (c != NULL)
        c->value = v;
}

int64_t th_counter_get(const struct vr_instance *inst, const char *name)
{
    for (int i = 0; i < inst->ncounters; i++)
        if (strcmp(inst->counters[i].name, name) == 0)
            return inst->counters[i].value;
    return -1;
}

static void h_health_set(struct vr_instance *inst, int healthy, const char *reason)
{
    inst->healthy = healthy;
    h_log(inst, VR_LOG_INFO, "health: %s (%s)", healthy ? "up" : "down", reason ? reason : "");
}

int th_instance_healthy(const struct vr_instance *inst) { return inst->healthy; }

static int h_socket_open(struct vr_instance *inst, int family, int type, uint32_t mark)
{
    (void)inst;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

/* ---- other outbounds */

void th_outbound_register(const char *tag, struct vr_instance *inst,
                          const struct vr_outbound_ops *ops, void *state)
{
    struct vr_outbound_ref *r = &th_outbounds[th_noutbounds++];
    snprintf(r->tag, sizeof(r->tag), "%s", tag);
    r->inst = inst;
    r->ops = ops;
    r->state = state;
}

void th_outbound_clear(void) { th_noutbounds = 0; }

static struct vr_outbound_ref *h_outbound_find(struct vr_instance *inst, const struct vr_cfg *cfg,
                                               const char *key, const char *tag)
{
    (void)inst;
    for (int i = 0; i < th_noutbounds; i++)
        if (strcmp(th_outbounds[i].tag, tag) == 0)
            return &th_outbounds[i];
    h_cfg_error(cfg, key, "no outbound with tag \"%s\"", tag);
    return NULL;
}

static int h_outbound_healthy(const struct vr_outbound_ref *r) { return r->inst->healthy; }
static const char *h_outbound_tag(const struct vr_outbound_ref *r) { return r->tag; }

static int h_outbound_tcp_connect(struct vr_outbound_ref *r, const struct vr_flow *flow,
                                  vr_connect_cb cb, void *arg, void **pending)
{
    return r->ops->tcp_connect(r->state, flow, cb, arg, pending);
}

static void h_outbound_tcp_cancel(struct vr_outbound_ref *r, void *pending)
{
    r->ops->tcp_cancel(r->state, pending);
}

static int h_outbound_udp_open(struct vr_outbound_ref *r, const struct vr_flow *flow,
                               vr_udp_recv_cb cb, void *arg, void **assoc)
{
    if (r->ops->udp_open == NULL)
        return -EOPNOTSUPP;
    return r->ops->udp_open(r->state, flow, cb, arg, assoc);
}

static int h_outbound_udp_send(struct vr_outbound_ref *r, void *assoc, const struct sockaddr *dst,
                               socklen_t dstlen, const uint8_t *data, size_t len)
{
    return r->ops->udp_send(r->state, assoc, dst, dstlen, data, len);
}

static void h_outbound_udp_close(struct vr_outbound_ref *r, void *assoc)
{
    r->ops->udp_close(r->state, assoc);
}

static uint32_t h_bypass_mark(const struct vr_instance *inst)
{
    (void)inst;
    return 0;
}

static int h_listener_info(const struct vr_instance *inst, const char *tag, uint16_t *port,
                           uint32_t *networks)
{
    (void)inst;
    (void)tag;
    (void)port;
    (void)networks;
    return -ENOENT;
}

static const struct vr_host th_host_table = {
    .size = sizeof(struct vr_host),
    .abi_major = VR_ABI_MAJOR,
    .abi_minor = VR_ABI_MINOR,
    .log = h_log,
    .vlog = h_vlog,
    .log_enabled = h_log_enabled,
    .instance_tag = h_instance_tag,
    .instance_cfg = h_instance_cfg,
    .cfg_int = h_cfg_int,
    .cfg_bool = h_cfg_bool,
    .cfg_string = h_cfg_string,
    .cfg_list_len = h_cfg_list_len,
    .cfg_list_int = h_cfg_list_int,
    .cfg_list_string = h_cfg_list_string,
    .cfg_group = h_cfg_group,
    .cfg_list_group = h_cfg_list_group,
    .cfg_error = h_cfg_error,
    .cfg_path = h_cfg_path,
    .watch_add = h_watch_add,
    .watch_modify = h_watch_modify,
    .watch_del = h_watch_del,
    .timer_add = h_timer_add,
    .timer_del = h_timer_del,
    .now_ms = h_now_ms,
    .counter = h_counter,
    .counter_add = h_counter_add,
    .counter_set = h_counter_set,
    .health_set = h_health_set,
    .socket_open = h_socket_open,
    .outbound_find = h_outbound_find,
    .outbound_healthy = h_outbound_healthy,
    .outbound_tag = h_outbound_tag,
    .outbound_tcp_connect = h_outbound_tcp_connect,
    .outbound_tcp_cancel = h_outbound_tcp_cancel,
    .outbound_udp_open = h_outbound_udp_open,
    .outbound_udp_send = h_outbound_udp_send,
    .outbound_udp_close = h_outbound_udp_close,
    .bypass_mark = h_bypass_mark,
    .listener_info = h_listener_info,
    .cfg_type = h_cfg_type,
    .connect_fail_reason = h_connect_fail_reason,
    .member_health = h_member_health,
};

const struct vr_host *th_host(void) { return &th_host_table; }

struct vr_instance *th_instance_new(const char *tag, struct th_cfg *cfg)
{
    struct vr_instance *inst = calloc(1, sizeof(*inst));
    snprintf(inst->tag, sizeof(inst->tag), "%s", tag);
    inst->cfg = cfg;
    inst->healthy = 1;
    return inst;
}

void th_instance_free(struct vr_instance *inst)
{
    for (int i = 0; i < TH_MAX_WATCH; i++)
        if (th_watches[i].used && th_watches[i].inst == inst)
            th_watches[i].used = 0;
    for (int i = 0; i < TH_MAX_TIMER; i++)
        if (th_timers[i].used && th_timers[i].inst == inst)
            th_timers[i].used = 0;
    free(inst);
}

const struct vr_outbound_ops *th_load_outbound(const char *path)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return NULL;
    }
    const struct vr_module_desc *d = dlsym(dl, VR_MODULE_SYMBOL_NAME);
    if (d == NULL || d->abi_major != VR_ABI_MAJOR || d->kind != VR_KIND_OUTBOUND) {
        fprintf(stderr, "%s: not an ABI %d outbound module\n", path, VR_ABI_MAJOR);
        return NULL;
    }
    if (d->init != NULL && d->init(&th_host_table) < 0) {
        fprintf(stderr, "%s: init failed\n", path);
        return NULL;
    }
    /* The handle stays open for the process lifetime, like the daemon's. */
    return d->ops;
}

int th_netns_private(void)
{
    if (unshare(CLONE_NEWNET) < 0)
        return -errno;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    int r = 0;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        r = -errno;
    ifr.ifr_flags |= IFF_UP;
    if (r == 0 && ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        r = -errno;
    struct sockaddr_in *in = (struct sockaddr_in *)&ifr.ifr_addr;
    memset(in, 0, sizeof(*in));
    in->sin_family = AF_INET;
    inet_pton(AF_INET, "198.18.255.1", &in->sin_addr);
    if (r == 0 && ioctl(s, SIOCSIFADDR, &ifr) < 0)
        r = -errno;
    close(s);
    return r;
}
