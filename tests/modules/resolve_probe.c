/* Test module: an outbound that connects by name through host->resolve
 * (ABI 1.1), for tests/e2e/test_dns.sh. Config: name = "host.example";
 * family = "ipv4" | "ipv6" | "any". Each tcp_connect resolves the name,
 * logs "resolve_probe: NAME -> ADDR ... (ttl N)" or "resolve_probe: NAME:
 * error <errno>", and connects to the first address on the flow's port. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vrouter/vr_plugin.h>

struct probe {
    struct vr_instance *inst;
    const struct vr_host *host;
    char name[256];
    int family;
};

struct probe_conn {
    struct probe *p;
    const struct vr_flow *flow;
    uint16_t port;
    void *resolving;
    int fd;
    struct vr_watch *watch;
    vr_connect_cb cb;
    void *arg;
};

static int probe_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    struct probe *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->inst = inst;
    p->host = host;
    const char *s = "localhost";
    host->cfg_string(host->instance_cfg(inst), "name", &s);
    snprintf(p->name, sizeof(p->name), "%s", s);
    const char *fam = "any";
    host->cfg_string(host->instance_cfg(inst), "family", &fam);
    p->family = strcmp(fam, "ipv4") == 0 ? AF_INET : strcmp(fam, "ipv6") == 0 ? AF_INET6 : AF_UNSPEC;
    if (!VR_HAS(host, resolve)) {
        host->log(inst, VR_LOG_ERROR, "resolve_probe: the host has no resolve");
        free(p);
        return -ENOSYS;
    }
    *state = p;
    return 0;
}

static void probe_destroy(void *state) { free(state); }

static void finish(struct probe_conn *c, int fd, int err, const char *why)
{
    vr_connect_cb cb = c->cb;
    void *arg = c->arg;
    c->p->host->watch_del(c->watch);
    free(c);
    cb(arg, fd, err, why);
}

static void on_writable(int fd, unsigned events, void *arg)
{
    (void)events;
    struct probe_conn *c = arg;
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        close(fd);
        finish(c, -1, -err, "resolve_probe: connect failed");
        return;
    }
    finish(c, fd, 0, NULL);
}

static void on_resolved(void *arg, int err, const struct vr_resolved *addrs, size_t n, uint32_t ttl)
{
    struct probe_conn *c = arg;
    struct probe *p = c->p;
    c->resolving = NULL;
    if (err < 0) {
        p->host->log(p->inst, VR_LOG_INFO, "resolve_probe: %s: error %d", p->name, err);
        finish(c, -1, err, "resolve_probe: no address");
        return;
    }
    char line[512] = "";
    for (size_t i = 0; i < n; i++) {
        char a[64];
        inet_ntop(addrs[i].family, &addrs[i].addr, a, sizeof(a));
        snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", a);
    }
    p->host->log(p->inst, VR_LOG_INFO, "resolve_probe: %s ->%s (ttl %u)", p->name, line, ttl);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    if (addrs[0].family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(c->port);
        s4->sin_addr = addrs[0].addr.v4;
        sl = sizeof(*s4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(c->port);
        s6->sin6_addr = addrs[0].addr.v6;
        sl = sizeof(*s6);
    }
    int fd = p->host->socket_open(p->inst, addrs[0].family, SOCK_STREAM, 0);
    if (fd < 0 || (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)) {
        if (fd >= 0)
            close(fd);
        finish(c, -1, -ECONNREFUSED, "resolve_probe: connect failed");
        return;
    }
    c->fd = fd;
    c->watch = p->host->watch_add(p->inst, fd, VR_EV_WRITE, on_writable, c);
}

static int probe_tcp_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg, void **pending)
{
    struct probe *p = state;
    struct probe_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->p = p;
    c->cb = cb;
    c->arg = arg;
    c->fd = -1;
    c->port = flow->dst.ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)&flow->dst)->sin_port)
                                             : ntohs(((const struct sockaddr_in6 *)&flow->dst)->sin6_port);
    int r = p->host->resolve(p->inst, p->name, p->family, on_resolved, c, &c->resolving);
    if (r < 0) {
        p->host->log(p->inst, VR_LOG_INFO, "resolve_probe: %s: refused at once: %d", p->name, r);
        free(c);
        return r;
    }
    *pending = c;
    return 0;
}

static void probe_tcp_cancel(void *state, void *pending)
{
    struct probe *p = state;
    struct probe_conn *c = pending;
    p->host->resolve_cancel(p->inst, c->resolving);
    p->host->watch_del(c->watch);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

static const struct vr_outbound_ops probe_ops = {
    .size = sizeof(struct vr_outbound_ops),
    .create = probe_create,
    .destroy = probe_destroy,
    .tcp_connect = probe_tcp_connect,
    .tcp_cancel = probe_tcp_cancel,
};

VR_MODULE_DEFINE(.name = "resolve_probe", .version = "1.0.0", .kind = VR_KIND_OUTBOUND, .ops = &probe_ops);
