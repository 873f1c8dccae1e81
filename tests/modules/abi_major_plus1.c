/* Test module: descriptor built for the next major ABI (refused). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <vrouter/vr_plugin.h>

/* The host must refuse this module before calling anything in it: init
 * leaves a mark in $VR_TEST_TRACE that the test looks for. */
static int stub_init(const struct vr_host *host)
{
    (void)host;
    const char *path = getenv("VR_TEST_TRACE");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "init abi_major_plus1\n");
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

static const struct vr_outbound_ops stub_ops = {
    .size = sizeof(struct vr_outbound_ops),
    .create = stub_create,
    .destroy = stub_destroy,
    .tcp_connect = stub_connect,
    .tcp_cancel = stub_cancel,
};

VR_EXPORT const struct vr_module_desc vr_module = {
    .abi_major = VR_ABI_MAJOR + 1,
    .abi_minor = 0,
    .size = sizeof(struct vr_module_desc),
    .name = "abi_major_plus1",
    .version = "1.0.0",
    .kind = VR_KIND_OUTBOUND,
    .ops = &stub_ops,
    .init = stub_init,
};
