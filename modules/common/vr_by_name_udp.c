#include "vr_by_name.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELD_MAX 32
#define HELD_BYTES_MAX 65536

struct held {
    struct held *next;
    uint16_t port; /* network order */
    size_t len;
    uint8_t data[];
};

struct vr_by_name_udp {
    const struct vr_host *host;
    struct vr_instance *inst;
    const struct vr_by_name_udp_ops *ops;
    void *state;
    void *inner;       /* the module's association */
    vr_udp_recv_cb cb;
    void *arg;
    void *resolving;   /* host->resolve's pending */
    int err;           /* < 0: the name did not resolve; sends fail */
    bool resolved;
    struct sockaddr_storage fake; /* the flow's dst: what the client sent to */
    struct vr_resolved real;      /* the name's address */
    struct held *held, **held_tail;
    size_t n_held, held_bytes;
    uint64_t flow_id;
    char who[64];
    char name[256];
};

static const void *ip_of(const struct sockaddr *sa, int *family)
{
    *family = sa->sa_family;
    if (sa->sa_family == AF_INET)
        return &((const struct sockaddr_in *)sa)->sin_addr;
    return &((const struct sockaddr_in6 *)sa)->sin6_addr;
}

static uint16_t port_of(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                    : ((const struct sockaddr_in6 *)sa)->sin6_port;
}

/* A sockaddr of family/address with port (network order). */
static socklen_t make_sa(struct sockaddr_storage *ss, int family, const void *addr, uint16_t port)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        memcpy(&s->sin_addr, addr, 4);
        s->sin_port = port;
        return sizeof(*s);
    }
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    s->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, addr, 16);
    s->sin6_port = port;
    return sizeof(*s);
}

static bool same_ip(const struct sockaddr *sa, int family, const void *addr)
{
    int f;
    const void *a = ip_of(sa, &f);
    return f == family && memcmp(a, addr, family == AF_INET ? 4 : 16) == 0;
}

static bool is_fake(const struct vr_by_name_udp *u, const struct sockaddr *dst)
{
    int f;
    const void *a = ip_of((const struct sockaddr *)&u->fake, &f);
    return same_ip(dst, f, a);
}

static int send_real(struct vr_by_name_udp *u, uint16_t port, const uint8_t *data, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = make_sa(&ss, u->real.family, &u->real.addr, port);
    return u->ops->send(u->state, u->inner, (const struct sockaddr *)&ss, sl, data, len);
}

static void drop_held(struct vr_by_name_udp *u)
{
    while (u->held) {
        struct held *next = u->held->next;
        free(u->held);
        u->held = next;
    }
    u->held_tail = &u->held;
    u->n_held = u->held_bytes = 0;
}

/* Replies: from the name's address, they come from the fake one. */
static void on_inner(void *arg, const struct sockaddr *from, socklen_t fromlen, const uint8_t *data, size_t len,
                     int err)
{
    struct vr_by_name_udp *u = arg;
    if (data != NULL && u->resolved && from != NULL && same_ip(from, u->real.family, &u->real.addr)) {
        struct sockaddr_storage ss;
        int f;
        const void *fa = ip_of((const struct sockaddr *)&u->fake, &f);
        socklen_t sl = make_sa(&ss, f, fa, port_of(from));
        u->cb(u->arg, (const struct sockaddr *)&ss, sl, data, len, 0);
        return;
    }
    u->cb(u->arg, from, fromlen, data, len, err);
}

static void on_resolved(void *arg, int err, const struct vr_resolved *addrs, size_t n, uint32_t ttl)
{
    (void)ttl;
    struct vr_by_name_udp *u = arg;
    u->resolving = NULL;
    if (err < 0 || n == 0) {
        u->err = err < 0 ? err : -ENOENT;
        drop_held(u);
        u->host->log(u->inst, VR_LOG_INFO, "flow %" PRIu64 ": %s: UDP: cannot resolve %s: %s", u->flow_id, u->who,
                     u->name, vr_by_name_resolve_error(u->err));
        u->cb(u->arg, NULL, 0, NULL, 0, u->err);
        return;
    }
    /* one of the family the client used, when there is one: the inner
     * association may hold a socket of that family only */
    u->real = addrs[0];
    for (size_t i = 0; i < n; i++)
        if (addrs[i].family == u->fake.ss_family) {
            u->real = addrs[i];
            break;
        }
    u->resolved = true;
    struct held *h = u->held;
    u->held = NULL;
    u->held_tail = &u->held;
    u->n_held = u->held_bytes = 0;
    while (h) {
        struct held *next = h->next;
        (void)send_real(u, h->port, h->data, h->len); /* a lost datagram, like the wire */
        free(h);
        h = next;
    }
}

int vr_by_name_udp_open(const struct vr_host *host, struct vr_instance *inst, const char *who,
                        const struct vr_flow *flow, const struct vr_by_name_udp_ops *ops, void *state,
                        vr_udp_recv_cb cb, void *arg, struct vr_by_name_udp **out)
{
    if (!(VR_HAS(host, resolve) && host->resolve != NULL && VR_HAS(host, resolve_cancel))) {
        host->log(inst, VR_LOG_INFO,
                  "flow %" PRIu64 ": %s: UDP to %.200s: no resolver to send by name (add a dns block); dropped",
                  flow->id, who, flow->domain);
        return -ENOSYS;
    }
    if (strlen(flow->domain) >= sizeof(((struct vr_by_name_udp *)0)->name))
        return -EINVAL;
    struct vr_by_name_udp *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return -ENOMEM;
    u->host = host;
    u->inst = inst;
    u->ops = ops;
    u->state = state;
    u->cb = cb;
    u->arg = arg;
    u->flow_id = flow->id;
    u->held_tail = &u->held;
    memcpy(&u->fake, &flow->dst, sizeof(u->fake));
    snprintf(u->who, sizeof(u->who), "%s", who);
    snprintf(u->name, sizeof(u->name), "%s", flow->domain);
    struct vr_flow plain;
    memset(&plain, 0, sizeof(plain));
    memcpy(&plain, flow, flow->size < sizeof(plain) ? flow->size : sizeof(plain));
    plain.size = (uint32_t)sizeof(plain);
    plain.flags &= ~(uint32_t)VR_FLOW_CONNECT_BY_NAME;
    int r = ops->open(state, &plain, on_inner, u, &u->inner);
    if (r < 0) {
        free(u);
        return r;
    }
    r = host->resolve(inst, u->name, AF_UNSPEC, on_resolved, u, &u->resolving);
    if (r < 0) {
        host->log(inst, VR_LOG_INFO, "flow %" PRIu64 ": %s: UDP: cannot resolve %s: %s", flow->id, who, u->name,
                  r == -ENOSYS ? "no resolver (add a dns block)" : strerror(-r));
        ops->close(state, u->inner);
        free(u);
        return r;
    }
    *out = u;
    return 0;
}

int vr_by_name_udp_send(struct vr_by_name_udp *u, const struct sockaddr *dst, socklen_t dstlen, const uint8_t *data,
                        size_t len)
{
    if (!is_fake(u, dst))
        return u->ops->send(u->state, u->inner, dst, dstlen, data, len);
    if (u->err < 0)
        return -EHOSTUNREACH;
    if (u->resolved)
        return send_real(u, port_of(dst), data, len);
    if (u->n_held >= HELD_MAX || u->held_bytes + len > HELD_BYTES_MAX)
        return -ENOBUFS;
    struct held *h = malloc(sizeof(*h) + len);
    if (h == NULL)
        return -ENOMEM;
    h->next = NULL;
    h->port = port_of(dst);
    h->len = len;
    memcpy(h->data, data, len);
    *u->held_tail = h;
    u->held_tail = &h->next;
    u->n_held++;
    u->held_bytes += len;
    return 0;
}

void vr_by_name_udp_close(struct vr_by_name_udp *u)
{
    if (u == NULL)
        return;
    if (u->resolving)
        u->host->resolve_cancel(u->inst, u->resolving);
    drop_held(u);
    u->ops->close(u->state, u->inner);
    free(u);
}
