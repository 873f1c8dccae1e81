/* Test module: outbound ops table whose size is smaller than the 1.0 table
 * (refused before anything in it is called). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <vrouter/vr_plugin.h>

static int stub_init(const struct vr_host *host)
{
    (void)host;
    const char *path = getenv("VR_TEST_TRACE");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "init ops_too_short\n");
        fclose(f);
    }
    return 0;
}

static int stub_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    (void)inst;
    (void)host;
    *state = NULL;
    return 0;
}

static void stub_destroy(void *state) { (void)state; }

static int stub_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg, void **pending)
{
    (void)state;
    (void)flow;
    (void)cb;
    (void)arg;
    (void)pending;
    return -ENETUNREACH;
}

static void stub_cancel(void *state, void *pending)
{
    (void)state;
    (void)pending;
}

/* As if built against a header that ended before the UDP path. */
static const struct vr_outbound_ops short_ops = {
    .size = offsetof(struct vr_outbound_ops, udp_open),
    .create = stub_create,
    .destroy = stub_destroy,
    .tcp_connect = stub_connect,
    .tcp_cancel = stub_cancel,
};

VR_MODULE_DEFINE(.name = "ops_too_short", .version = "1.0.0", .kind = VR_KIND_OUTBOUND, .ops = &short_ops,
                 .init = stub_init);
