/* The shared body of the ABI test modules: an outbound that connects
 * nowhere, and an init that leaves "init <STUB_NAME>" in $VR_TEST_TRACE so a
 * test can prove the host refused a module before calling anything in it.
 * Define STUB_NAME before including. Each module then writes only what it
 * tests: its descriptor (and, for ops_too_short, its ops table). */
#ifndef VR_TEST_STUB_OUTBOUND_H
#define VR_TEST_STUB_OUTBOUND_H

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <vrouter/vr_plugin.h>

static int stub_init(const struct vr_host *host)
{
    (void)host;
    const char *path = getenv("VR_TEST_TRACE");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "init %s\n", STUB_NAME);
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

/* An outbound ops table of the given size (sizeof for a whole 1.0 table). */
#define STUB_OUTBOUND_OPS(ident, ops_size)                                                     \
    static const struct vr_outbound_ops ident = {                                               \
        .size = (ops_size),                                                                      \
        .create = stub_create,                                                                   \
        .destroy = stub_destroy,                                                                 \
        .tcp_connect = stub_connect,                                                             \
        .tcp_cancel = stub_cancel,                                                               \
    }

#endif
