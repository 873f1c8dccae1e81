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

static char last_log[512];

static void host_log(const struct vr_instance *inst, int level, const char *fmt, ...)
{
    (void)inst;
    (void)level;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_log, sizeof(last_log), fmt, ap);
    va_end(ap);
}

static struct vr_host host_with(bool resolver)
{
    struct vr_host h;
    memset(&h, 0, sizeof(h));
    h.size = sizeof(h);
    h.abi_major = 1;
    h.abi_minor = 1;
    h.connect_fail_reason = host_connect_fail_reason;
    h.log = host_log;
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

/* ---- UDP: the scripted module's association */

static int udp_opens, udp_closes, n_sent;
static uint32_t udp_open_flags;
static struct sockaddr_storage udp_open_dst, sent_to[64];
static vr_udp_recv_cb inner_recv;
static void *inner_recv_arg;
static int inner_assoc_token;

static int mod_udp_open(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg, void **assoc)
{
    (void)state;
    udp_opens++;
    udp_open_flags = flow->flags;
    udp_open_dst = flow->dst;
    inner_recv = cb;
    inner_recv_arg = arg;
    *assoc = &inner_assoc_token;
    return 0;
}

static int mod_udp_send(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen, const uint8_t *data,
                        size_t len)
{
    (void)state;
    (void)data;
    (void)len;
    if (assoc != &inner_assoc_token || n_sent == 64)
        return -EINVAL;
    memset(&sent_to[n_sent], 0, sizeof(sent_to[0]));
    memcpy(&sent_to[n_sent++], dst, dstlen);
    return 0;
}

static void mod_udp_close(void *state, void *assoc)
{
    (void)state;
    (void)assoc;
    udp_closes++;
}

static const struct vr_by_name_udp_ops mod_udp = {mod_udp_open, mod_udp_send, mod_udp_close};

/* What the core's callback was given. */
static int got_calls, got_err;
static struct sockaddr_storage got_from;
static bool got_data;

static void on_udp(void *arg, const struct sockaddr *from, socklen_t fromlen, const uint8_t *data, size_t len, int err)
{
    (void)arg;
    (void)len;
    got_calls++;
    got_err = err;
    got_data = data != NULL;
    memset(&got_from, 0, sizeof(got_from));
    if (from)
        memcpy(&got_from, from, fromlen);
}

static void reset_udp(void)
{
    reset();
    udp_opens = udp_closes = n_sent = got_calls = got_err = 0;
    got_data = false;
    last_log[0] = '\0';
}

static struct sockaddr_storage addr(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &s6->sin6_addr);
        s6->sin6_port = htons(port);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &s4->sin_addr);
        s4->sin_port = htons(port);
    }
    return ss;
}

static int send_to(struct vr_by_name_udp *u, const char *ip, uint16_t port)
{
    struct sockaddr_storage d = addr(ip, port);
    static const uint8_t payload[100];
    return vr_by_name_udp_send(u, (const struct sockaddr *)&d,
                               d.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
                               payload, sizeof(payload));
}

static void test_udp(void)
{
    char ip[INET6_ADDRSTRLEN];
    struct vr_flow flow = fake_flow();
    flow.network = VR_NET_UDP;
    flow.domain = "echo.example";
    ((struct sockaddr_in *)&flow.dst)->sin_port = htons(53);
    struct vr_by_name_udp *u = NULL;

    /* no resolver: refused at open, logged, no association */
    reset_udp();
    struct vr_host h = host_with(false);
    CHECK(vr_by_name_udp_open(&h, NULL, "direct", &flow, &mod_udp, NULL, on_udp, NULL, &u) == -ENOSYS);
    CHECK(udp_opens == 0);
    CHECK_STR_CONTAINS(last_log, "direct: UDP to echo.example: no resolver to send by name");

    /* datagrams to the fake address wait for the name, then go to its
     * address (of the fake's family) at their own port */
    reset_udp();
    h = host_with(true);
    CHECK(vr_by_name_udp_open(&h, NULL, "direct", &flow, &mod_udp, NULL, on_udp, NULL, &u) == 0);
    CHECK(udp_opens == 1 && (udp_open_flags & VR_FLOW_CONNECT_BY_NAME) == 0);
    CHECK(strcmp(resolved_name, "echo.example") == 0);
    CHECK(send_to(u, "198.51.100.7", 53) == 0 && send_to(u, "198.51.100.7", 53) == 0);
    CHECK(n_sent == 0); /* held: never toward the fake address */
    answer(0, 3);
    CHECK(n_sent == 2);
    CHECK(strcmp(ip_of(&sent_to[0], ip), "192.0.2.10") == 0 && port_of(&sent_to[0]) == 53);
    CHECK(send_to(u, "198.51.100.7", 5353) == 0);
    CHECK(n_sent == 3 && strcmp(ip_of(&sent_to[2], ip), "192.0.2.10") == 0 && port_of(&sent_to[2]) == 5353);
    /* another remote of the session passes unchanged */
    CHECK(send_to(u, "192.0.2.99", 7) == 0 && strcmp(ip_of(&sent_to[3], ip), "192.0.2.99") == 0);
    /* a reply from the name's address comes from the fake one */
    struct sockaddr_storage from = addr("192.0.2.10", 53);
    static const uint8_t reply[8];
    inner_recv(inner_recv_arg, (const struct sockaddr *)&from, sizeof(struct sockaddr_in), reply, sizeof(reply), 0);
    CHECK(got_calls == 1 && got_data && strcmp(ip_of(&got_from, ip), "198.51.100.7") == 0 && port_of(&got_from) == 53);
    from = addr("192.0.2.99", 7);
    inner_recv(inner_recv_arg, (const struct sockaddr *)&from, sizeof(struct sockaddr_in), reply, sizeof(reply), 0);
    CHECK(got_calls == 2 && strcmp(ip_of(&got_from, ip), "192.0.2.99") == 0);
    vr_by_name_udp_close(u);
    CHECK(udp_closes == 1 && resolve_cancels == 0);

    /* an IPv6 fake address takes the name's IPv6 address though IPv4 comes first */
    reset_udp();
    struct vr_flow flow6 = flow;
    struct sockaddr_storage d6 = addr("2001:db8:fa::7", 53);
    flow6.dst = d6;
    CHECK(vr_by_name_udp_open(&h, NULL, "direct", &flow6, &mod_udp, NULL, on_udp, NULL, &u) == 0);
    answer(0, 3);
    CHECK(send_to(u, "2001:db8:fa::7", 53) == 0 && n_sent == 1 && strcmp(ip_of(&sent_to[0], ip), "2001:db8::10") == 0);
    vr_by_name_udp_close(u);

    /* at most 32 datagrams wait */
    reset_udp();
    CHECK(vr_by_name_udp_open(&h, NULL, "direct", &flow, &mod_udp, NULL, on_udp, NULL, &u) == 0);
    int ok = 0;
    for (int i = 0; i < 32; i++)
        ok += send_to(u, "198.51.100.7", 53) == 0;
    CHECK(ok == 32 && send_to(u, "198.51.100.7", 53) == -ENOBUFS);
    /* closed while resolving: the lookup is cancelled, the held freed */
    vr_by_name_udp_close(u);
    CHECK(resolve_cancels == 1 && udp_closes == 1 && n_sent == 0);

    /* the name does not resolve: the association ends, sends fail */
    reset_udp();
    CHECK(vr_by_name_udp_open(&h, NULL, "wireguard-bind wg0", &flow, &mod_udp, NULL, on_udp, NULL, &u) == 0);
    CHECK(send_to(u, "198.51.100.7", 53) == 0);
    answer(-ENOENT, 0);
    CHECK(got_calls == 1 && !got_data && got_err == -ENOENT && n_sent == 0);
    CHECK_STR_CONTAINS(last_log, "wireguard-bind wg0: UDP: cannot resolve echo.example: no such name or no address");
    CHECK(send_to(u, "198.51.100.7", 53) == -EHOSTUNREACH);
    vr_by_name_udp_close(u);
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
    test_udp();
    return vr_test_report();
}
