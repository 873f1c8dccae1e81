/* Test module: a plain TCP outbound (dials flow->dst like direct) whose
 * build is visible in the daemon's log, for the module-upgrade and
 * module_path e2e tests. Compile-time knobs (the e2e tests build variants
 * with cc; CMake builds the defaults):
 *   UPGRADE_VARIANT    logged on every connect and at create/destroy, so a
 *                      test sees which code carries which flow (default 1);
 *   UPGRADE_NAME       the module's name, i.e. its file name (default
 *                      "upgrade_outbound"; "direct" to shadow the in-tree
 *                      direct from a drop-in directory);
 *   UPGRADE_ABI_MINOR  the ABI minor it claims (default this header's: a
 *                      newer one makes a build the host must refuse). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vrouter/vr_plugin.h>

#ifndef UPGRADE_VARIANT
#define UPGRADE_VARIANT 1
#endif
#ifndef UPGRADE_NAME
#define UPGRADE_NAME "upgrade_outbound"
#endif
#ifndef UPGRADE_ABI_MINOR
#define UPGRADE_ABI_MINOR VR_ABI_MINOR
#endif

#define UPGRADE_CONNECT_TIMEOUT_MS 5000
#define VR_UPGRADE_STR2(x) #x
#define VR_UPGRADE_STR(x) VR_UPGRADE_STR2(x)

struct up_state {
    const struct vr_host *host;
    struct vr_instance *inst;
};

struct up_conn {
    struct up_state *st;
    int fd;
    struct vr_watch *watch;
    struct vr_timer *timer;
    vr_connect_cb cb;
    void *arg;
};

static int up_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    struct up_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    st->host = host;
    st->inst = inst;
    host->log(inst, VR_LOG_INFO, "upgrade_outbound variant %d: instance created", UPGRADE_VARIANT);
    *state = st;
    return 0;
}

static void up_destroy(void *state)
{
    struct up_state *st = state;
    st->host->log(st->inst, VR_LOG_INFO, "upgrade_outbound variant %d: instance destroyed", UPGRADE_VARIANT);
    free(st);
}

static void up_free(struct up_conn *c)
{
    const struct vr_host *h = c->st->host;
    h->watch_del(c->watch);
    h->timer_del(c->timer);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

static void up_finish(struct up_conn *c, int err, const char *reason)
{
    vr_connect_cb cb = c->cb;
    void *arg = c->arg;
    int fd = -1;
    if (err == 0) {
        fd = c->fd;
        c->fd = -1;
    }
    up_free(c);
    cb(arg, fd, err, reason);
}

static void up_writable(int fd, unsigned events, void *arg)
{
    (void)events;
    struct up_conn *c = arg;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    up_finish(c, -soerr, soerr ? strerror(soerr) : NULL);
}

static void up_timeout(void *arg)
{
    struct up_conn *c = arg;
    c->timer = NULL; /* one-shot: freed by the host after it fired */
    up_finish(c, -ETIMEDOUT, "connect timeout");
}

static int up_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg, void **pending)
{
    struct up_state *st = state;
    const struct vr_host *h = st->host;
    int family = flow->dst.ss_family;
    struct up_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    *c = (struct up_conn){.st = st, .fd = -1, .cb = cb, .arg = arg};
    c->fd = h->socket_open(st->inst, family, SOCK_STREAM, 0);
    if (c->fd < 0) {
        int r = c->fd;
        free(c);
        return r;
    }
    socklen_t dl = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (connect(c->fd, (const struct sockaddr *)&flow->dst, dl) < 0 && errno != EINPROGRESS) {
        int r = -errno;
        up_free(c);
        return r;
    }
    c->watch = h->watch_add(st->inst, c->fd, VR_EV_WRITE, up_writable, c);
    c->timer = h->timer_add(st->inst, UPGRADE_CONNECT_TIMEOUT_MS, 0, up_timeout, c);
    if (c->watch == NULL || c->timer == NULL) {
        up_free(c);
        return -ENOMEM;
    }
    h->log(st->inst, VR_LOG_INFO, "flow %llu: connecting through upgrade_outbound variant %d",
           (unsigned long long)flow->id, UPGRADE_VARIANT);
    *pending = c;
    return 0;
}

static void up_cancel(void *state, void *pending)
{
    (void)state;
    up_free(pending);
}

static const struct vr_outbound_ops up_ops = {
    .size = sizeof(struct vr_outbound_ops),
    .create = up_create,
    .destroy = up_destroy,
    .tcp_connect = up_connect,
    .tcp_cancel = up_cancel,
};

VR_EXPORT const struct vr_module_desc vr_module = {
    .abi_major = VR_ABI_MAJOR,
    .abi_minor = UPGRADE_ABI_MINOR,
    .size = sizeof(struct vr_module_desc),
    .name = UPGRADE_NAME,
    .version = "variant " VR_UPGRADE_STR(UPGRADE_VARIANT),
    .kind = VR_KIND_OUTBOUND,
    .ops = &up_ops,
};
