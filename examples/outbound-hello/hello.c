/* An example out-of-tree outbound module, "hello": connects each TCP flow
 * straight to its original destination (like the in-tree "direct", without
 * its options), greets the flow in the log, and counts what it did.
 *
 *   outbounds = ( { tag = "hello"; module = "hello"; greeting = "hi"; timeout_ms = 3000; } );
 *
 * Everything a module needs is in <vrouter/vr_plugin.h>; it reaches the
 * daemon only through the struct vr_host table it is given. Build it with
 * the Makefile (pkg-config) or the CMakeLists.txt (find_package) next to it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vrouter/vr_plugin.h>

struct hello {
    struct vr_instance *inst;
    const struct vr_host *host;
    const char *greeting; /* owned by the host, valid for the instance's life */
    uint32_t timeout_ms;
    struct vr_counter *c_ok, *c_fail;
};

/* One connect in progress: done when the socket turns writable or the timer fires. */
struct hello_connect {
    struct hello *h;
    int fd;
    struct vr_watch *watch;
    struct vr_timer *timer;
    vr_connect_cb cb;
    void *arg;
};

static int hello_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    const struct vr_cfg *cfg = host->instance_cfg(inst);
    struct hello *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    h->inst = inst;
    h->host = host;
    h->greeting = "hello";
    h->timeout_ms = 5000;
    /* Getters: 0 found, -ENOENT absent (keep the default), -EINVAL wrong type. */
    const char *greeting;
    int bad = 0;
    int r = host->cfg_string(cfg, "greeting", &greeting);
    if (r == 0)
        h->greeting = greeting;
    else if (r == -EINVAL)
        bad = 1;
    int64_t ms;
    r = host->cfg_int(cfg, "timeout_ms", &ms);
    if (r == 0 && (ms < 1 || ms > 600000)) {
        host->cfg_error(cfg, "timeout_ms", "%lld is out of range (1 to 600000)", (long long)ms);
        bad = 1;
    } else if (r == 0) {
        h->timeout_ms = (uint32_t)ms;
    } else if (r == -EINVAL) {
        bad = 1;
    }
    if (bad) { /* the host already recorded FILE:LINE and the reason */
        free(h);
        return -EINVAL;
    }
    h->c_ok = host->counter(inst, "connected");
    h->c_fail = host->counter(inst, "failed");
    *state = h;
    return 0;
}

static void hello_destroy(void *state)
{
    free(state); /* the host already removed this instance's watches and timers */
}

/* Ends a pending connect: exactly one callback, everything freed first. */
static void connect_finish(struct hello_connect *c, int err, const char *reason)
{
    struct hello *h = c->h;
    h->host->watch_del(c->watch);
    h->host->timer_del(c->timer);
    int fd = c->fd;
    vr_connect_cb cb = c->cb;
    void *arg = c->arg;
    free(c);
    if (err) {
        close(fd);
        h->host->counter_add(h->c_fail, 1);
        cb(arg, -1, err, reason);
    } else {
        h->host->counter_add(h->c_ok, 1);
        cb(arg, fd, 0, NULL); /* the socket now belongs to the daemon */
    }
}

static void connect_writable(int fd, unsigned events, void *arg)
{
    (void)events;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    connect_finish(arg, err ? -err : 0, err ? strerror(err) : NULL);
}

static void connect_timeout(void *arg)
{
    struct hello_connect *c = arg;
    c->timer = NULL; /* a one-shot timer is freed by the host after it fires */
    connect_finish(c, -ETIMEDOUT, "hello: connect timeout");
}

static int hello_tcp_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                             void **pending)
{
    struct hello *h = state;
    const struct sockaddr *dst = (const struct sockaddr *)&flow->dst;
    h->host->log(h->inst, VR_LOG_INFO, "%s, flow %llu (%s)", h->greeting, (unsigned long long)flow->id,
                 flow->domain ? flow->domain : "no domain");
    /* Non-blocking, close-on-exec, with the bypass mark: the capture rules
     * must never take the daemon's own traffic back. */
    int fd = h->host->socket_open(h->inst, dst->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    socklen_t len = dst->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (connect(fd, dst, len) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        h->host->counter_add(h->c_fail, 1);
        return -e;
    }
    struct hello_connect *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return -ENOMEM;
    }
    *c = (struct hello_connect){.h = h, .fd = fd, .cb = cb, .arg = arg};
    c->watch = h->host->watch_add(h->inst, fd, VR_EV_WRITE, connect_writable, c);
    c->timer = h->host->timer_add(h->inst, h->timeout_ms, 0, connect_timeout, c);
    if (c->watch == NULL || c->timer == NULL) {
        h->host->watch_del(c->watch);
        h->host->timer_del(c->timer);
        close(fd);
        free(c);
        return -ENOMEM;
    }
    *pending = c;
    return 0;
}

static void hello_tcp_cancel(void *state, void *pending)
{
    (void)state;
    struct hello_connect *c = pending;
    c->h->host->watch_del(c->watch);
    c->h->host->timer_del(c->timer);
    close(c->fd);
    free(c);
}

/* TCP only: the three UDP entries stay NULL. */
static const struct vr_outbound_ops hello_ops = {
    .size = sizeof(hello_ops),
    .create = hello_create,
    .destroy = hello_destroy,
    .tcp_connect = hello_tcp_connect,
    .tcp_cancel = hello_tcp_cancel,
};

VR_MODULE_DEFINE(.name = "hello", .version = "1.0.0", .kind = VR_KIND_OUTBOUND, .ops = &hello_ops);
