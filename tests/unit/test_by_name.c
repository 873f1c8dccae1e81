/* Connecting by name (modules/common/vr_by_name.c, used by direct and
 * wireguard-bind for VR_FLOW_CONNECT_BY_NAME flows) against a scripted host:
 * no resolver -> -ENOSYS with a reason and no connect; the name is resolved,
 * never dst; each address is tried in turn at dst's port; a failure at
 * once or later moves on; resolve errors and cancels at either stage. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_by_name.h"
#include "vr_test.h"

/* ---- the scripted host */

static char fail_reason[256];
static int resolves, resolve_cancels;
static char resolved_name[256];
static vr_resolve_cb pending_cb;
static void *pending_arg;
static int resolve_result; /* returned at once by resolve */

static void host_connect_fail_reason(const struct vr_flow *flow, const char *fmt, ...)
{
    (void)flow;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fail_reason, sizeof(fail_reason), fmt, ap);
    va_end(ap);
}

static int host_resolve(struct vr_instance *inst, const char *name, int family, vr_resolve_cb cb, void *arg,
                        void **pending)
{
    (void)inst;
    (void)family;
    resolves++;
    if (resolve_result < 0)
        return resolve_result;
    snprintf(resolved_name, sizeof(resolved_name), "%s", name);
    pending_cb = cb;
    pending_arg = arg;
    *pending = &pending_cb;
    return 0;
}

static void host_resolve_cancel(struct vr_instance *inst, void *pending)
{
    (void)inst;
    (void)pending;
    resolve_cancels++;
    pending_cb = NULL;
}

static struct vr_host host_with(bool resolver)
{
    struct vr_host h;
    memset(&h, 0, sizeof(h));
    h.size = sizeof(h);
    h.abi_major = 1;
    h.abi_minor = 1;
    h.connect_fail_reason = host_connect_fail_reason;
    if (resolver) {
        h.resolve = host_resolve;
        h.resolve_cancel = host_resolve_cancel;
    }
    return h;
}

/* ---- the scripted module connect: records each try; answers at once
 * with sync_result[i] when non-zero, else later through the test. */

#define MAX_TRIES 8
static struct sockaddr_storage tried[MAX_TRIES];
static uint32_t tried_flags[MAX_TRIES];
static int n_tried, inner_cancels;
static int sync_result[MAX_TRIES];
static vr_connect_cb inner_cb;
static void *inner_arg;

static int mod_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg, void **pending)
{
    (void)state;
    int i = n_tried++;
    tried[i] = flow->dst;
    tried_flags[i] = flow->flags;
    if (sync_result[i] != 0)
        return sync_result[i];
    inner_cb = cb;
    inner_arg = arg;
    *pending = &inner_cb;
    return 0;
}

static void mod_cancel(void *state, void *pending)
{
    (void)state;
    (void)pending;
    inner_cancels++;
    inner_cb = NULL;
}

/* ---- the outcome */
static int done_calls, done_fd, done_err;
static char done_reason[256];

static void on_done(void *arg, int fd, int err, const char *reason)
{
    (void)arg;
    done_calls++;
    done_fd = fd;
    done_err = err;
    snprintf(done_reason, sizeof(done_reason), "%s", reason ? reason : "");
}

static void reset(void)
{
    fail_reason[0] = resolved_name[0] = done_reason[0] = '\0';
    resolves = resolve_cancels = n_tried = inner_cancels = done_calls = 0;
    done_fd = done_err = 0;
    resolve_result = 0;
    memset(sync_result, 0, sizeof(sync_result));
    pending_cb = NULL;
    inner_cb = NULL;
}

static struct vr_flow fake_flow(void)
{
    struct vr_flow f;
    memset(&f, 0, sizeof(f));
    f.size = sizeof(f);
    f.network = VR_NET_TCP;
    f.id = 7;
    struct sockaddr_in *d = (struct sockaddr_in *)&f.dst;
    d->sin_family = AF_INET;
    inet_pton(AF_INET, "198.51.100.7", &d->sin_addr);
    d->sin_port = htons(22);
    f.domain = "ssh.example";
    f.flags = VR_FLOW_CONNECT_BY_NAME;
    return f;
}

static void answer(int err, int n)
{
    struct vr_resolved a[3];
    memset(a, 0, sizeof(a));
    a[0].family = AF_INET;
    inet_pton(AF_INET, "192.0.2.10", &a[0].addr.v4);
    a[1].family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::10", &a[1].addr.v6);
    a[2].family = AF_INET;
    inet_pton(AF_INET, "192.0.2.11", &a[2].addr.v4);
    vr_resolve_cb cb = pending_cb;
    pending_cb = NULL;
    cb(pending_arg, err, a, (size_t)n, 60);
}

static const char *ip_of(const struct sockaddr_storage *ss, char *buf)
{
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, INET6_ADDRSTRLEN);
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, INET6_ADDRSTRLEN);
    return buf;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                          : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

int main(void)
{
    struct vr_flow flow = fake_flow();
    struct vr_by_name *b = NULL;
    char ip[INET6_ADDRSTRLEN];

    CHECK(vr_by_name_wanted(&flow));
    struct vr_flow plain = flow;
    plain.flags = 0;
    CHECK(!vr_by_name_wanted(&plain));
    plain = flow;
    plain.size = (uint32_t)offsetof(struct vr_flow, flags); /* a 1.0 host: no flags field */
    CHECK(!vr_by_name_wanted(&plain));

    /* no resolver: fails at once with a reason; nothing connects anywhere */
    reset();
    struct vr_host h = host_with(false);
    CHECK(vr_by_name_start(&h, NULL, "direct", &flow, mod_connect, mod_cancel, NULL, on_done, NULL, &b) == -ENOSYS);
    CHECK_STR_CONTAINS(fail_reason, "direct: ssh.example: no resolver to connect by name");
    CHECK(n_tried == 0 && done_calls == 0);

    /* a resolver that says -ENOSYS at once (no dns block) */
    reset();
    h = host_with(true);
    resolve_result = -ENOSYS;
    CHECK(vr_by_name_start(&h, NULL, "direct", &flow, mod_connect, mod_cancel, NULL, on_done, NULL, &b) == -ENOSYS);
    CHECK_STR_CONTAINS(fail_reason, "cannot resolve ssh.example: no resolver (add a dns block)");
    CHECK(n_tried == 0);

    /* resolved: the first address at dst's port, flag cleared; it connects */
    reset();
    CHECK(vr_by_name_start(&h, NULL, "direct", &flow, mod_connect, mod_cancel, NULL, on_done, NULL, &b) == 0);
    CHECK(strcmp(resolved_name, "ssh.example") == 0 && done_calls == 0 && n_tried == 0);
    answer(0, 3);
    CHECK(n_tried == 1 && strcmp(ip_of(&tried[0], ip), "192.0.2.10") == 0 && port_of(&tried[0]) == 22);
    CHECK((tried_flags[0] & VR_FLOW_CONNECT_BY_NAME) == 0);
    inner_cb(inner_arg, 42, 0, NULL);
    CHECK(done_calls == 1 && done_fd == 42 && done_err == 0);

    /* the first fails later, the second at once, the third connects */
    reset();
    sync_result[1] = -ENETUNREACH;
    CHECK(vr_by_name_start(&h, NULL, "direct", &flow, mod_connect, mod_cancel, NULL, on_done, NULL, &b) == 0);
    answer(0, 3);
    inner_cb(inner_arg, -1, -ECONNREFUSED, "connection refused");
    CHECK(n_tried == 3);
    CHECK(strcmp(ip_of(&tried[1], ip), "2001:db8::10") == 0 && port_of(&tried[1]) == 22);
    CHECK(strcmp(ip_of(&tried[2], ip), "192.0.2.11") == 0);
    CHECK(done_calls == 0);
    inner_cb(inner_arg, 43, 0, NULL);
    CHECK(done_calls == 1 && done_fd == 43);

    /* every address fails: the last error, with the name and the count */
    reset();
    CHECK(vr_by_name_start(&h, NULL, "wireguard-bind wg0", &flow, mod_connect, mod_cancel, NULL, on_done, NULL, &b) ==
          0);
    answer(0, 1);
    inner_cb(inner_arg, -1, -ETIMEDOUT, "connect timeout");
    CHECK(done_calls == 1 && done_fd == -1 && done_err == -ETIMEDOUT);
    CHECK_STR_CONTAINS(done_reason, "wireguard-bind wg0: ssh.example (1 address, last 192.0.2.10): connect timeout");

    /* the name does not resolve */
    reset();
    CHECK(vr_by_name_start(&h, NULL, "direct", &flow, mod_connect, mod_cancel, NULL, on_done, NULL, &b) == 0);
    answer(-ENOENT, 0);
    CHECK(done_calls == 1 && done_err == -ENOENT && n_tried == 0);
    CHECK_STR_CONTAINS(done_reason, "direct: cannot resolve ssh.example: no such name or no address");

    /* cancelled while resolving, then while connecting: no callback after */
    reset();
    CHECK(vr_by_name_start(&h, NULL, "direct", &flow, mod_connect, mod_cancel, NULL, on_done, NULL, &b) == 0);
    vr_by_name_cancel(b);
    CHECK(resolve_cancels == 1 && done_calls == 0);
    reset();
    CHECK(vr_by_name_start(&h, NULL, "direct", &flow, mod_connect, mod_cancel, NULL, on_done, NULL, &b) == 0);
    answer(0, 2);
    vr_by_name_cancel(b);
    CHECK(inner_cancels == 1 && resolve_cancels == 0 && done_calls == 0);
    return vr_test_report();
}
