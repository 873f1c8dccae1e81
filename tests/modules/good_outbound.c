/* Test module: a well-formed ABI 1.0 outbound. It appends what happens to
 * it to the file named by $VR_TEST_TRACE ("init", "create TAG", "destroy
 * TAG", "fini", "tick TAG"), and on purpose leaves an fd watch and a
 * repeating timer behind at destroy so the test can check that the host
 * cancels them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vrouter/vr_plugin.h>

struct good {
    const struct vr_host *host;
    struct vr_instance *inst;
    char tag[64];
    int pipefd[2];
};

static void trace(const char *what, const char *tag)
{
    const char *path = getenv("VR_TEST_TRACE");
    if (path == NULL)
        return;
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return;
    fprintf(f, "%s%s%s\n", what, tag ? " " : "", tag ? tag : "");
    fclose(f);
}

static int good_init(const struct vr_host *host)
{
    trace(host->abi_major == VR_ABI_MAJOR ? "init" : "init-bad-host", NULL);
    return 0;
}

static void good_fini(void) { trace("fini", NULL); }

static void on_tick(void *arg)
{
    struct good *g = arg;
    trace("tick", g->tag);
}

static void on_readable(int fd, unsigned events, void *arg)
{
    (void)fd;
    (void)events;
    struct good *g = arg;
    trace("readable", g->tag);
}

static int good_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    struct good *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return -ENOMEM;
    g->host = host;
    g->inst = inst;
    snprintf(g->tag, sizeof(g->tag), "%s", host->instance_tag(inst));
    /* An optional key, so the block may carry it without being "unknown". */
    int64_t tick_ms = 20;
    int r = host->cfg_int(host->instance_cfg(inst), "tick_ms", &tick_ms);
    if (r == -EINVAL) {
        free(g);
        return r;
    }
    if (pipe(g->pipefd) < 0) {
        free(g);
        return -errno;
    }
    /* Neither is ever removed by the module: the host must cancel them. */
    if (host->watch_add(inst, g->pipefd[0], VR_EV_READ, on_readable, g) == NULL ||
        host->timer_add(inst, (uint32_t)tick_ms, 1, on_tick, g) == NULL) {
        close(g->pipefd[0]);
        close(g->pipefd[1]);
        free(g);
        return -ENOMEM;
    }
    trace("create", g->tag);
    *state = g;
    return 0;
}

static void good_destroy(void *state)
{
    struct good *g = state;
    trace("destroy", g->tag);
    /* Poison the state so that a callback the host failed to cancel shows. */
    memset(g->tag, 0, sizeof(g->tag));
    close(g->pipefd[0]);
    close(g->pipefd[1]);
    free(g);
}

static int good_tcp_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg, void **pending)
{
    (void)state;
    (void)flow;
    (void)cb;
    (void)arg;
    (void)pending;
    return -ENETUNREACH;
}

static void good_tcp_cancel(void *state, void *pending)
{
    (void)state;
    (void)pending;
}

static const struct vr_outbound_ops good_ops = {
    .size = sizeof(struct vr_outbound_ops),
    .create = good_create,
    .destroy = good_destroy,
    .tcp_connect = good_tcp_connect,
    .tcp_cancel = good_tcp_cancel,
};

VR_MODULE_DEFINE(.name = "good_outbound", .version = "1.0.0", .kind = VR_KIND_OUTBOUND, .ops = &good_ops,
                 .init = good_init, .fini = good_fini);
