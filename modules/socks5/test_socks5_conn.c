/* socks5.so under the test host, against scripted servers (a thread with
 * blocking sockets) in a private network namespace: good servers, servers
 * that refuse, lie, stall or close; cancel; UDP ASSOCIATE. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "outb_testhost.h"
#include "vr_test.h"

#define SRV_ADDR "198.18.255.1"

static const struct vr_outbound_ops *ops;
static int listen_fd;
static uint16_t listen_port;

/* ---- the scripted server */

struct script {
    const char *method;     /* sent after the greeting; NULL: stop there */
    size_t mlen;
    const char *auth;       /* sent after the auth request (when asked) */
    size_t alen;
    const char *reply;      /* sent after the request */
    size_t rlen;
    const char *data;       /* sent right after the reply (destination bytes) */
    int close_at_stop;      /* at the first NULL step: close (else stall) */
    /* what the server received */
    uint8_t got_auth[600];
    size_t got_auth_len;
    uint8_t got_req[300];
    size_t got_req_len;
    volatile int conn_fd; /* the accepted connection, for the test to shut */
};

static ssize_t srv_read(int fd, uint8_t *b, size_t cap)
{
    ssize_t n = recv(fd, b, cap, 0);
    return n;
}

static void *srv_main(void *arg)
{
    struct script *s = arg;
    int c = accept(listen_fd, NULL, NULL);
    if (c < 0)
        return NULL;
    s->conn_fd = c;
    struct timeval tv = {3, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    uint8_t b[600];
    if (srv_read(c, b, 3) != 3 || s->method == NULL)
        goto stop;
    send(c, s->method, s->mlen, MSG_NOSIGNAL);
    if (s->auth != NULL) {
        ssize_t n = srv_read(c, s->got_auth, sizeof(s->got_auth));
        if (n <= 0)
            goto stop;
        s->got_auth_len = (size_t)n;
        send(c, s->auth, s->alen, MSG_NOSIGNAL);
    }
    ssize_t n = srv_read(c, s->got_req, sizeof(s->got_req));
    if (n <= 0 || s->reply == NULL)
        goto stop;
    s->got_req_len = (size_t)n;
    send(c, s->reply, s->rlen, MSG_NOSIGNAL);
    if (s->data != NULL)
        send(c, s->data, strlen(s->data), MSG_NOSIGNAL);
stop:
    if (!s->close_at_stop) {
        /* stall until the client goes away (or 3 s) */
        while (recv(c, b, sizeof(b), 0) > 0)
            ;
    }
    close(c);
    return NULL;
}

/* ---- the module side */

struct result {
    int done;
    int fd;
    int err;
    char reason[256];
};

static void on_connect(void *arg, int fd, int err, const char *reason)
{
    struct result *r = arg;
    r->done++;
    r->fd = fd;
    r->err = err;
    snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
}

static struct th_cfg *base_cfg(int64_t port)
{
    struct th_cfg *c = th_cfg_new("outbounds.proxy");
    th_cfg_str(c, "server", SRV_ADDR);
    th_cfg_int(c, "port", port);
    th_cfg_int(c, "handshake_timeout_ms", 300);
    th_cfg_int(c, "connect_timeout_ms", 300);
    return c;
}

static struct vr_flow make_flow(const char *dst, uint16_t port, const char *domain)
{
    struct vr_flow f;
    memset(&f, 0, sizeof(f));
    f.size = sizeof(f);
    f.network = VR_NET_TCP;
    f.id = 42;
    struct sockaddr_in *in = (struct sockaddr_in *)&f.dst;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, dst, &in->sin_addr);
    f.domain = domain;
    return f;
}

/* Runs one connect against the script; returns the result. */
static struct result run(struct script *s, struct th_cfg *cfg, const char *domain)
{
    struct result r = {0, -1, 0, ""};
    pthread_t t;
    pthread_create(&t, NULL, srv_main, s);
    struct vr_instance *inst = th_instance_new("proxy", cfg);
    void *st = NULL;
    if (ops->create(inst, th_host(), &st) != 0) {
        fprintf(stderr, "create failed: %s\n", th_cfg_last_error());
        r.err = -999;
    } else {
        struct vr_flow f = make_flow("198.19.2.2", 80, domain);
        void *pending = NULL;
        int rc = ops->tcp_connect(st, &f, on_connect, &r, &pending);
        CHECK(rc == 0);
        CHECK(r.done == 0); /* never from inside tcp_connect */
        if (rc == 0)
            th_run_until(&r.done, 2000);
        ops->destroy(st);
    }
    th_instance_free(inst);
    pthread_join(t, NULL);
    th_cfg_free(cfg);
    return r;
}

static void test_ok_ipv4(void)
{
    struct script s = {.method = "\x05\x00", .mlen = 2,
                       .reply = "\x05\x00\x00\x01\xc6\x12\xff\x01\x04\x38", .rlen = 10,
                       .data = "hello", .close_at_stop = 1};
    struct result r = run(&s, base_cfg(listen_port), NULL);
    CHECK(r.done == 1 && r.fd >= 0 && r.err == 0);
    CHECK(s.got_req_len == 10 && memcmp(s.got_req, "\x05\x01\x00\x01\xc6\x13\x02\x02\x00\x50", 10) == 0);
    if (r.fd >= 0) {
        /* The bytes after the reply are the destination's: still in the socket. */
        char b[16] = {0};
        for (int i = 0; i < 50 && recv(r.fd, b, sizeof(b) - 1, 0) < 0; i++)
            usleep(10000);
        CHECK(strcmp(b, "hello") == 0);
        close(r.fd);
    }
}

static void test_ok_auth_domain(void)
{
    struct script s = {.method = "\x05\x02", .mlen = 2, .auth = "\x01\x00", .alen = 2,
                       .reply = "\x05\x00\x00\x03\x03" "a.b" "\x00\x50", .rlen = 10,
                       .close_at_stop = 1};
    struct th_cfg *c = base_cfg(listen_port);
    th_cfg_str(c, "username", "user");
    th_cfg_str(c, "password", "secret");
    struct result r = run(&s, c, "www.example.org");
    CHECK(r.done == 1 && r.fd >= 0);
    CHECK(s.got_auth_len == 13 && memcmp(s.got_auth, "\x01\x04user\x06secret", 13) == 0);
    CHECK(s.got_req_len == 7 + 15 && s.got_req[3] == 3 && s.got_req[4] == 15 &&
          memcmp(s.got_req + 5, "www.example.org", 15) == 0);
    if (r.fd >= 0)
        close(r.fd);
}

static void test_send_domain_off(void)
{
    struct script s = {.method = "\x05\x00", .mlen = 2,
                       .reply = "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", .rlen = 10,
                       .close_at_stop = 1};
    struct th_cfg *c = base_cfg(listen_port);
    th_cfg_bool(c, "send_domain", 0);
    struct result r = run(&s, c, "www.example.org");
    CHECK(r.done == 1 && r.fd >= 0 && s.got_req_len == 10 && s.got_req[3] == 1);
    if (r.fd >= 0)
        close(r.fd);
}

/* send_domain = "verified" with the system resolver: "localhost" (from
 * /etc/hosts) is sent as a name for a flow to 127.0.0.1, as the address
 * for a flow elsewhere. */
static struct result run_verified(struct script *s, const char *dst)
{
    struct result r = {0, -1, 0, ""};
    pthread_t t;
    pthread_create(&t, NULL, srv_main, s);
    struct th_cfg *c = base_cfg(listen_port);
    th_cfg_str(c, "send_domain", "verified");
    struct vr_instance *inst = th_instance_new("proxy", c);
    void *st = NULL;
    CHECK(ops->create(inst, th_host(), &st) == 0);
    struct vr_flow f = make_flow(dst, 80, "localhost");
    void *pending = NULL;
    CHECK(ops->tcp_connect(st, &f, on_connect, &r, &pending) == 0);
    CHECK(r.done == 0);
    th_run_until(&r.done, 3000);
    ops->destroy(st);
    th_instance_free(inst);
    pthread_join(t, NULL);
    th_cfg_free(c);
    return r;
}

static void test_send_domain_verified(void)
{
    struct script s = {.method = "\x05\x00", .mlen = 2,
                       .reply = "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", .rlen = 10,
                       .close_at_stop = 1};
    struct result r = run_verified(&s, "127.0.0.1");
    CHECK(r.done == 1 && r.fd >= 0);
    CHECK(s.got_req_len == 7 + 9 && s.got_req[3] == 3 && memcmp(s.got_req + 5, "localhost", 9) == 0);
    if (r.fd >= 0)
        close(r.fd);

    struct script s2 = s;
    s2.got_req_len = 0;
    th_log_clear();
    r = run_verified(&s2, "198.19.2.2");
    CHECK(r.done == 1 && r.fd >= 0);
    CHECK(s2.got_req_len == 10 && s2.got_req[3] == 1);
    CHECK(th_log_contains("not sending \"localhost\" for destination 198.19.2.2"));
    if (r.fd >= 0)
        close(r.fd);

    /* Cancelled or destroyed while the name is being looked up: silent, no
     * leak (ASan), no handshake started. */
    struct th_cfg *c = base_cfg(listen_port);
    th_cfg_str(c, "send_domain", "verified");
    struct vr_instance *inst = th_instance_new("proxy", c);
    void *st = NULL;
    CHECK(ops->create(inst, th_host(), &st) == 0);
    struct result r1 = {0, -1, 0, ""}, r2 = {0, -1, 0, ""};
    struct vr_flow f = make_flow("127.0.0.1", 80, "localhost");
    void *p1, *p2;
    CHECK(ops->tcp_connect(st, &f, on_connect, &r1, &p1) == 0);
    ops->tcp_cancel(st, p1);
    CHECK(ops->tcp_connect(st, &f, on_connect, &r2, &p2) == 0);
    ops->destroy(st);
    th_run_for(50);
    CHECK(r1.done == 0 && r2.done == 0);
    th_instance_free(inst);
    th_cfg_free(c);

    /* only true, false or "verified" */
    c = base_cfg(listen_port);
    th_cfg_str(c, "send_domain", "maybe");
    inst = th_instance_new("proxy", c);
    th_cfg_clear_error();
    CHECK(ops->create(inst, th_host(), &st) == -EINVAL);
    CHECK_STR_CONTAINS(th_cfg_last_error(), "send_domain: \"maybe\" is not a choice");
    th_instance_free(inst);
    th_cfg_free(c);
}

/* A failing script: the connection fails once, with a reason naming it. */
static void check_fail(const char *what, struct script *s, struct th_cfg *cfg, int err,
                       const char *needle)
{
    th_log_clear();
    struct result r = run(s, cfg, NULL);
    fprintf(stderr, "  %s -> %d %s\n", what, r.err, r.reason);
    CHECK(r.done == 1 && r.fd == -1);
    if (err != 0)
        CHECK(r.err == err);
    else
        CHECK(r.err < 0);
    CHECK_STR_CONTAINS(r.reason, needle);
    CHECK(th_log_contains(needle)); /* and a log line saying it */
}

static void test_failures(void)
{
    struct script refused = {.method = "\x05\x00", .mlen = 2,
                             .reply = "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", .rlen = 10,
                             .close_at_stop = 1};
    check_fail("refused", &refused, base_cfg(listen_port), -ECONNREFUSED,
               "server refused: connection refused (0x05)");

    struct script badver = {.method = "\x04\x00", .mlen = 2, .close_at_stop = 1};
    check_fail("wrong version", &badver, base_cfg(listen_port), -EPROTO, "wrong version");

    struct script longer = {.method = "\x05\x00\x00\x00", .mlen = 4, .close_at_stop = 1};
    check_fail("longer", &longer, base_cfg(listen_port), -EPROTO, "longer than expected");

    struct script badatyp = {.method = "\x05\x00", .mlen = 2,
                             .reply = "\x05\x00\x00\x09\x00\x00\x00\x00\x00\x00", .rlen = 10,
                             .close_at_stop = 1};
    check_fail("bad atyp", &badatyp, base_cfg(listen_port), -EPROTO, "bad address type");

    struct script trunc = {.method = "\x05\x00", .mlen = 2, .reply = "\x05\x00\x00\x01\xc6",
                           .rlen = 5, .close_at_stop = 1};
    check_fail("truncated", &trunc, base_cfg(listen_port), -EPROTO, "truncated request reply");

    struct script stall = {.method = NULL, .close_at_stop = 0};
    check_fail("stall", &stall, base_cfg(listen_port), -ETIMEDOUT,
               "server stalled: no method selection within 300 ms");

    struct script closes = {.method = NULL, .close_at_stop = 1};
    check_fail("close", &closes, base_cfg(listen_port), -ECONNRESET,
               "server closed the connection during method selection");

    struct script noauth = {.method = "\x05\x02", .mlen = 2, .auth = "\x01\x01", .alen = 2,
                            .close_at_stop = 1};
    struct th_cfg *c = base_cfg(listen_port);
    th_cfg_str(c, "username", "user");
    th_cfg_str(c, "password", "wrong");
    check_fail("auth", &noauth, c, -EACCES, "authentication failed");

    struct script nomethod = {.method = "\x05\xff", .mlen = 2, .close_at_stop = 1};
    check_fail("no method", &nomethod, base_cfg(listen_port), -EPROTO,
               "no acceptable authentication method");
}

/* The handshake deadline cannot be armed (timer_add fails, as under memory
 * pressure): the handshake fails at once instead of waiting forever on a
 * server that never answers. */
static void test_handshake_timer_fails(void)
{
    struct script stall = {.method = NULL, .close_at_stop = 0};
    th_timer_add_fail_at(2); /* the connect deadline is armed, the handshake's is not */
    check_fail("no handshake timer", &stall, base_cfg(listen_port), -ENOMEM,
               "cannot arm the handshake timer");
    th_timer_add_fail_at(0);
}

static void test_connect_refused(void)
{
    /* Nothing listens on port 1: the kernel refuses. */
    struct th_cfg *c = base_cfg(1);
    struct vr_instance *inst = th_instance_new("proxy", c);
    void *st = NULL;
    CHECK(ops->create(inst, th_host(), &st) == 0);
    struct result r = {0, -1, 0, ""};
    struct vr_flow f = make_flow("198.19.2.2", 80, NULL);
    void *pending;
    CHECK(ops->tcp_connect(st, &f, on_connect, &r, &pending) == 0);
    th_run_until(&r.done, 2000);
    CHECK(r.done == 1 && r.err == -ECONNREFUSED);
    CHECK_STR_CONTAINS(r.reason, "connect to server failed");
    CHECK(th_counter_get(inst, "connect_failures") == 1);
    ops->destroy(st);
    th_instance_free(inst);
    th_cfg_free(c);
}

static void test_cancel_and_destroy(void)
{
    struct script stall = {.method = NULL, .close_at_stop = 0};
    pthread_t t;
    pthread_create(&t, NULL, srv_main, &stall);
    struct th_cfg *c = base_cfg(listen_port);
    struct vr_instance *inst = th_instance_new("proxy", c);
    void *st = NULL;
    CHECK(ops->create(inst, th_host(), &st) == 0);
    struct result r1 = {0, -1, 0, ""}, r2 = {0, -1, 0, ""};
    struct vr_flow f = make_flow("198.19.2.2", 80, NULL);
    void *p1, *p2;
    CHECK(ops->tcp_connect(st, &f, on_connect, &r1, &p1) == 0);
    th_run_for(50);
    ops->tcp_cancel(st, p1);
    th_run_for(400); /* past the handshake timeout: a cancelled connect stays silent */
    CHECK(r1.done == 0);
    /* A pending connect left at destroy is freed (ASan checks for leaks). */
    CHECK(ops->tcp_connect(st, &f, on_connect, &r2, &p2) == 0);
    ops->destroy(st);
    CHECK(r2.done == 0);
    th_instance_free(inst);
    th_cfg_free(c);
    pthread_join(t, NULL);
    /* Take the second (now closed) connection out of the backlog. */
    struct script drain = {.method = NULL, .close_at_stop = 0};
    pthread_create(&t, NULL, srv_main, &drain);
    pthread_join(t, NULL);
}

static void test_config_errors(void)
{
    struct th_cfg *c = th_cfg_new("outbounds.proxy");
    th_cfg_str(c, "server", "proxy.example");
    struct vr_instance *inst = th_instance_new("proxy", c);
    void *st = NULL;
    th_cfg_clear_error();
    CHECK(ops->create(inst, th_host(), &st) == -EINVAL);
    CHECK_STR_CONTAINS(th_cfg_last_error(), "server: \"proxy.example\" is not an IPv4 or IPv6");
    th_cfg_free(c);
    th_instance_free(inst);

    c = base_cfg(70000);
    inst = th_instance_new("proxy", c);
    CHECK(ops->create(inst, th_host(), &st) == -EINVAL);
    CHECK_STR_CONTAINS(th_cfg_last_error(), "port: must be between 1 and 65535");
    th_cfg_free(c);
    th_instance_free(inst);

    c = base_cfg(1080);
    th_cfg_str(c, "username", "u");
    inst = th_instance_new("proxy", c);
    CHECK(ops->create(inst, th_host(), &st) == -EINVAL);
    CHECK_STR_CONTAINS(th_cfg_last_error(), "username and password go together");
    th_cfg_free(c);
    th_instance_free(inst);

    c = base_cfg(1080);
    th_cfg_int(c, "udp_associate_rate", -1);
    inst = th_instance_new("proxy", c);
    CHECK(ops->create(inst, th_host(), &st) == -EINVAL);
    CHECK_STR_CONTAINS(th_cfg_last_error(), "udp_associate_rate: must be between 0 and 100000");
    th_cfg_free(c);
    th_instance_free(inst);

    /* Every key of a full block is read (none would be reported unknown). */
    c = base_cfg(1080);
    th_cfg_str(c, "username", "u");
    th_cfg_str(c, "password", "p");
    th_cfg_bool(c, "send_domain", 1);
    th_cfg_int(c, "routing_mark", 0x501);
    th_cfg_bool(c, "udp_reject_private", 0);
    th_cfg_int(c, "udp_associate_rate", 0);
    inst = th_instance_new("proxy", c);
    CHECK(ops->create(inst, th_host(), &st) == 0);
    CHECK(th_cfg_all_read(c));
    ops->destroy(st);
    th_cfg_free(c);
    th_instance_free(inst);
}

/* ---- UDP ASSOCIATE */

struct udp_rx {
    int n, ended, err;
    uint8_t data[64];
    size_t len;
    struct sockaddr_storage from;
};

static void on_udp(void *arg, const struct sockaddr *from, socklen_t fl, const uint8_t *data,
                   size_t len, int err)
{
    struct udp_rx *u = arg;
    if (data == NULL) {
        u->ended = 1;
        u->err = err;
        return;
    }
    u->n++;
    memcpy(&u->from, from, fl);
    u->len = len < sizeof(u->data) ? len : sizeof(u->data);
    memcpy(u->data, data, u->len);
}

/* A scripted server answering UDP ASSOCIATE with reply (10 bytes), an
 * instance of the module, and one association for a flow to
 * 198.19.2.2:53. */
struct udp_case {
    struct script s;
    pthread_t t;
    struct th_cfg *c;
    struct vr_instance *inst;
    void *st, *assoc;
    struct vr_flow f;
    struct udp_rx rx;
};

static void udp_case_open(struct udp_case *k, const char *reply)
{
    memset(k, 0, sizeof(*k));
    k->s = (struct script){.method = "\x05\x00", .mlen = 2, .reply = reply, .rlen = 10, .close_at_stop = 0};
    pthread_create(&k->t, NULL, srv_main, &k->s);
    k->c = base_cfg(listen_port);
    k->inst = th_instance_new("proxy", k->c);
    CHECK(ops->create(k->inst, th_host(), &k->st) == 0);
    k->f = make_flow("198.19.2.2", 53, NULL);
    k->f.network = VR_NET_UDP;
    CHECK(ops->udp_open(k->st, &k->f, on_udp, &k->rx, &k->assoc) == 0);
}

/* udp_send of a string to the flow's destination. */
static int udp_case_send(struct udp_case *k, const char *data)
{
    return ops->udp_send(k->st, k->assoc, (struct sockaddr *)&k->f.dst, sizeof(struct sockaddr_in),
                         (const uint8_t *)data, strlen(data));
}

static void udp_case_close(struct udp_case *k)
{
    ops->udp_close(k->st, k->assoc);
    ops->destroy(k->st);
    th_instance_free(k->inst);
    th_cfg_free(k->c);
    pthread_join(k->t, NULL); /* the server saw the control connection close */
}

/* A UDP socket of the test on SRV_ADDR, port chosen by the kernel, its
 * address in *a. */
static int udp_socket_on_server(struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    *a = (struct sockaddr_in){.sin_family = AF_INET};
    inet_pton(AF_INET, SRV_ADDR, &a->sin_addr);
    bind(fd, (struct sockaddr *)a, sizeof(*a));
    socklen_t al = sizeof(*a);
    getsockname(fd, (struct sockaddr *)a, &al);
    return fd;
}

static void test_udp_associate(void)
{
    /* The relay: a UDP socket of the test, announced in the reply. */
    struct sockaddr_in ra;
    int relay = udp_socket_on_server(&ra);
    struct timeval tv = {2, 0};
    setsockopt(relay, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    char reply[10] = {5, 0, 0, 1, 0, 0, 0, 0}; /* BND.ADDR 0.0.0.0: use the server's */
    memcpy(reply + 8, &ra.sin_port, 2);
    struct udp_case k;
    udp_case_open(&k, reply);
    /* Sent before the association is ready: queued, then delivered. */
    CHECK(udp_case_send(&k, "query") == 0);
    th_run_for(200);
    CHECK(k.s.got_req_len == 10 && k.s.got_req[1] == 3);
    uint8_t b[128];
    struct sockaddr_in peer;
    socklen_t pl = sizeof(peer);
    ssize_t n = recvfrom(relay, b, sizeof(b), 0, (struct sockaddr *)&peer, &pl);
    CHECK(n == 15 && memcmp(b, "\x00\x00\x00\x01\xc6\x13\x02\x02\x00\x35query", 15) == 0);

    /* A reply from 198.19.2.2:53 comes back decapsulated. */
    memcpy(b + 10, "answer", 6);
    sendto(relay, b, 16, 0, (struct sockaddr *)&peer, pl);
    /* A fragment is dropped and counted. */
    b[2] = 1;
    sendto(relay, b, 16, 0, (struct sockaddr *)&peer, pl);
    for (int i = 0; i < 20 && th_counter_get(k.inst, "udp_fragments_dropped") < 1; i++)
        th_run_for(20);
    CHECK(k.rx.n == 1 && k.rx.len == 6 && memcmp(k.rx.data, "answer", 6) == 0);
    CHECK(k.rx.from.ss_family == AF_INET &&
          ntohs(((struct sockaddr_in *)&k.rx.from)->sin_port) == 53);
    CHECK(th_counter_get(k.inst, "udp_fragments_dropped") == 1);

    /* The association ends with its control connection. */
    CHECK(k.rx.ended == 0);
    shutdown(k.s.conn_fd, SHUT_RDWR);
    th_run_until(&k.rx.ended, 2000);
    CHECK(k.rx.ended == 1 && k.rx.err == -ECONNRESET);
    CHECK(udp_case_send(&k, "late") == -ENOTCONN);
    udp_case_close(&k);
    close(relay);
}

/* The server names a relay port where nothing listens: the ICMP port
 * unreachable that the first datagram draws ends the association (instead
 * of every datagram vanishing until the session idles out). */
static void test_udp_relay_refused(void)
{
    struct sockaddr_in ra;
    close(udp_socket_on_server(&ra)); /* a port that was just free: nothing listens there now */

    char reply[10] = {5, 0, 0, 1};
    memcpy(reply + 4, &ra.sin_addr, 4);
    memcpy(reply + 8, &ra.sin_port, 2);
    struct udp_case k;
    udp_case_open(&k, reply);
    /* queued while the handshake runs, flushed to the missing relay */
    CHECK(udp_case_send(&k, "query") == 0);
    th_run_until(&k.rx.ended, 2000);
    CHECK(k.rx.ended == 1 && k.rx.err == -ECONNREFUSED);
    CHECK(k.rx.n == 0);
    CHECK(udp_case_send(&k, "late") == -ENOTCONN);
    udp_case_close(&k);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s socks5.so\n", argv[0]);
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
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in la = {.sin_family = AF_INET};
    inet_pton(AF_INET, SRV_ADDR, &la.sin_addr);
    socklen_t ll = sizeof(la);
    if (bind(listen_fd, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(listen_fd, 8) < 0 ||
        getsockname(listen_fd, (struct sockaddr *)&la, &ll) < 0) {
        perror("listen");
        return 1;
    }
    listen_port = ntohs(la.sin_port);

    test_config_errors();
    test_ok_ipv4();
    test_ok_auth_domain();
    test_send_domain_off();
    test_send_domain_verified();
    test_failures();
    test_handshake_timer_fails();
    test_connect_refused();
    test_cancel_and_destroy();
    test_udp_associate();
    test_udp_relay_refused();
    close(listen_fd);
    return vr_test_report();
}
