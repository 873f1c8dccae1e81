/* wireguard-bind.so under the test host, in a private network namespace
 * with a veth interface standing in for the tunnel: netlink tracking of
 * missing / up / down / no address, fail-fast reasons, health reports,
 * the source address of a connect through the interface, config errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "outb_testhost.h"
#include "vr_test.h"

static const struct vr_outbound_ops *ops;

struct result {
    int done, fd, err, sync;
    char reason[256];
};

static void on_connect(void *arg, int fd, int err, const char *reason)
{
    struct result *r = arg;
    r->done = 1;
    r->fd = fd;
    r->err = err;
    snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
}

static struct vr_flow flow_to(const char *ip, uint16_t port)
{
    struct vr_flow f;
    memset(&f, 0, sizeof(f));
    f.size = sizeof(f);
    f.network = VR_NET_TCP;
    f.id = 7;
    struct sockaddr_in *d = (struct sockaddr_in *)&f.dst;
    d->sin_family = AF_INET;
    d->sin_port = htons(port);
    inet_pton(AF_INET, ip, &d->sin_addr);
    return f;
}

static struct result connect_once(void *st, const char *ip, uint16_t port)
{
    struct result r = {0, -1, 0, 0, ""};
    struct vr_flow f = flow_to(ip, port);
    void *pending;
    th_connect_reason_clear();
    int rc = ops->tcp_connect(st, &f, on_connect, &r, &pending);
    CHECK(r.done == 0); /* never from inside tcp_connect */
    if (rc == 0) {
        th_run_until(&r.done, 2000);
    } else {
        /* failed at once: the reason comes through host->connect_fail_reason */
        const char *why = th_connect_reason(f.id);
        r.done = 1;
        r.err = rc;
        snprintf(r.reason, sizeof(r.reason), "%s", why ? why : "");
        r.sync = 1;
    }
    return r;
}

static int sh(const char *cmd)
{
    int r = system(cmd);
    if (r != 0)
        fprintf(stderr, "command failed: %s\n", cmd);
    return r;
}

/* Lets netlink events arrive. */
static void settle(void) { th_run_for(100); }

static void test_lifecycle(void)
{
    struct th_cfg *c = th_cfg_new("outbounds.wg1");
    th_cfg_str(c, "interface", "wgt0");
    th_cfg_int(c, "routing_mark", 0x501);
    th_cfg_int(c, "connect_timeout_ms", 300);
    struct vr_instance *inst = th_instance_new("wg1", c);
    void *st = NULL;
    CHECK(ops->create(inst, th_host(), &st) == 0);
    CHECK(th_cfg_all_read(c));
    if (st == NULL)
        return;

    /* missing */
    CHECK(th_instance_healthy(inst) == 0);
    struct result r = connect_once(st, "198.18.254.2", 80);
    CHECK(r.done && r.err == -ENETDOWN);
    CHECK(r.sync); /* at once, no 0 ms timer: the reason through connect_fail_reason */
    CHECK_STR_CONTAINS(r.reason, "wireguard-bind wgt0: interface wgt0 does not exist");

    /* appears, with an address, down */
    sh("ip link add wgt0 type veth peer name wgt0p && ip link set wgt0p up && ip addr add 198.18.254.1/24 dev wgt0");
    settle();
    CHECK(th_instance_healthy(inst) == 0);
    r = connect_once(st, "198.18.254.2", 80);
    CHECK_STR_CONTAINS(r.reason, "interface wgt0 is down");

    /* up: healthy without any reload */
    sh("ip link set wgt0 up");
    settle();
    CHECK(th_instance_healthy(inst) == 1);
    CHECK(th_log_contains("interface wgt0 is up"));

    /* a connect through it is bound to the device and its address: a local
     * listener on the interface's address sees that source */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(8080)};
    inet_pton(AF_INET, "198.18.254.1", &la.sin_addr);
    CHECK(bind(l, (struct sockaddr *)&la, sizeof(la)) == 0 && listen(l, 4) == 0);
    r = connect_once(st, "198.18.254.1", 8080);
    CHECK(r.done && r.fd >= 0);
    if (r.fd >= 0) {
        struct sockaddr_in me;
        socklen_t ml = sizeof(me);
        char ifn[32] = "";
        socklen_t il = sizeof(ifn);
        uint32_t mark = 0;
        socklen_t mkl = sizeof(mark);
        getsockname(r.fd, (struct sockaddr *)&me, &ml);
        getsockopt(r.fd, SOL_SOCKET, SO_BINDTODEVICE, ifn, &il);
        getsockopt(r.fd, SOL_SOCKET, SO_MARK, &mark, &mkl);
        CHECK(me.sin_addr.s_addr == la.sin_addr.s_addr);
        CHECK(strcmp(ifn, "wgt0") == 0);
        CHECK(mark == 0x501);
        close(r.fd);
    }
    close(l);

    /* nobody answers behind the veth: the connect timeout applies */
    r = connect_once(st, "198.18.254.2", 80);
    CHECK(r.done && r.err == -ETIMEDOUT);
    CHECK_STR_CONTAINS(r.reason, "connect timeout after 300 ms");

    /* no IPv6 address: an IPv6 flow fails fast with that reason */
    struct vr_flow f6;
    memset(&f6, 0, sizeof(f6));
    f6.size = sizeof(f6);
    struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&f6.dst;
    d6->sin6_family = AF_INET6;
    d6->sin6_port = htons(80);
    inet_pton(AF_INET6, "2001:db8:254::2", &d6->sin6_addr);
    f6.id = 9;
    struct result r6 = {0, -1, 0, 0, ""};
    void *pending;
    th_connect_reason_clear();
    CHECK(ops->tcp_connect(st, &f6, on_connect, &r6, &pending) == -EADDRNOTAVAIL && r6.done == 0);
    CHECK_STR_CONTAINS(th_connect_reason(9), "no IPv6 address");

    /* down again: fails fast, unhealthy; and it comes back */
    sh("ip link set wgt0 down");
    settle();
    CHECK(th_instance_healthy(inst) == 0);
    r = connect_once(st, "198.18.254.2", 80);
    CHECK(r.err == -ENETDOWN);
    CHECK_STR_CONTAINS(r.reason, "is down");
    sh("ip link set wgt0 up");
    settle();
    CHECK(th_instance_healthy(inst) == 1);

    /* address removed */
    sh("ip addr flush dev wgt0");
    settle();
    CHECK(th_instance_healthy(inst) == 0);
    r = connect_once(st, "198.18.254.2", 80);
    CHECK_STR_CONTAINS(r.reason, "has no address");

    /* deleted and re-created */
    sh("ip link del wgt0");
    settle();
    r = connect_once(st, "198.18.254.2", 80);
    CHECK_STR_CONTAINS(r.reason, "does not exist");
    sh("ip link add wgt0 type veth peer name wgt0p && ip link set wgt0p up && ip addr add 198.18.254.1/24 dev wgt0 && ip link set wgt0 up");
    settle();
    CHECK(th_instance_healthy(inst) == 1);

    /* a pending connect is cancelled and one left at destroy is freed */
    struct vr_flow f = flow_to("198.18.254.2", 80);
    struct result rc = {0, -1, 0, 0, ""};
    CHECK(ops->tcp_connect(st, &f, on_connect, &rc, &pending) == 0);
    ops->tcp_cancel(st, pending);
    CHECK(ops->tcp_connect(st, &f, on_connect, &rc, &pending) == 0);
    ops->destroy(st);
    CHECK(rc.done == 0);
    th_instance_free(inst);
    th_cfg_free(c);
    sh("ip link del wgt0");
}

static void test_source_address(void)
{
    sh("ip link add wgt1 type veth peer name wgt1p && ip link set wgt1p up && ip addr add 198.18.253.1/24 dev wgt1 && "
       "ip addr add 198.18.253.7/24 dev wgt1 && ip link set wgt1 up");
    struct th_cfg *c = th_cfg_new("outbounds.wg2");
    th_cfg_str(c, "interface", "wgt1");
    th_cfg_str(c, "source_address", "198.18.253.7");
    struct vr_instance *inst = th_instance_new("wg2", c);
    void *st = NULL;
    CHECK(ops->create(inst, th_host(), &st) == 0);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(8081)};
    inet_pton(AF_INET, "198.18.253.1", &la.sin_addr);
    CHECK(bind(l, (struct sockaddr *)&la, sizeof(la)) == 0 && listen(l, 4) == 0);
    struct result r = connect_once(st, "198.18.253.1", 8081);
    CHECK(r.fd >= 0);
    if (r.fd >= 0) {
        struct sockaddr_in me;
        socklen_t ml = sizeof(me);
        getsockname(r.fd, (struct sockaddr *)&me, &ml);
        char a[32];
        inet_ntop(AF_INET, &me.sin_addr, a, sizeof(a));
        CHECK(strcmp(a, "198.18.253.7") == 0);
        close(r.fd);
    }
    close(l);
    ops->destroy(st);
    th_instance_free(inst);
    th_cfg_free(c);
    sh("ip link del wgt1");
}

static void test_config_errors(void)
{
    struct th_cfg *c = th_cfg_new("outbounds.wg");
    struct vr_instance *inst = th_instance_new("wg", c);
    void *st;
    CHECK(ops->create(inst, th_host(), &st) == -EINVAL);
    CHECK_STR_CONTAINS(th_cfg_last_error(), "interface: missing");
    th_cfg_free(c);
    th_instance_free(inst);

    c = th_cfg_new("outbounds.wg");
    th_cfg_str(c, "interface", "a-very-long-interface-name");
    inst = th_instance_new("wg", c);
    CHECK(ops->create(inst, th_host(), &st) == -EINVAL);
    CHECK_STR_CONTAINS(th_cfg_last_error(), "is not a valid interface name");
    th_cfg_free(c);
    th_instance_free(inst);

    c = th_cfg_new("outbounds.wg");
    th_cfg_str(c, "interface", "wg0");
    th_cfg_str(c, "source_address", "tunnel");
    inst = th_instance_new("wg", c);
    CHECK(ops->create(inst, th_host(), &st) == -EINVAL);
    CHECK_STR_CONTAINS(th_cfg_last_error(), "source_address: \"tunnel\" is not an IPv4 or IPv6");
    th_cfg_free(c);
    th_instance_free(inst);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s wireguard-bind.so\n", argv[0]);
        return 2;
    }
    int r = th_netns_private();
    if (r < 0) {
        fprintf(stderr, "cannot make a private network namespace: %s\n", strerror(-r));
        return 1;
    }
    ops = th_load_outbound(argv[1]);
    CHECK(ops != NULL);
    if (ops == NULL)
        return vr_test_report();
    test_config_errors();
    test_lifecycle();
    test_source_address();
    return vr_test_report();
}
