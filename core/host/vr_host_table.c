/* struct vr_host: what a module can ask of the daemon. */
#include "vr_host_table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vr_cfg_view.h"
#include "vr_connect_reason.h"
#include "vr_dns_host_resolve.h"
#include "vr_generation.h"
#include "vr_instance.h"
#include "vr_log.h"
#include "vr_offload.h"
#include "vr_offload_outbound.h"
#include "vr_watch.h"

uint32_t vr_host_bypass_mark = 0xff;

static void host_vlog(const struct vr_instance *inst, int level, const char *fmt, va_list ap)
{
    vr_log_vwrite(level, inst ? inst->prefix : "[module] ", fmt, ap);
}

static void host_log(const struct vr_instance *inst, int level, const char *fmt, ...)
{
    if (level > vr_log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    host_vlog(inst, level, fmt, ap);
    va_end(ap);
}

static int host_log_enabled(const struct vr_instance *inst, int level)
{
    (void)inst;
    return level <= vr_log_level;
}

static const char *host_instance_tag(const struct vr_instance *inst) { return inst->tag; }

static const struct vr_cfg *host_instance_cfg(const struct vr_instance *inst) { return inst->cfg; }

static void host_cfg_error(const struct vr_cfg *cfg, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vr_cfg_verror(cfg, key, fmt, ap);
    va_end(ap);
}

static void host_connect_fail_reason(const struct vr_flow *flow, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vr_connect_reason_vset(flow, fmt, ap);
    va_end(ap);
}

static struct vr_watch *host_watch_add(struct vr_instance *inst, int fd, unsigned events, vr_watch_cb cb, void *arg)
{
    return vr_watch_new(inst, fd, events, cb, arg);
}

static struct vr_timer *host_timer_add(struct vr_instance *inst, uint32_t ms, int repeat, vr_timer_cb cb, void *arg)
{
    return vr_timer_new(inst, ms, repeat, cb, arg);
}

static struct vr_counter *host_counter(struct vr_instance *inst, const char *name)
{
    for (struct vr_counter *c = inst->counters; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    struct vr_counter *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->name = strdup(name)) == NULL) {
        free(c);
        return NULL;
    }
    c->next = inst->counters;
    inst->counters = c;
    return c;
}

static void host_counter_add(struct vr_counter *c, int64_t delta)
{
    if (c)
        c->value += delta;
}

static void host_counter_set(struct vr_counter *c, int64_t value)
{
    if (c)
        c->value = value;
}

static void host_health_set(struct vr_instance *inst, int healthy, const char *reason)
{
    bool h = healthy != 0;
    if (h != inst->healthy)
        vr_log_write(h ? VR_LOG_INFO : VR_LOG_WARN, "%snow %s%s%s", inst->prefix, h ? "healthy" : "unhealthy",
                     reason ? ": " : "", reason ? reason : "");
    inst->healthy = h;
    snprintf(inst->health_reason, sizeof(inst->health_reason), "%s", reason ? reason : "");
}

static void host_member_health(struct vr_instance *inst, const char *member, int up, const char *detail)
{
    if (inst == NULL || member == NULL)
        return;
    struct vr_member_health **p = &inst->members;
    while (*p && strcmp((*p)->name, member) != 0)
        p = &(*p)->next;
    struct vr_member_health *m = *p;
    if (m == NULL) {
        if (inst->n_members >= VR_INSTANCE_MAX_MEMBERS || (m = calloc(1, sizeof(*m))) == NULL)
            return;
        snprintf(m->name, sizeof(m->name), "%s", member);
        *p = m; /* appended: report order */
        inst->n_members++;
    }
    m->up = up != 0;
    snprintf(m->detail, sizeof(m->detail), "%s", detail ? detail : "");
}

static int host_socket_open(struct vr_instance *inst, int family, int type, uint32_t mark)
{
    (void)inst;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    uint32_t m = mark ? mark : vr_host_bypass_mark;
    if (m && setsockopt(fd, SOL_SOCKET, SO_MARK, &m, sizeof(m)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static struct vr_outbound_ref *host_outbound_find(struct vr_instance *inst, const struct vr_cfg *cfg,
                                                  const char *key, const char *tag)
{
    struct vr_gen_set *set = inst->set; /* the outbounds of the same worker */
    if (set == NULL) {
        vr_cfg_error(cfg, key, "only outbounds can refer to outbounds");
        return NULL;
    }
    int idx = vr_config_outbound_index(set->gen->cfg, tag);
    if (idx < 0) {
        vr_cfg_error(cfg, key, "no outbound has tag \"%s\"", tag);
        return NULL;
    }
    struct vr_instance *o = set->outbounds[idx];
    if (o == inst) {
        vr_cfg_error(cfg, key, "an outbound cannot refer to itself (\"%s\")", tag);
        return NULL;
    }
    o = vr_gen_set_outbound(set, idx, cfg, key);
    if (o == NULL && set->outbounds[idx] && set->outbounds[idx]->lifecycle == VR_INST_FAILED)
        vr_cfg_error(cfg, key, "outbound \"%s\" failed to start", tag);
    return (struct vr_outbound_ref *)o;
}

static struct vr_instance *ref_inst(const struct vr_outbound_ref *ref) { return (struct vr_instance *)ref; }

static int host_outbound_healthy(const struct vr_outbound_ref *ref) { return ref_inst(ref)->healthy; }
static const char *host_outbound_tag(const struct vr_outbound_ref *ref) { return ref_inst(ref)->tag; }

static int host_outbound_tcp_connect(struct vr_outbound_ref *ref, const struct vr_flow *flow, vr_connect_cb cb,
                                     void *arg, void **pending)
{
    struct vr_instance *i = ref_inst(ref);
    return vr_instance_outbound(i)->tcp_connect(i->state, flow, cb, arg, pending);
}

static void host_outbound_tcp_cancel(struct vr_outbound_ref *ref, void *pending)
{
    struct vr_instance *i = ref_inst(ref);
    vr_instance_outbound(i)->tcp_cancel(i->state, pending);
}

static int host_outbound_udp_open(struct vr_outbound_ref *ref, const struct vr_flow *flow, vr_udp_recv_cb cb,
                                  void *arg, void **assoc)
{
    struct vr_instance *i = ref_inst(ref);
    if (vr_instance_outbound(i)->udp_open == NULL)
        return -EPROTONOSUPPORT;
    return vr_instance_outbound(i)->udp_open(i->state, flow, cb, arg, assoc);
}

static int host_outbound_udp_send(struct vr_outbound_ref *ref, void *assoc, const struct sockaddr *dst,
                                  socklen_t dstlen, const uint8_t *data, size_t len)
{
    struct vr_instance *i = ref_inst(ref);
    if (vr_instance_outbound(i)->udp_send == NULL)
        return -EPROTONOSUPPORT;
    return vr_instance_outbound(i)->udp_send(i->state, assoc, dst, dstlen, data, len);
}

static void host_outbound_udp_close(struct vr_outbound_ref *ref, void *assoc)
{
    struct vr_instance *i = ref_inst(ref);
    if (vr_instance_outbound(i)->udp_close)
        vr_instance_outbound(i)->udp_close(i->state, assoc);
}

static uint32_t host_bypass_mark(const struct vr_instance *inst)
{
    return inst->gen ? inst->gen->cfg->daemon.bypass_mark : vr_host_bypass_mark;
}

static int host_listener_info(const struct vr_instance *inst, const char *tag, uint16_t *port, uint32_t *networks)
{
    const struct vr_listener_cfg *l = vr_config_listener(inst->gen->cfg, tag);
    if (l == NULL)
        return -ENOENT;
    if (port)
        *port = l->port;
    if (networks)
        *networks = l->networks;
    return 0;
}

/* ABI 1.1: the fast path chain of the instance's generation (vr_offload.h). */
static int host_route_plan_nft(const struct vr_instance *inst, const char *listener, char **out)
{
    *out = NULL;
    if (inst->gen == NULL || vr_config_listener(inst->gen->cfg, listener) == NULL)
        return -ENOENT;
    return vr_offload_nft(inst->gen->cfg, listener, out);
}

/* ABI 1.1: the fast path's policy routes (vr_offload_outbound.h). */
static int host_route_plan_routes(const struct vr_instance *inst, char **out)
{
    *out = NULL;
    if (inst->gen == NULL)
        return -ENOENT;
    return vr_offload_routes(inst->gen->cfg, out);
}

const struct vr_host vr_host_services = {
    .size = sizeof(struct vr_host),
    .abi_major = VR_ABI_MAJOR,
    .abi_minor = VR_ABI_MINOR,
    .log = host_log,
    .vlog = host_vlog,
    .log_enabled = host_log_enabled,
    .instance_tag = host_instance_tag,
    .instance_cfg = host_instance_cfg,
    .cfg_int = vr_cfg_int,
    .cfg_bool = vr_cfg_bool,
    .cfg_string = vr_cfg_string,
    .cfg_list_len = vr_cfg_list_len,
    .cfg_list_int = vr_cfg_list_int,
    .cfg_list_string = vr_cfg_list_string,
    .cfg_group = vr_cfg_group,
    .cfg_list_group = vr_cfg_list_group,
    .cfg_error = host_cfg_error,
    .cfg_path = vr_cfg_path,
    .watch_add = host_watch_add,
    .watch_modify = vr_watch_modify,
    .watch_del = vr_watch_free,
    .timer_add = host_timer_add,
    .timer_del = vr_timer_free,
    .now_ms = vr_now_ms,
    .counter = host_counter,
    .counter_add = host_counter_add,
    .counter_set = host_counter_set,
    .health_set = host_health_set,
    .socket_open = host_socket_open,
    .outbound_find = host_outbound_find,
    .outbound_healthy = host_outbound_healthy,
    .outbound_tag = host_outbound_tag,
    .outbound_tcp_connect = host_outbound_tcp_connect,
    .outbound_tcp_cancel = host_outbound_tcp_cancel,
    .outbound_udp_open = host_outbound_udp_open,
    .outbound_udp_send = host_outbound_udp_send,
    .outbound_udp_close = host_outbound_udp_close,
    .bypass_mark = host_bypass_mark,
    .listener_info = host_listener_info,
    .cfg_type = vr_cfg_type,
    .connect_fail_reason = host_connect_fail_reason,
    .member_health = host_member_health,
    .route_plan_nft = host_route_plan_nft,
    .resolve = vr_dns_host_resolve,
    .resolve_cancel = vr_dns_host_resolve_cancel,
    .route_plan_routes = host_route_plan_routes,
};
