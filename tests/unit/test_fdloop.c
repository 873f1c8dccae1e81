/* The raw epoll loop (core/process/vr_fdloop.c) and what runs on it, on a
 * real libevent base with real sockets:
 * - a callback that closes another registered connection of the same batch
 *   (and reuses its fd number at once): the stale event is dropped, never
 *   delivered to the freed owner (ASan) or to the fd's new owner;
 * - a registration handed over (the new owner takes it, then the old one
 *   lets go, as direct's connect watch and the relay) costs one
 *   EPOLL_CTL_MOD (no DEL, no ADD); one let go of is deleted at once;
 * - the relay, edge-triggered, moves a transfer larger than VR_PUMP_ROUNDS
 *   calls take in one wakeup with no new edge to come (everything queued and
 *   the sender's FIN sent before the relay starts, the receiver reading only
 *   at the end), with pipes and with the copy fallback, while another relay
 *   runs beside it; a receiver that refuses bytes for a while gets every
 *   byte once it reads (EPOLLOUT asked for after the first EAGAIN); a
 *   client handed over with its FIN already reported gets it passed on;
 * - fd watches: level-triggered as the ABI says; VR_EV_ERROR with the events
 *   asked on a refused connect for a module built for 1.2, and the events of
 *   before (no new bit) for a 1.1 module. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vr_fdloop.h"
#include "vr_instance.h"
#include "vr_module.h"
#include "vr_pipepool.h"
#include "vr_relay.h"
#include "vr_test.h"
#include "vr_watch.h"

static struct event_base *base;
static struct vr_fdloop *loop;

static void run_for(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}


static void pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        exit(1);
    }
}

/* ---- one callback closes another connection of the same batch */

struct owner {
    int fd, peer;
    struct owner *other;
    int calls;
};

static int survivor_calls, newcomer_calls;
static struct owner *newcomer;

static void newcomer_cb(void *arg, int fd, uint32_t events)
{
    (void)arg;
    (void)fd;
    (void)events;
    newcomer_calls++;
}

static void killer_cb(void *arg, int fd, uint32_t events)
{
    (void)fd;
    (void)events;
    struct owner *o = arg;
    o->calls++;
    survivor_calls++;
    if (o->other == NULL)
        return;
    struct owner *victim = o->other;
    victim->other = NULL;
    o->other = NULL;
    int reused = victim->fd;
    vr_fdloop_forget(loop, victim->fd, victim);
    close(victim->fd);
    close(victim->peer);
    free(victim);
    /* The fd number comes back at once; its new owner must not get the
     * victim's event, which is still in this batch. */
    int sv[2];
    pair(sv);
    newcomer = calloc(1, sizeof(*newcomer));
    newcomer->fd = sv[0];
    newcomer->peer = sv[1];
    CHECK(sv[0] == reused || sv[1] == reused);
    if (sv[1] == reused) { /* register the reused number */
        newcomer->fd = sv[1];
        newcomer->peer = sv[0];
    }
    CHECK(vr_fdloop_add(loop, newcomer->fd, EPOLLOUT | EPOLLET, newcomer_cb, newcomer) == 0);
}

static void test_close_other_in_batch(void)
{
    struct owner *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    int sa[2], sb[2];
    pair(sa);
    pair(sb);
    a->fd = sa[0], a->peer = sa[1], b->fd = sb[0], b->peer = sb[1];
    a->other = b;
    b->other = a;
    CHECK(vr_fdloop_add(loop, a->fd, EPOLLIN, killer_cb, a) == 0);
    CHECK(vr_fdloop_add(loop, b->fd, EPOLLIN, killer_cb, b) == 0);
    struct vr_fdloop_stats before;
    vr_fdloop_stats(loop, &before);
    /* Both readable before the loop runs: one batch holds both. */
    CHECK(write(a->peer, "x", 1) == 1);
    CHECK(write(b->peer, "y", 1) == 1);
    survivor_calls = newcomer_calls = 0;
    run_for(20);
    struct vr_fdloop_stats after;
    vr_fdloop_stats(loop, &after);
    CHECK(after.dropped == before.dropped + 1); /* the victim's event */
    CHECK(newcomer != NULL);
    /* Level-triggered and never read: the survivor is called again on
     * every turn; the newcomer, edge-triggered and writable, exactly once
     * (its ADD's report), never for the victim's event. */
    CHECK(survivor_calls >= 1);
    CHECK(newcomer_calls == 1);
    struct owner *survivor = a->other == NULL && a->calls ? a : b;
    vr_fdloop_forget(loop, survivor->fd, survivor);
    close(survivor->fd);
    close(survivor->peer);
    free(survivor);
    vr_fdloop_forget(loop, newcomer->fd, newcomer);
    close(newcomer->fd);
    close(newcomer->peer);
    free(newcomer);
    newcomer = NULL;
}

/* ---- hand-over: the new owner takes the registration, the old one lets go */

static int giver_calls, taker_calls;
static bool take_over;

static void taker_cb(void *arg, int fd, uint32_t events)
{
    (void)arg;
    (void)fd;
    (void)events;
    taker_calls++;
}

/* As direct's connect watch: the socket goes to the relay first, then the
 * watch is removed. */
static void giver_cb(void *arg, int fd, uint32_t events)
{
    (void)events;
    giver_calls++;
    if (take_over)
        CHECK(vr_fdloop_add(loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, taker_cb, &taker_calls) == 0);
    vr_fdloop_del(loop, fd, arg);
}

static void test_hand_over(void)
{
    int sv[2];
    pair(sv);
    struct vr_fdloop_stats s0, s1, s2;
    /* Taken over: ADD at the start, then one MOD; the giver's del is a
     * no-op (not its registration any more). */
    take_over = true;
    giver_calls = taker_calls = 0;
    vr_fdloop_stats(loop, &s0);
    CHECK(vr_fdloop_add(loop, sv[0], EPOLLOUT, giver_cb, &giver_calls) == 0);
    run_for(20);
    vr_fdloop_stats(loop, &s1);
    CHECK(giver_calls == 1);
    CHECK(taker_calls == 1); /* the MOD reports the socket writable once (edge) */
    CHECK(s1.ctl_add - s0.ctl_add == 1);
    CHECK(s1.ctl_mod - s0.ctl_mod == 1);
    CHECK(s1.ctl_del - s0.ctl_del == 0);
    CHECK(vr_fdloop_active(loop, sv[0]));
    vr_fdloop_forget(loop, sv[0], &giver_calls); /* not its owner: no-op */
    CHECK(vr_fdloop_active(loop, sv[0]));
    vr_fdloop_forget(loop, sv[0], &taker_calls);
    CHECK(!vr_fdloop_active(loop, sv[0]));
    close(sv[0]);
    close(sv[1]);

    /* Not taken: deleted at once, and the writable (level-triggered)
     * socket is reported no more. */
    pair(sv);
    take_over = false;
    giver_calls = 0;
    CHECK(vr_fdloop_add(loop, sv[0], EPOLLOUT, giver_cb, &giver_calls) == 0);
    run_for(20);
    vr_fdloop_stats(loop, &s2);
    CHECK(giver_calls == 1);
    CHECK(s2.ctl_del - s1.ctl_del == 1);
    CHECK(!vr_fdloop_active(loop, sv[0]));
    close(sv[0]);
    close(sv[1]);
}

/* ---- the relay yields and goes on without a new edge */

struct relay_case {
    struct vr_relay r;
    int c_app, c_relay, s_relay, s_app;
    uint64_t last_active;
    bool done;
    int err;
};

static void relay_done(void *arg, int err)
{
    struct relay_case *rc = arg;
    rc->done = true;
    rc->err = err;
    vr_relay_stop(&rc->r);
    close(rc->c_relay);
    close(rc->s_relay);
}

static void big_buffers(int fd)
{
    int sz = 64 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static uint8_t pattern_at(size_t i) { return (uint8_t)(i * 131 + (i >> 12)); }

static void relay_case_open(struct relay_case *rc)
{
    memset(rc, 0, sizeof(*rc));
    int c[2], s[2];
    pair(c);
    pair(s);
    rc->c_app = c[0], rc->c_relay = c[1], rc->s_relay = s[0], rc->s_app = s[1];
    big_buffers(rc->c_app);
    big_buffers(rc->s_relay);
    big_buffers(rc->c_relay);
    big_buffers(rc->s_app);
}

static size_t fill(int fd, size_t want)
{
    static uint8_t chunk[65536];
    size_t done = 0;
    while (done < want) {
        size_t n = want - done < sizeof(chunk) ? want - done : sizeof(chunk);
        for (size_t i = 0; i < n; i++)
            chunk[i] = pattern_at(done + i);
        ssize_t w = write(fd, chunk, n);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    return done;
}

/* Reads fd to EOF; true when it got exactly len bytes of the pattern. */
static bool drain_check(int fd, size_t len)
{
    static uint8_t buf[65536];
    size_t got = 0;
    bool same = true;
    for (int idle = 0; idle < 2000;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0)
            break;
        if (n < 0) {
            if (errno != EAGAIN)
                return false;
            idle++;
            usleep(1000);
            continue;
        }
        for (ssize_t i = 0; i < n && same; i++)
            same = buf[i] == pattern_at(got + (size_t)i);
        got += (size_t)n;
    }
    return same && got == len;
}

static void relay_yield_case(struct vr_pipepool *pool, size_t want, const char *what)
{
    struct relay_case big, small;
    relay_case_open(&big);
    relay_case_open(&small);
    size_t queued = fill(big.c_app, want);
    if (queued < want)
        fprintf(stderr, "%s: only %zu of %zu bytes could be queued\n", what, queued, want);
    CHECK(queued == want);
    /* Everything is there before the relay starts and the sender has
     * finished: the registration's first report is the only edge. */
    shutdown(big.c_app, SHUT_WR);
    shutdown(big.s_app, SHUT_WR);
    const struct vr_relay_owner ob = {.done = relay_done, .arg = &big, .last_active_ms = &big.last_active};
    CHECK(vr_relay_start(&big.r, loop, pool, big.c_relay, big.s_relay, NULL, 0, &ob) == 0);
    /* Another connection, busy at the same time. */
    const struct vr_relay_owner os = {.done = relay_done, .arg = &small, .last_active_ms = &small.last_active};
    CHECK(vr_relay_start(&small.r, loop, pool, small.c_relay, small.s_relay, NULL, 0, &os) == 0);
    CHECK(write(small.c_app, "ping", 4) == 4);
    CHECK(write(small.s_app, "pong", 4) == 4);
    shutdown(small.c_app, SHUT_WR);
    shutdown(small.s_app, SHUT_WR);
    /* The receiver does not read until the end: no EPOLLOUT edge either. */
    for (int i = 0; i < 300 && !(big.done && small.done); i++)
        run_for(10);
    CHECK(big.done && big.err == 0);
    CHECK(small.done && small.err == 0);
    if (!big.done) {
        fprintf(stderr, "%s: relay stuck after %llu of %zu bytes\n", what,
                (unsigned long long)big.r.up.bytes, queued);
        relay_done(&big, -ETIMEDOUT);
    }
    if (!small.done)
        relay_done(&small, -ETIMEDOUT);
    CHECK(drain_check(big.s_app, queued));
    char b[8] = {0};
    CHECK(read(small.s_app, b, sizeof(b)) == 4 && memcmp(b, "ping", 4) == 0);
    CHECK(read(small.c_app, b, sizeof(b)) == 4 && memcmp(b, "pong", 4) == 0);
    close(big.c_app);
    close(big.s_app);
    close(small.c_app);
    close(small.s_app);
}

/* The receiver takes nothing for a while (its socket refuses bytes: EAGAIN,
 * then the registration asks for EPOLLOUT), then reads a bit at a time:
 * every byte arrives, then the FIN. */
static void test_relay_slow_receiver(void)
{
    struct vr_pipepool pool = {.max_open = 64};
    struct relay_case rc;
    relay_case_open(&rc);
    int small = 16384;
    setsockopt(rc.s_relay, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    size_t want = 3u << 20;
    CHECK(fill(rc.c_app, want) == want);
    shutdown(rc.c_app, SHUT_WR);
    shutdown(rc.s_app, SHUT_WR);
    const struct vr_relay_owner o = {.done = relay_done, .arg = &rc, .last_active_ms = &rc.last_active};
    CHECK(vr_relay_start(&rc.r, loop, &pool, rc.c_relay, rc.s_relay, NULL, 0, &o) == 0);
    run_for(50);
    CHECK(!rc.done);
    CHECK(rc.r.out_server); /* a send said EAGAIN: EPOLLOUT asked for */
    static uint8_t buf[8192];
    size_t got = 0;
    bool same = true, eof = false;
    for (int i = 0; i < 3000 && !eof; i++) {
        ssize_t n = read(rc.s_app, buf, sizeof(buf));
        if (n == 0)
            eof = true;
        for (ssize_t k = 0; k < n && same; k++)
            same = buf[k] == pattern_at(got + (size_t)k);
        if (n > 0)
            got += (size_t)n;
        else
            run_for(2);
    }
    CHECK(eof && same && got == want);
    CHECK(rc.done && rc.err == 0);
    if (!rc.done)
        relay_done(&rc, -ETIMEDOUT);
    close(rc.c_app);
    close(rc.s_app);
    vr_pipepool_clear(&pool);
}

/* A client registered by someone else (the sniff) with the relay's events,
 * whose bytes and FIN were reported to that owner before the relay took
 * the registration over: edge-triggered, no report comes again, so the
 * relay must read on to the FIN after the short read of the bytes. The
 * server side stays open (nothing else would wake the relay). */
static int handed_reports;
static uint32_t handed_events;

static void handed_cb(void *arg, int fd, uint32_t events)
{
    (void)arg;
    (void)fd;
    handed_reports++;
    handed_events |= events;
}

static void test_relay_takes_over_fin(void)
{
    struct vr_pipepool pool = {.max_open = 64};
    struct relay_case rc;
    relay_case_open(&rc);
    CHECK(vr_fdloop_add(loop, rc.c_relay, VR_RELAY_EVENTS, handed_cb, &handed_reports) == 0);
    CHECK(write(rc.c_app, "late", 4) == 4);
    shutdown(rc.c_app, SHUT_WR);
    handed_reports = 0;
    handed_events = 0;
    for (int i = 0; i < 20 && !(handed_events & EPOLLRDHUP); i++)
        run_for(5);
    CHECK(handed_reports >= 1 && (handed_events & EPOLLRDHUP));
    const struct vr_relay_owner o = {.done = relay_done,
                                     .arg = &rc,
                                     .last_active_ms = &rc.last_active,
                                     .client_registered = true,
                                     .client_readable = true,
                                     .client_rdhup = true};
    CHECK(vr_relay_start(&rc.r, loop, &pool, rc.c_relay, rc.s_relay, NULL, 0, &o) == 0);
    char b[16];
    ssize_t n = -1;
    for (int i = 0; i < 50 && n < 0; i++) {
        run_for(5);
        n = read(rc.s_app, b, sizeof(b));
    }
    CHECK(n == 4 && memcmp(b, "late", 4) == 0);
    n = -1;
    for (int i = 0; i < 50 && n < 0; i++) {
        run_for(5);
        n = read(rc.s_app, b, sizeof(b));
    }
    CHECK(n == 0); /* the FIN was passed on */
    CHECK(rc.r.up.shut && !rc.done);
    vr_relay_stop(&rc.r);
    close(rc.c_relay);
    close(rc.s_relay);
    close(rc.c_app);
    close(rc.s_app);
    vr_pipepool_clear(&pool);
}

static void test_relay_yield(void)
{
    /* With pipes: VR_PUMP_ROUNDS (16) calls per wakeup move at most
     * 8 x the pipe (256 KiB): 2 MiB. */
    struct vr_pipepool pool = {.max_open = 64};
    relay_yield_case(&pool, 6u << 20, "splice");
    vr_pipepool_clear(&pool);
    /* No pipe to lend: the copy path, 64 KiB per round. */
    struct vr_pipepool none = {.max_open = 0};
    relay_yield_case(&none, 3u << 20, "copy");
    CHECK(none.lent == 0);
    vr_pipepool_clear(&none);
}

/* ---- fd watches: level-triggered, and VR_EV_ERROR by the module's ABI */

static struct vr_module_desc desc;
static struct vr_module module = {.name = "fake", .desc = &desc};

struct watch_probe {
    int calls;
    unsigned last;
    struct vr_watch *w;
};

static void probe_cb(int fd, unsigned events, void *arg)
{
    (void)fd;
    struct watch_probe *p = arg;
    p->calls++;
    p->last = events;
}

static struct vr_instance *fake_instance(int abi_minor)
{
    desc.abi_major = VR_ABI_MAJOR;
    desc.abi_minor = (uint16_t)abi_minor;
    struct vr_instance *inst = calloc(1, sizeof(*inst));
    inst->module = &module;
    inst->base = base;
    inst->loop = loop;
    return inst;
}

static void free_instance(struct vr_instance *inst)
{
    while (inst->watches)
        vr_watch_free(inst->watches);
    free(inst);
}

/* A TCP socket connecting to a closed port on loopback: refused. */
static int refused_connect(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    bind(l, (struct sockaddr *)&a, sizeof(a));
    getsockname(l, (struct sockaddr *)&a, &len);
    close(l); /* the port is free now: nothing listens */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fd, (struct sockaddr *)&a, sizeof(a));
    return fd;
}

static void test_watch_error(int abi_minor)
{
    struct vr_instance *inst = fake_instance(abi_minor);
    struct watch_probe p = {0};
    int fd = refused_connect();
    p.w = vr_watch_new(inst, fd, VR_EV_WRITE, probe_cb, &p);
    CHECK(p.w != NULL);
    for (int i = 0; i < 50 && p.calls == 0; i++)
        run_for(10);
    CHECK(p.calls >= 1);
    if (abi_minor >= 2)
        CHECK(p.last == (VR_EV_WRITE | VR_EV_ERROR));
    else
        CHECK(p.last == VR_EV_WRITE); /* exactly what a 1.1 module got before */
    int err = 0;
    socklen_t len = sizeof(err);
    CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == ECONNREFUSED);
    free_instance(inst);
    close(fd);
}

static void test_watch_level(void)
{
    /* An old (1.1) module's read watch: called on every turn while
     * readable, paused by modify(0), back with modify(READ), gone with del. */
    struct vr_instance *inst = fake_instance(1);
    struct watch_probe p = {0};
    int sv[2];
    pair(sv);
    p.w = vr_watch_new(inst, sv[0], VR_EV_READ, probe_cb, &p);
    CHECK(p.w != NULL);
    CHECK(write(sv[1], "abc", 3) == 3);
    run_for(30);
    CHECK(p.calls >= 2); /* not drained: level-triggered */
    CHECK(p.last == VR_EV_READ);
    CHECK(vr_watch_modify(p.w, 0) == 0);
    run_for(10);
    int paused = p.calls;
    run_for(20);
    CHECK(p.calls == paused);
    CHECK(vr_watch_modify(p.w, VR_EV_READ) == 0);
    run_for(20);
    CHECK(p.calls > paused);
    /* A write watch on a writable socket, switched to read-only. */
    CHECK(vr_watch_modify(p.w, VR_EV_WRITE) == 0);
    p.last = 0;
    run_for(20);
    CHECK(p.last == VR_EV_WRITE);
    char b[8];
    CHECK(read(sv[0], b, sizeof(b)) == 3);
    CHECK(vr_watch_modify(p.w, VR_EV_READ) == 0);
    int now = p.calls;
    run_for(20);
    CHECK(p.calls == now); /* nothing to read, not asked to write */
    vr_watch_free(p.w);
    CHECK(inst->watches == NULL);
    CHECK(write(sv[1], "d", 1) == 1);
    run_for(20);
    CHECK(p.calls == now);
    free_instance(inst);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    base = event_base_new();
    loop = vr_fdloop_new(base);
    CHECK(loop != NULL);
    CHECK(vr_fdloop_of(base) == loop);
    test_close_other_in_batch();
    test_hand_over();
    test_relay_yield();
    test_relay_slow_receiver();
    test_relay_takes_over_fin();
    test_watch_error(2);
    test_watch_error(1);
    test_watch_level();
    vr_fdloop_free(loop);
    CHECK(vr_fdloop_of(base) == NULL);
    event_base_free(base);
    return vr_test_report();
}
