/* ecmp.so under the test host with scripted member outbounds. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "outb_testhost.h"
#include "vr_test.h"

static const struct vr_outbound_ops *ops;

/* ---- a scripted member outbound */

enum fake_mode { FAKE_OK, FAKE_FAIL, FAKE_STALL };

struct fake_pending {
    int used;
    struct fake *f;
    vr_connect_cb cb;
    void *arg;
    struct vr_timer *t;
};

struct fake {
    struct vr_instance *inst;
    enum fake_mode mode;
    int flows, probes, cancels;
    struct fake_pending p[64];
};

static void fake_complete(void *arg)
{
    struct fake_pending *p = arg;
    p->used = 0;
    if (p->f->mode == FAKE_OK) {
        int sv[2];
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
        close(sv[1]);
        p->cb(p->arg, sv[0], 0, NULL);
    } else {
        p->cb(p->arg, -1, -ECONNREFUSED, "fake: refused");
    }
}

static int fake_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                        void **pending)
{
    struct fake *f = state;
    if (flow->rule != NULL && strcmp(flow->rule, "health_check") == 0)
        f->probes++;
    else
        f->flows++;
    for (int i = 0; i < 64; i++) {
        struct fake_pending *p = &f->p[i];
        if (p->used)
            continue;
        *p = (struct fake_pending){1, f, cb, arg, NULL};
        if (f->mode != FAKE_STALL)
            p->t = th_host()->timer_add(f->inst, 1, 0, fake_complete, p);
        *pending = p;
        return 0;
    }
    return -ENOMEM;
}

static void fake_cancel(void *state, void *pending)
{
    struct fake *f = state;
    struct fake_pending *p = pending;
    f->cancels++;
    th_host()->timer_del(p->t);
    p->used = 0;
}

static const struct vr_outbound_ops fake_ops = {
    .size = sizeof(struct vr_outbound_ops),
    .tcp_connect = fake_connect,
    .tcp_cancel = fake_cancel,
};

static struct fake fakes[4];
static const char *const fake_tags[4] = {"a", "b", "c", "fb"};

static void fakes_reset(void)
{
    th_outbound_clear();
    for (int i = 0; i < 4; i++) {
        if (fakes[i].inst != NULL)
            th_instance_free(fakes[i].inst);
        memset(&fakes[i], 0, sizeof(fakes[i]));
        fakes[i].inst = th_instance_new(fake_tags[i], NULL);
        th_outbound_register(fake_tags[i], fakes[i].inst, &fake_ops, &fakes[i]);
    }
}

/* ---- driving ecmp */

struct result {
    int done, fd, err;
};

static void on_connect(void *arg, int fd, int err, const char *reason)
{
    struct result *r = arg;
    (void)reason;
    r->done = 1;
    r->fd = fd;
    r->err = err;
}

static struct vr_flow flow_n(int n)
{
    struct vr_flow f;
    memset(&f, 0, sizeof(f));
    f.size = sizeof(f);
    f.network = VR_NET_TCP;
    f.id = (uint64_t)n;
    f.rule = "final";
    struct sockaddr_in *s = (struct sockaddr_in *)&f.src, *d = (struct sockaddr_in *)&f.dst;
    s->sin_family = d->sin_family = AF_INET;
    s->sin_addr.s_addr = htonl(0xc6120102u);
    s->sin_port = htons((uint16_t)(20000 + n));
    d->sin_addr.s_addr = htonl(0xc6130202u);
    d->sin_port = htons(80);
    return f;
}

/* Runs n flows; returns how many succeeded. */
static int run_flows(void *st, int first, int n)
{
    int ok = 0;
    for (int i = first; i < first + n; i++) {
        struct vr_flow f = flow_n(i);
        struct result r = {0, -1, 0};
        void *pending;
        if (ops->tcp_connect(st, &f, on_connect, &r, &pending) < 0)
            continue;
        th_run_until(&r.done, 1000);
        if (r.done && r.fd >= 0) {
            ok++;
            close(r.fd);
        }
    }
    return ok;
}

static struct th_cfg *lb_cfg(int with_probe)
{
    struct th_cfg *c = th_cfg_new("outbounds.lb");
    const char *members[] = {"a", "b", "c"};
    const int64_t w[] = {2, 1, 1};
    th_cfg_list_str(c, "members", 3, members);
    th_cfg_list_int(c, "weights", 3, w);
    th_cfg_str(c, "hash", "flow");
    if (with_probe) {
        struct th_cfg *h = th_cfg_new("outbounds.lb.health_check");
        th_cfg_str(h, "target", "198.19.2.2:80");
        th_cfg_int(h, "interval_ms", 200);
        th_cfg_int(h, "timeout_ms", 100);
        th_cfg_int(h, "fall", 2);
        th_cfg_int(h, "rise", 2);
        th_cfg_group(c, "health_check", h);
    }
    return c;
}

static void *lb_create(struct th_cfg *c, struct vr_instance **inst)
{
    void *st = NULL;
    *inst = th_instance_new("lb", c);
    th_cfg_clear_error();
    if (ops->create(*inst, th_host(), &st) != 0) {
        th_instance_free(*inst);
        *inst = NULL;
        return NULL;
    }
    return st;
}

static void test_spread_and_member_health(void)
{
    fakes_reset();
    struct th_cfg *c = lb_cfg(0);
    struct vr_instance *inst;
    void *st = lb_create(c, &inst);
    CHECK(st != NULL && th_cfg_all_read(c));
    CHECK(run_flows(st, 0, 2000) == 2000);
    printf("spread over [2,1,1]: a=%d b=%d c=%d\n", fakes[0].flows, fakes[1].flows,
           fakes[2].flows);
    CHECK(fakes[0].flows > 850 && fakes[0].flows < 1150);
    CHECK(fakes[1].flows > 400 && fakes[1].flows < 600);
    CHECK(fakes[2].flows > 400 && fakes[2].flows < 600);
    CHECK(th_counter_get(inst, "member.a.flows") == fakes[0].flows);

    /* b reports itself unhealthy: no new flow goes to it, none fails. */
    int up = -1;
    const char *d = th_member_health(inst, "b", &up);
    CHECK(d != NULL && up == 1); /* reported at start */
    th_host()->health_set(fakes[1].inst, 0, "test: interface down");
    int before = fakes[1].flows;
    CHECK(run_flows(st, 2000, 400) == 400);
    CHECK(fakes[1].flows == before);
    /* ... and ecmp reported it at once (ABI 1.1 member_health), no probe needed */
    d = th_member_health(inst, "b", &up);
    CHECK(d != NULL && up == 0 && strstr(d, "reports itself unhealthy") != NULL);
    th_host()->health_set(fakes[1].inst, 1, "test: back");
    CHECK(run_flows(st, 2400, 400) == 400);
    CHECK(fakes[1].flows > before + 50);
    d = th_member_health(inst, "b", &up);
    CHECK(d != NULL && up == 1);

    /* b fails its connects while still claiming health: flows are retried
     * on another member and none fails. */
    fakes[1].mode = FAKE_FAIL;
    CHECK(run_flows(st, 3000, 400) == 400);
    CHECK(th_counter_get(inst, "member.b.failures") > 50);

    ops->destroy(st);
    th_instance_free(inst);
    th_cfg_free(c);
}

static void test_probes(void)
{
    fakes_reset();
    struct th_cfg *c = lb_cfg(1);
    struct vr_instance *inst;
    void *st = lb_create(c, &inst);
    CHECK(st != NULL && th_cfg_all_read(c));
    th_run_for(450);
    CHECK(fakes[0].probes >= 2 && fakes[1].probes >= 2 && fakes[2].probes >= 2);
    CHECK(th_counter_get(inst, "member.b.healthy") == 1);

    /* b starts failing: out within one interval (200 ms) plus the probe timeout. */
    th_log_clear();
    fakes[1].mode = FAKE_FAIL;
    th_run_for(200 + 100 + 50);
    CHECK(th_counter_get(inst, "member.b.healthy") == 0);
    CHECK(th_log_contains("member b down"));
    int before = fakes[1].flows;
    CHECK(run_flows(st, 0, 300) == 300);
    CHECK(fakes[1].flows == before);

    /* c stalls: its probes time out. */
    fakes[2].mode = FAKE_STALL;
    th_run_for(200 + 2 * 100 + 100);
    CHECK(th_counter_get(inst, "member.c.healthy") == 0);
    CHECK(fakes[2].cancels >= 1);

    /* b recovers after rise probes. */
    fakes[1].mode = FAKE_OK;
    th_run_for(2 * 200 + 150);
    CHECK(th_counter_get(inst, "member.b.healthy") == 1);
    CHECK(th_log_contains("member b up"));
    ops->destroy(st); /* cancels c's stalled probe */
    th_instance_free(inst);
    th_cfg_free(c);
}

static void test_all_down_and_fallback(void)
{
    fakes_reset();
    struct th_cfg *c = lb_cfg(0);
    struct vr_instance *inst;
    void *st = lb_create(c, &inst);
    for (int i = 0; i < 3; i++)
        th_host()->health_set(fakes[i].inst, 0, "test");
    th_log_clear();
    struct vr_flow f = flow_n(1);
    struct result r = {0, -1, 0};
    void *pending;
    th_connect_reason_clear();
    CHECK(ops->tcp_connect(st, &f, on_connect, &r, &pending) == -ENETUNREACH);
    CHECK(th_log_contains("no healthy member left, failing fast"));
    /* the reason for the close line, given at once (ABI 1.1) */
    CHECK_STR_CONTAINS(th_connect_reason(f.id), "ecmp lb: no healthy member left");
    CHECK(th_counter_get(inst, "no_member") == 1);
    ops->destroy(st);
    th_instance_free(inst);
    th_cfg_free(c);

    c = lb_cfg(0);
    th_cfg_str(c, "fallback", "fb");
    st = lb_create(c, &inst);
    CHECK(st != NULL);
    CHECK(run_flows(st, 0, 10) == 10);
    CHECK(fakes[3].flows == 10 && th_counter_get(inst, "fallback_flows") == 10);

    /* cancel a pending connect: the member's connect is cancelled too */
    th_host()->health_set(fakes[0].inst, 1, "test");
    fakes[0].mode = FAKE_STALL;
    r.done = 0;
    CHECK(ops->tcp_connect(st, &f, on_connect, &r, &pending) == 0);
    ops->tcp_cancel(st, pending);
    CHECK(fakes[0].cancels == 1);
    th_run_for(20);
    CHECK(r.done == 0);
    ops->destroy(st);
    th_instance_free(inst);
    th_cfg_free(c);
}

static void expect_cfg_error(struct th_cfg *c, const char *needle)
{
    struct vr_instance *inst;
    void *st = lb_create(c, &inst);
    CHECK(st == NULL);
    CHECK_STR_CONTAINS(th_cfg_last_error(), needle);
    th_cfg_free(c);
}

static void test_config_errors(void)
{
    fakes_reset();
    struct th_cfg *c = th_cfg_new("outbounds.lb");
    const char *m1[] = {"a", "nope"};
    th_cfg_list_str(c, "members", 2, m1);
    expect_cfg_error(c, "no outbound with tag \"nope\"");

    c = th_cfg_new("outbounds.lb");
    const char *m2[] = {"a", "b"};
    const int64_t w3[] = {1, 2, 3};
    th_cfg_list_str(c, "members", 2, m2);
    th_cfg_list_int(c, "weights", 3, w3);
    expect_cfg_error(c, "weights: has 3 entries but members has 2");

    c = th_cfg_new("outbounds.lb");
    th_cfg_list_str(c, "members", 2, m2);
    th_cfg_str(c, "hash", "random");
    expect_cfg_error(c, "hash: \"random\": expected \"flow\", \"source\" or \"round-robin\"");

    c = th_cfg_new("outbounds.lb");
    th_cfg_list_str(c, "members", 2, m2);
    struct th_cfg *h = th_cfg_new("outbounds.lb.health_check");
    th_cfg_str(h, "target", "198.19.2.2");
    th_cfg_group(c, "health_check", h);
    expect_cfg_error(c, "target: \"198.19.2.2\" is not IP:PORT");

    c = th_cfg_new("outbounds.lb");
    const char *m3[] = {"a", "a"};
    th_cfg_list_str(c, "members", 2, m3);
    expect_cfg_error(c, "\"a\" is listed twice");

    c = th_cfg_new("outbounds.lb");
    expect_cfg_error(c, "members: missing");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s ecmp.so\n", argv[0]);
        return 2;
    }
    ops = th_load_outbound(argv[1]);
    CHECK(ops != NULL);
    if (ops == NULL)
        return vr_test_report();
    test_config_errors();
    test_spread_and_member_health();
    test_probes();
    test_all_down_and_fallback();
    for (int i = 0; i < 4; i++)
        th_instance_free(fakes[i].inst);
    return vr_test_report();
}
