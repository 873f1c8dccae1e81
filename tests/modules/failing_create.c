/* Test module: an outbound whose create allocates, records a config error
 * at the key "fail_here" (FILE:LINE), frees what it made and returns
 * -EINVAL. It appends "create failing_create" / "destroy ..." / "fini" to
 * $VR_TEST_TRACE so the test can check destroy is never called for it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_plugin.h>

static void trace(const char *what)
{
    const char *path = getenv("VR_TEST_TRACE");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "%s\n", what);
        fclose(f);
    }
}

static void fc_fini(void) { trace("fini failing_create"); }

static int fc_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    const struct vr_cfg *cfg = host->instance_cfg(inst);
    char *scratch = strdup("made during create");
    if (scratch == NULL)
        return -ENOMEM;
    trace("create failing_create");
    const char *why = "no reason given";
    host->cfg_string(cfg, "fail_here", &why);
    host->cfg_error(cfg, "fail_here", "refusing on purpose: %s", why);
    free(scratch);
    *state = NULL;
    return -EINVAL;
}

static void fc_destroy(void *state)
{
    (void)state;
    trace("destroy failing_create");
}

static int fc_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg, void **pending)
{
    (void)state;
    (void)flow;
    (void)cb;
    (void)arg;
    (void)pending;
    return -ENETUNREACH;
}

static void fc_cancel(void *state, void *pending)
{
    (void)state;
    (void)pending;
}

static const struct vr_outbound_ops fc_ops = {
    .size = sizeof(struct vr_outbound_ops),
    .create = fc_create,
    .destroy = fc_destroy,
    .tcp_connect = fc_connect,
    .tcp_cancel = fc_cancel,
};

VR_MODULE_DEFINE(.name = "failing_create", .version = "1.0.0", .kind = VR_KIND_OUTBOUND, .ops = &fc_ops,
                 .fini = fc_fini);
