#include "vr_by_name.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BY_NAME_MAX_ADDRS 16

struct vr_by_name {
    const struct vr_host *host;
    struct vr_instance *inst;
    vr_by_name_connect_fn connect;
    vr_by_name_cancel_fn cancel;
    void *state;
    vr_connect_cb cb;
    void *arg;
    void *resolving; /* host->resolve's pending, while resolving */
    void *inner;     /* the module's pending connect, while connecting */
    struct vr_flow flow; /* the copy handed to connect: dst is the address being tried */
    uint16_t port;       /* network order */
    struct vr_resolved addrs[BY_NAME_MAX_ADDRS];
    size_t n, next;
    char who[64];
    char name[256];
    char reason[512];
};

bool vr_by_name_wanted(const struct vr_flow *flow)
{
    return VR_HAS(flow, flags) && (flow->flags & VR_FLOW_CONNECT_BY_NAME) && flow->domain != NULL;
}

static void finish(struct vr_by_name *b, int fd, int err, const char *reason)
{
    vr_connect_cb cb = b->cb;
    void *arg = b->arg;
    char copy[512];
    snprintf(copy, sizeof(copy), "%s", reason ? reason : "");
    free(b);
    cb(arg, fd, err, fd >= 0 ? NULL : copy);
}

static void try_next(struct vr_by_name *b, int last_err, const char *last_reason);

static void on_connected(void *arg, int fd, int err, const char *reason)
{
    struct vr_by_name *b = arg;
    b->inner = NULL;
    if (fd >= 0) {
        finish(b, fd, 0, NULL);
        return;
    }
    try_next(b, err, reason);
}

/* Connects to the next address; past the last, fails with the last error. */
static void try_next(struct vr_by_name *b, int last_err, const char *last_reason)
{
    while (b->next < b->n) {
        const struct vr_resolved *a = &b->addrs[b->next++];
        memset(&b->flow.dst, 0, sizeof(b->flow.dst));
        if (a->family == AF_INET) {
            struct sockaddr_in *s = (struct sockaddr_in *)&b->flow.dst;
            s->sin_family = AF_INET;
            s->sin_addr = a->addr.v4;
            s->sin_port = b->port;
        } else {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)&b->flow.dst;
            s->sin6_family = AF_INET6;
            s->sin6_addr = a->addr.v6;
            s->sin6_port = b->port;
        }
        int r = b->connect(b->state, &b->flow, on_connected, b, &b->inner);
        if (r == 0)
            return;
        b->inner = NULL;
        last_err = r;
        last_reason = NULL;
    }
    char ip[INET6_ADDRSTRLEN] = "?";
    if (b->n > 0) {
        const struct vr_resolved *a = &b->addrs[b->n - 1];
        inet_ntop(a->family, &a->addr, ip, sizeof(ip));
    }
    snprintf(b->reason, sizeof(b->reason), "%s: %.100s (%zu address%s, last %s): %.160s", b->who, b->name, b->n,
             b->n == 1 ? "" : "es", ip, last_reason ? last_reason : strerror(last_err < 0 ? -last_err : EIO));
    finish(b, -1, last_err < 0 ? last_err : -EIO, b->reason);
}

const char *vr_by_name_resolve_error(int err)
{
    return err == -ENOENT ? "no such name or no address"
           : err == -ECONNREFUSED ? "rejected by the DNS rules"
                                  : strerror(err < 0 ? -err : EIO);
}

static void on_resolved(void *arg, int err, const struct vr_resolved *addrs, size_t n, uint32_t ttl)
{
    (void)ttl;
    struct vr_by_name *b = arg;
    b->resolving = NULL;
    if (err < 0 || n == 0) {
        snprintf(b->reason, sizeof(b->reason), "%s: cannot resolve %.100s: %s", b->who, b->name,
                 vr_by_name_resolve_error(err < 0 ? err : -ENOENT));
        finish(b, -1, err < 0 ? err : -ENOENT, b->reason);
        return;
    }
    b->n = n < BY_NAME_MAX_ADDRS ? n : BY_NAME_MAX_ADDRS;
    memcpy(b->addrs, addrs, b->n * sizeof(*addrs));
    b->next = 0;
    try_next(b, -EHOSTUNREACH, NULL);
}

int vr_by_name_start(const struct vr_host *host, struct vr_instance *inst, const char *who,
                     const struct vr_flow *flow, vr_by_name_connect_fn connect, vr_by_name_cancel_fn cancel,
                     void *state, vr_connect_cb cb, void *arg, struct vr_by_name **out)
{
    bool can = VR_HAS(host, resolve) && host->resolve != NULL && VR_HAS(host, resolve_cancel);
    if (!can) {
        if (VR_HAS(host, connect_fail_reason))
            host->connect_fail_reason(flow, "%s: %.200s: no resolver to connect by name (add a dns block, or route "
                                            "this domain through an outbound that takes names, such as socks5)",
                                      who, flow->domain);
        return -ENOSYS;
    }
    if (strlen(flow->domain) >= sizeof(((struct vr_by_name *)0)->name)) {
        if (VR_HAS(host, connect_fail_reason))
            host->connect_fail_reason(flow, "%s: the name to connect to is longer than 255 bytes", who);
        return -EINVAL;
    }
    struct vr_by_name *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    b->host = host;
    b->inst = inst;
    b->connect = connect;
    b->cancel = cancel;
    b->state = state;
    b->cb = cb;
    b->arg = arg;
    size_t fl = flow->size < sizeof(b->flow) ? flow->size : sizeof(b->flow);
    memcpy(&b->flow, flow, fl);
    b->flow.size = (uint32_t)sizeof(b->flow);
    b->flow.flags &= ~(uint32_t)VR_FLOW_CONNECT_BY_NAME;
    b->port = flow->dst.ss_family == AF_INET ? ((const struct sockaddr_in *)&flow->dst)->sin_port
                                             : ((const struct sockaddr_in6 *)&flow->dst)->sin6_port;
    snprintf(b->who, sizeof(b->who), "%s", who);
    snprintf(b->name, sizeof(b->name), "%s", flow->domain);
    b->flow.domain = b->name;
    int r = host->resolve(inst, b->name, AF_UNSPEC, on_resolved, b, &b->resolving);
    if (r < 0) {
        if (VR_HAS(host, connect_fail_reason))
            host->connect_fail_reason(flow, "%s: cannot resolve %s: %s", who, b->name,
                                      r == -ENOSYS ? "no resolver (add a dns block)" : strerror(-r));
        free(b);
        return r;
    }
    *out = b;
    return 0;
}

void vr_by_name_cancel(struct vr_by_name *b)
{
    if (b == NULL)
        return;
    if (b->resolving)
        b->host->resolve_cancel(b->inst, b->resolving);
    if (b->inner)
        b->cancel(b->state, b->inner);
    free(b);
}
