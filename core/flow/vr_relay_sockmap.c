#include "vr_relay_sockmap.h"

#include <errno.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vr_log.h"
#include "vr_sockmap.h"
#include "vr_watch.h"

/* Reads per call while taking what sits in a socket before it joins; a read
 * shorter than this emptied the queue (no segment left half read). */
#define VR_JOIN_READ (256 * 1024)
/* More than this already queued: relay with splice instead of copying it. */
#define VR_JOIN_READ_MAX (8u * 1024 * 1024)
/* A FIN waits for the kernel to hand on the bytes before it: looked at
 * again after this, doubling. */
#define VR_FIN_WAIT_FIRST_MS 1
#define VR_FIN_WAIT_MAX_MS 64
/* tcpi_state of an established connection (linux/tcp.h does not name the
 * states; netinet/tcp.h would clash with its struct tcp_info). */
#define VR_TCP_ESTABLISHED 1

enum { SIDE_CLIENT, SIDE_SERVER };

/* Fall-backs to splice, by why (all workers; rare, so one shared counter). */
enum { FALLBACK_FIN, FALLBACK_QUEUED, FALLBACK_FULL, FALLBACK_OTHER, FALLBACK_N };
static _Atomic uint64_t fallbacks[FALLBACK_N];

static void count_fallback(int why)
{
    atomic_fetch_add_explicit(&fallbacks[why], 1, memory_order_relaxed);
}

void vr_relay_sockmap_fallbacks(struct vr_relay_sockmap_fallbacks *out)
{
    out->fin = atomic_load_explicit(&fallbacks[FALLBACK_FIN], memory_order_relaxed);
    out->queued = atomic_load_explicit(&fallbacks[FALLBACK_QUEUED], memory_order_relaxed);
    out->full = atomic_load_explicit(&fallbacks[FALLBACK_FULL], memory_order_relaxed);
    out->other = atomic_load_explicit(&fallbacks[FALLBACK_OTHER], memory_order_relaxed);
}

struct vr_relay_kernel {
    struct vr_sockmap *sm;
    struct vr_sockmap_pair pair;
    struct event *fin_timer;
    uint64_t base[2];       /* written() of each socket when the kernel took over */
    uint64_t head_sent[2];  /* bytes userspace wrote to each socket before that */
    uint64_t moved;         /* the program's byte counts at the last vr_relay_sockmap_moved */
    uint32_t fin_wait_ms;
    bool joined;
    bool fin_sent[2];       /* shutdown(SHUT_WR) done on socket i (its FIN is one more byte of sequence) */
    bool quiet[2];          /* socket i's end was seen: now watched edge-triggered, for an error only */
    struct vr_relay_owner owner; /* for a fall-back to splice */
    struct vr_fdloop *loop;      /* where the splice relay would run */
    bool sockets_stay;           /* stopped for a fall-back to splice, not for the close */
};

static int side_fd(const struct vr_relay *r, int side)
{
    return side == SIDE_CLIENT ? r->up.from : r->down.from;
}

/* The direction whose bytes come from side. */
static struct vr_relay_dir *dir_from(struct vr_relay *r, int side)
{
    return side == SIDE_CLIENT ? &r->up : &r->down;
}

/* Bytes ever put into fd's send queue: acked ones and those still queued;
 * state (may be NULL): the TCP state. */
static int written_state(int fd, uint64_t *out, uint8_t *state)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    int outq = 0;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || ioctl(fd, SIOCOUTQ, &outq) < 0)
        return -errno;
    *out = ti.tcpi_bytes_acked + (uint64_t)(outq > 0 ? outq : 0);
    if (state)
        *state = ti.tcpi_state;
    return 0;
}

static int written(int fd, uint64_t *out)
{
    return written_state(fd, out, NULL);
}

/* line: where it ended, for the debug log. */
static void finish_at(struct vr_relay *r, int err, int line)
{
    if (r->finished)
        return;
    if (err < 0)
        vr_debug("sockmap: relay ends at vr_relay_sockmap.c:%d: %s", line, strerror(-err));
    r->finished = true;
    event_del(r->ev_client);
    event_del(r->ev_server);
    if (r->kernel->fin_timer)
        event_del(r->kernel->fin_timer);
    vr_relay_sockmap_sync(r);
    r->done(r->arg, err);
}

#define finish(r, err) finish_at(r, err, __LINE__)

static void sock_event(evutil_socket_t fd, short what, void *arg);

static int watch(struct vr_relay *r, int side, short what)
{
    struct event *ev = side == SIDE_CLIENT ? r->ev_client : r->ev_server;
    event_del(ev);
    if (what == 0)
        return 0;
    event_assign(ev, event_get_base(ev), side_fd(r, side), (short)(what | EV_PERSIST), sock_event, r);
    return event_add(ev, NULL) < 0 ? -ENOMEM : 0;
}

/* Reads of step 2 land here first: most connections have nothing queued,
 * and one per thread costs no allocation per connection. */
static _Thread_local uint8_t join_buf[VR_JOIN_READ];

/* Step 2: what sits in side's receive queue, appended to the bytes for the
 * other side. Returns 0, 1 at its FIN, or a negative errno. */
static int take_queued(struct vr_relay_dir *d)
{
    for (;;) {
        ssize_t n = recv(d->from, join_buf, sizeof(join_buf), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        }
        if (n == 0)
            return 1;
        uint8_t *b = realloc(d->buf, (size_t)d->buf_len + (size_t)n);
        if (b == NULL)
            return -ENOMEM;
        memcpy(b + d->buf_len, join_buf, (size_t)n);
        d->buf = b;
        d->buf_len += (uint32_t)n;
        if ((size_t)n < sizeof(join_buf))
            return 0;
        if (d->buf_len >= VR_JOIN_READ_MAX)
            return -ENOBUFS; /* the caller hands it to splice, read bytes and all */
    }
}

/* Writes what userspace holds for d's receiver. Returns 0 when all is
 * written, 1 when the receiver is full, or a negative errno. */
static int flush_head(struct vr_relay *r, struct vr_relay_dir *d, int to_side)
{
    while (d->buf && d->buf_off < d->buf_len) {
        ssize_t n = send(d->to, d->buf + d->buf_off, d->buf_len - d->buf_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -errno;
        }
        d->buf_off += (uint32_t)n;
        d->bytes += (uint64_t)n;
        r->kernel->head_sent[to_side] += (uint64_t)n;
    }
    free(d->buf);
    d->buf = NULL;
    d->buf_len = d->buf_off = 0;
    return 0;
}

static bool check_end(struct vr_relay *r, int side);

/* A socket past ESTABLISHED (its FIN came before the join) cannot enter a
 * sockhash: the splice relay goes on from here, the counts kept. */
static void fall_back_to_splice(struct vr_relay *r)
{
    struct vr_fdloop *loop = r->kernel->loop;
    struct vr_pipepool *pool = r->pool;
    struct vr_relay_owner owner = r->kernel->owner;
    uint64_t up = r->up.bytes, down = r->down.bytes;
    int client_fd = r->up.from, server_fd = r->down.from;
    r->kernel->sockets_stay = true;
    vr_relay_stop(r); /* no verdict ran: nothing is in the kernel's queues */
    int err = vr_relay_start_after(r, loop, pool, client_fd, server_fd, NULL, 0, &owner, up, down, NULL, 0);
    if (err < 0)
        owner.done(owner.arg, err);
}

/* Hands a pair that has not joined yet to the splice relay: what userspace
 * already read from either side (the sniffed head, bytes taken in step 2)
 * is sent first, nothing was in the kernel's hands. */
static int splice_instead(struct vr_relay *r, struct vr_fdloop *loop, struct vr_pipepool *pool,
                          const struct vr_relay_owner *owner, bool *fell_back)
{
    int client_fd = r->up.from, server_fd = r->down.from;
    uint8_t *up = r->up.buf, *down = r->down.buf;
    size_t up_len = r->up.buf_len, down_len = r->down.buf_len;
    r->up.buf = r->down.buf = NULL;
    r->up.buf_len = r->down.buf_len = 0;
    r->kernel->sockets_stay = true;
    vr_relay_stop(r);
    *fell_back = true;
    return vr_relay_start_after(r, loop, pool, client_fd, server_fd, up, up_len, owner, 0, 0, down, down_len);
}

/* Step 3, once both heads are written. */
static void join(struct vr_relay *r)
{
    struct vr_relay_kernel *k = r->kernel;
    int err = 0;
    bool established = true;
    for (int side = 0; side < 2 && err == 0; side++) {
        uint8_t state = 0;
        err = written_state(side_fd(r, side), &k->base[side], &state);
        established = established && state == VR_TCP_ESTABLISHED;
    }
    if (err == 0 && !established) {
        vr_debug("sockmap: a socket's FIN came before the join: relayed with splice");
        count_fallback(FALLBACK_FIN);
        fall_back_to_splice(r);
        return;
    }
    if (err == 0)
        err = vr_sockmap_attach(k->sm, &k->pair);
    if (err == -EOPNOTSUPP) {
        /* A FIN came between the look above and the insert. The server's
         * socket goes in first: if it was the one refused, or the client's
         * was and the server's verdict has not moved a byte yet, no byte
         * is in the kernel's hands and splice takes over cleanly. */
        bool server_in = k->pair.verdict[SIDE_SERVER];
        if (!server_in || vr_sockmap_bytes(k->sm, &k->pair, SIDE_SERVER) == 0) {
            vr_sockmap_detach(k->sm, &k->pair);
            vr_debug("sockmap: a socket's FIN came while joining: relayed with splice");
            count_fallback(FALLBACK_FIN);
            fall_back_to_splice(r);
            return;
        }
        /* The server's bytes are already on their way in the kernel: the
         * client, whose FIN came, stays outside the verdict and its last
         * bytes go through userspace (check_end). */
        vr_debug("sockmap: the client's FIN came while joining: its last bytes go through userspace");
        err = 0;
    }
    if (err == 0)
        err = watch(r, SIDE_CLIENT, EV_READ | EV_CLOSED);
    if (err == 0)
        err = watch(r, SIDE_SERVER, EV_READ | EV_CLOSED);
    if (err < 0) {
        vr_debug("sockmap: cannot join a pair: %s", strerror(-err));
        finish(r, err);
        return;
    }
    k->joined = true;
    /* A FIN (or RST) may have come before the join: look now. */
    if (!check_end(r, SIDE_SERVER))
        check_end(r, SIDE_CLIENT);
}

/* Writes the heads; joins when both are out, else waits for room. */
static void flush_and_join(struct vr_relay *r)
{
    int up = flush_head(r, &r->up, SIDE_SERVER);
    int down = up < 0 ? 0 : flush_head(r, &r->down, SIDE_CLIENT);
    if (up < 0 || down < 0) {
        finish(r, up < 0 ? up : down);
        return;
    }
    if (up == 0 && down == 0) {
        join(r);
        return;
    }
    if (watch(r, SIDE_SERVER, up ? EV_WRITE : 0) < 0 || watch(r, SIDE_CLIENT, down ? EV_WRITE : 0) < 0)
        finish(r, -ENOMEM);
}

static void fin_timer_cb(evutil_socket_t fd, short what, void *arg);

/* Bytes the kernel took from the other side for socket `to` that `to` has
 * not taken yet (in the kernel's queue toward it). A negative errno when
 * some are pending and `to` has an error: they will never be taken. As
 * with splice, an error on a socket that nothing is owed to does not end
 * the relay (a server that resets after its FIN while its answer is still
 * on the way to the client). */
static int64_t owed_to(struct vr_relay *r, int to)
{
    struct vr_relay_kernel *k = r->kernel;
    uint64_t relayed = vr_sockmap_bytes(k->sm, &k->pair, 1 - to);
    uint64_t w = 0;
    int err = written(side_fd(r, to), &w);
    if (err < 0)
        return err;
    uint64_t taken = w - k->base[to] - (k->fin_sent[to] ? 1 : 0);
    if (taken >= relayed)
        return 0;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(side_fd(r, to), SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0)
        return -soerr;
    return (int64_t)(relayed - taken);
}

/* Passes side's FIN on once the other socket has taken every byte the
 * kernel took from side. */
static bool pass_fin(struct vr_relay *r, int side)
{
    struct vr_relay_kernel *k = r->kernel;
    struct vr_relay_dir *d = dir_from(r, side);
    struct vr_relay_dir *o = dir_from(r, 1 - side);
    int to = 1 - side;
    int64_t owed = owed_to(r, to);
    if (owed < 0) {
        finish(r, (int)owed);
        return true;
    }
    if (owed > 0) {
        /* Still in the kernel's queue toward the other side: look again. */
        k->fin_wait_ms = k->fin_wait_ms ? k->fin_wait_ms * 2 : VR_FIN_WAIT_FIRST_MS;
        if (k->fin_wait_ms > VR_FIN_WAIT_MAX_MS)
            k->fin_wait_ms = VR_FIN_WAIT_MAX_MS;
        struct timeval tv = {0, (suseconds_t)k->fin_wait_ms * 1000};
        if (evtimer_add(k->fin_timer, &tv) < 0) {
            finish(r, -ENOMEM);
            return true;
        }
        return false;
    }
    k->fin_wait_ms = 0;
    d->shut = true;
    if (o->eof && o->shut) {
        /* Both ways done: the owner closes both sockets, and close() sends
         * this FIN (as in the splice relay). */
        finish(r, 0);
        return true;
    }
    shutdown(side_fd(r, to), SHUT_WR);
    k->fin_sent[to] = true;
    return false;
}

static void fin_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_relay *r = arg;
    for (int side = 0; side < 2; side++) {
        struct vr_relay_dir *d = dir_from(r, side);
        if (d->eof && !d->shut && !evtimer_pending(r->kernel->fin_timer, NULL) && pass_fin(r, side))
            return; /* ended: r is gone */
    }
}

/* A side left outside the verdict (its FIN came while joining): what it
 * sent before that FIN is copied to the other side here; the other side's
 * written bytes count it (no head_sent). Returns true when the relay
 * ended (r is gone). */
static bool forward_last_bytes(struct vr_relay *r, int side)
{
    ssize_t n = recv(side_fd(r, side), join_buf, sizeof(join_buf), MSG_DONTWAIT);
    if (n <= 0)
        return false; /* its FIN (or nothing): the next look sees it */
    ssize_t sent = send(side_fd(r, 1 - side), join_buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent != n) {
        /* A peer too full to take a few bytes at once: rare enough to end
         * the connection rather than buffer. */
        finish(r, sent < 0 ? -errno : -ENOBUFS);
        return true;
    }
    return false;
}

/* side's socket woke us: its FIN, an error, or nothing. Returns true when
 * the relay ended (r is gone). */
static bool check_end(struct vr_relay *r, int side)
{
    struct vr_relay_kernel *k = r->kernel;
    struct vr_relay_dir *d = dir_from(r, side);
    if (d->eof) {
        /* After its FIN: an error (a RST) ends the relay only when bytes
         * are owed to this socket (splice would fail writing them). */
        int64_t owed = owed_to(r, side);
        if (owed < 0) {
            finish(r, (int)owed);
            return true;
        }
        return false;
    }
    int fd = side_fd(r, side);
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return false;
    if (n < 0) {
        finish(r, -errno);
        return true;
    }
    if (n > 0 && !k->pair.verdict[side])
        return forward_last_bytes(r, side);
    if (n > 0) {
        /* Bytes for userspace on a joined socket: the program let them
         * through, which it does only for a socket it does not know. */
        vr_warn("sockmap: bytes left to userspace on a relayed socket; closing the connection");
        finish(r, -EPROTO);
        return true;
    }
    d->eof = true;
    /* Its end stays readable: watch it edge-triggered from now, for a RST. */
    if (!k->quiet[side]) {
        k->quiet[side] = true;
        if (watch(r, side, EV_READ | EV_CLOSED | EV_ET) < 0) {
            finish(r, -ENOMEM);
            return true;
        }
    }
    return pass_fin(r, side);
}

static void sock_event(evutil_socket_t fd, short what, void *arg)
{
    struct vr_relay *r = arg;
    int side = fd == side_fd(r, SIDE_CLIENT) ? SIDE_CLIENT : SIDE_SERVER;
    if (!r->kernel->joined) {
        if (what & EV_WRITE)
            flush_and_join(r);
        return;
    }
    *r->last_active_ms = vr_now_ms();
    check_end(r, side);
}

/* Which socket a sockhash refuses for its state (its FIN came), or NULL. */
static const char *side_past_established(int client_fd, int server_fd)
{
    uint64_t w;
    uint8_t state = 0;
    if (written_state(client_fd, &w, &state) == 0 && state != VR_TCP_ESTABLISHED)
        return "client";
    if (written_state(server_fd, &w, &state) == 0 && state != VR_TCP_ESTABLISHED)
        return "server";
    return NULL;
}

int vr_relay_sockmap_start(struct vr_relay *r, struct event_base *base, struct vr_fdloop *loop,
                           struct vr_pipepool *pool,
                           struct vr_sockmap *sm, uint32_t listener_slot, uint32_t outbound_slot, int client_fd,
                           int server_fd, uint8_t *early, size_t early_len, const struct vr_relay_owner *owner,
                           bool *fell_back)
{
    *fell_back = false;
    struct vr_relay_kernel *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        free(early);
        return -ENOMEM;
    }
    k->sm = sm;
    /* A lot already queued (a client that sent while a slow outbound
     * connected): not worth a copy to join; splice moves it instead. Looked
     * at before the sockets enter a map: a socket in a sockhash answers
     * SIOCINQ with what the kernel's relay holds for it, not its queue. */
    for (int fd = server_fd, i = 0; i < 2; fd = client_fd, i++) {
        int queued = 0;
        if (ioctl(fd, SIOCINQ, &queued) == 0 && (uint32_t)queued > VR_JOIN_READ_MAX) {
            vr_debug("sockmap: %d bytes were queued from the %s before the join (more than %u): relayed with splice",
                     queued, fd == client_fd ? "client" : "server", VR_JOIN_READ_MAX);
            count_fallback(FALLBACK_QUEUED);
            free(k);
            *fell_back = true;
            return vr_relay_start(r, loop, pool, client_fd, server_fd, early, early_len, owner);
        }
    }
    int err = vr_sockmap_prepare(sm, &k->pair, client_fd, server_fd, listener_slot, outbound_slot);
    if (err < 0) {
        const char *ended = err == -EOPNOTSUPP ? side_past_established(client_fd, server_fd) : NULL;
        if (ended)
            vr_debug("sockmap: the %s's FIN came before the maps took the pair: relayed with splice", ended);
        else if (err == -E2BIG)
            vr_debug("sockmap: a pair cannot join (the maps are full: they hold %u connections): relayed with "
                     "splice", vr_sockmap_max_conns(sm));
        else
            vr_debug("sockmap: a pair cannot join (%s): relayed with splice", strerror(-err));
        count_fallback(ended ? FALLBACK_FIN : err == -E2BIG ? FALLBACK_FULL : FALLBACK_OTHER);
        free(k);
        *fell_back = true;
        return vr_relay_start(r, loop, pool, client_fd, server_fd, early, early_len, owner);
    }
    memset(r, 0, sizeof(*r));
    r->kernel = k;
    k->owner = *owner;
    k->loop = loop;
    r->pool = pool;
    r->done = owner->done;
    r->arg = owner->arg;
    r->last_active_ms = owner->last_active_ms;
    r->up = (struct vr_relay_dir){.from = client_fd, .to = server_fd, .pipe = {-1, -1}};
    r->down = (struct vr_relay_dir){.from = server_fd, .to = client_fd, .pipe = {-1, -1}};
    if (early && early_len) {
        r->up.buf = early;
        r->up.buf_len = (uint32_t)early_len;
    } else {
        free(early);
    }
    r->ev_client = event_new(base, client_fd, 0, sock_event, r);
    r->ev_server = event_new(base, server_fd, 0, sock_event, r);
    k->fin_timer = evtimer_new(base, fin_timer_cb, r);
    if (r->ev_client == NULL || r->ev_server == NULL || k->fin_timer == NULL) {
        vr_relay_stop(r);
        return -ENOMEM;
    }
    /* Server first: its bytes are what the client waits for. A FIN met
     * here stays queued and is seen again once joined. */
    int down = take_queued(&r->down);
    int up = down < 0 ? 0 : take_queued(&r->up);
    if (down == -ENOBUFS || up == -ENOBUFS) {
        /* More came while reading: what was read goes first, by splice. */
        vr_debug("sockmap: more than %u bytes came from the %s while joining: relayed with splice",
                 VR_JOIN_READ_MAX, down == -ENOBUFS ? "server" : "client");
        count_fallback(FALLBACK_QUEUED);
        return splice_instead(r, loop, pool, owner, fell_back);
    }
    if (down < 0 || up < 0) {
        vr_relay_stop(r);
        return down < 0 ? down : up;
    }
    flush_and_join(r);
    return 0;
}

void vr_relay_sockmap_bytes(const struct vr_relay *r, uint64_t *up, uint64_t *down)
{
    *up = r->up.bytes;
    *down = r->down.bytes;
    const struct vr_relay_kernel *k = r->kernel;
    if (k == NULL || !k->joined)
        return;
    for (int to = 0; to < 2; to++) {
        uint64_t w;
        if (written(side_fd(r, to), &w) < 0)
            continue; /* keep the last count */
        uint64_t fin = k->fin_sent[to] ? 1 : 0;
        uint64_t moved = w > k->base[to] + fin ? w - k->base[to] - fin : 0;
        /* Bytes toward `to` are the direction from the other side. */
        *(to == SIDE_SERVER ? up : down) = k->head_sent[to] + moved;
    }
}

void vr_relay_sockmap_sync(struct vr_relay *r)
{
    vr_relay_sockmap_bytes(r, &r->up.bytes, &r->down.bytes);
}

bool vr_relay_sockmap_moved(struct vr_relay *r)
{
    struct vr_relay_kernel *k = r->kernel;
    if (k == NULL || !k->joined)
        return false;
    uint64_t now = vr_sockmap_bytes(k->sm, &k->pair, 0) + vr_sockmap_bytes(k->sm, &k->pair, 1);
    bool moved = now != k->moved;
    k->moved = now;
    return moved;
}

void vr_relay_sockmap_stop(struct vr_relay *r)
{
    struct vr_relay_kernel *k = r->kernel;
    r->kernel = NULL;
    /* The owner closes the sockets next, which takes them out of the
     * sockhashes; a fall-back to splice keeps them open. */
    vr_sockmap_leave(k->sm, &k->pair, !k->sockets_stay);
    if (k->fin_timer)
        event_free(k->fin_timer);
    free(k);
    /* The events and buffers are the splice relay's own. */
    vr_relay_stop(r);
}
