/* Test module: an ABI 1.1 outbound that refuses every flow at once and gives
 * the reason through host->connect_fail_reason (the connection's close line
 * must carry it). Its 1.0 counterpart is abi_minor_zero, which refuses with a
 * bare errno. */
#include <errno.h>
#include <stdlib.h>

#include <vrouter/vr_plugin.h>

static int refuse_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    (void)inst;
    *state = (void *)host;
    return 0;
}

static void refuse_destroy(void *state) { (void)state; }

static int refuse_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg, void **pending)
{
    const struct vr_host *host = state;
    (void)cb;
    (void)arg;
    (void)pending;
    if (VR_HAS(host, connect_fail_reason))
        host->connect_fail_reason(flow, "refuse_reason: flow %llu to port %u refused by test policy",
                                  (unsigned long long)flow->id,
                                  flow->dst.ss_family == AF_INET
                                      ? (unsigned)ntohs(((const struct sockaddr_in *)&flow->dst)->sin_port)
                                      : (unsigned)ntohs(((const struct sockaddr_in6 *)&flow->dst)->sin6_port));
    return -EACCES;
}

static void refuse_cancel(void *state, void *pending)
{
    (void)state;
    (void)pending;
}

static const struct vr_outbound_ops refuse_ops = {
    .size = sizeof(struct vr_outbound_ops),
    .create = refuse_create,
    .destroy = refuse_destroy,
    .tcp_connect = refuse_connect,
    .tcp_cancel = refuse_cancel,
};

VR_MODULE_DEFINE(.name = "refuse_reason", .version = "1.1.0", .kind = VR_KIND_OUTBOUND, .ops = &refuse_ops);
