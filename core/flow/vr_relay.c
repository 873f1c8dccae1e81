#include "vr_relay.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "vr_relay_sockmap.h"
#include "vr_watch.h"

/* Bytes moved per splice call, and calls per wakeup before yielding to other
 * connections (fairness on one event loop). */
#define VR_SPLICE_CHUNK (256 * 1024)
#define VR_PUMP_ROUNDS 16

static void relay_event(evutil_socket_t fd, short what, void *arg);

/* Reads that find no pipe to lend go through this buffer; what the
 * receiver does not take at once is copied into the direction's own. One per
 * thread: a worker's loop uses it only inside one call. */
#define VR_BOUNCE_SIZE (64 * 1024)
static _Thread_local uint8_t bounce[VR_BOUNCE_SIZE];

static void release_pipe(struct vr_relay *r, struct vr_relay_dir *d)
{
    if (d->pipe.r >= 0 && d->in_pipe == 0)
        vr_pipepool_put(r->pool, &d->pipe);
}

static void free_buf(struct vr_relay_dir *d)
{
    free(d->buf);
    d->buf = NULL;
    d->buf_len = d->buf_off = 0;
    d->early = false;
}

/* The receiver refused bytes: remember since when (vr_relay_unstick), and
 * tell the owner once, so that it looks again at VR_RELAY_STALL_MS. */
static void stalled(struct vr_relay *r, struct vr_relay_dir *d)
{
    if (d->stalled_ms == 0) {
        d->stalled_ms = vr_now_ms_coarse() | 1; /* never 0 */
        if (r->stall_cb && d->in_pipe > 0)
            r->stall_cb(r->arg, d->stalled_ms + VR_RELAY_STALL_MS);
    }
    d->want = VR_WANT_WRITE;
}

/* No pipe to lend: one read into the bounce buffer and one send; the rest
 * is kept in d->buf. Returns bytes read (0 at EOF) or a negative errno. */
static ssize_t copy_once(struct vr_relay_dir *d)
{
    ssize_t n = recv(d->from, bounce, sizeof(bounce), 0);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    ssize_t sent = send(d->to, bounce, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        sent = 0;
    }
    d->bytes += (uint64_t)sent;
    if (sent < n) {
        d->buf = malloc((size_t)(n - sent));
        if (d->buf == NULL)
            return -ENOMEM; /* the bytes are read: this connection cannot go on */
        memcpy(d->buf, bounce + sent, (size_t)(n - sent));
        d->buf_len = (uint32_t)(n - sent);
        d->buf_off = 0;
    }
    return n;
}

/* Moves as much as it can one way. Returns 0 (d->want says what to wait
 * for) or a negative errno for a broken connection. short_is_empty: stop
 * after a read shorter than asked unless d->rdhup says a FIN is queued (true
 * for an epoll report, which tells whether a FIN was queued; without one a
 * FIN may sit behind the data and is only found by reading on). */
static int pump(struct vr_relay *r, struct vr_relay_dir *d, bool short_is_empty)
{
    /* this call's last read was short. Bytes handed over at the start (the
     * sniffed head) were read until the sniffer decided, so once they are
     * sent the client's socket is watched rather than read to EAGAIN. */
    bool drained = short_is_empty && d->buf != NULL && d->early && !d->rdhup;
    for (int round = 0; round < VR_PUMP_ROUNDS; round++) {
        if (d->buf) {
            ssize_t n = send(d->to, d->buf + d->buf_off, d->buf_len - d->buf_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    stalled(r, d);
                    return 0;
                }
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            d->stalled_ms = 0;
            d->buf_off += (uint32_t)n;
            d->bytes += (uint64_t)n;
            if (d->buf_off == d->buf_len)
                free_buf(d); /* the sniffed head too: freed once the server has it */
            continue;
        }
        if (d->in_pipe > 0) {
            ssize_t n = splice(d->pipe.r, NULL, d->to, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n < 0) {
                if (errno == EAGAIN) {
                    stalled(r, d);
                    return 0;
                }
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            d->stalled_ms = 0;
            d->in_pipe -= (size_t)n;
            d->bytes += (uint64_t)n;
            continue;
        }
        d->stalled_ms = 0;
        if (d->eof) {
            release_pipe(r, d);
            if (!d->shut) {
                /* When the other way is already finished the relay ends now
                 * and the owner closes both sockets: close() sends this FIN
                 * (the receive side is drained, so it is a FIN, not a RST). */
                const struct vr_relay_dir *o = d == &r->up ? &r->down : &r->up;
                if (!(o->eof && o->shut))
                    shutdown(d->to, SHUT_WR);
                d->shut = true;
            }
            d->want = VR_WANT_NONE;
            return 0;
        }
        if (drained) {
            /* The last read was short and no FIN is queued: the socket is
             * empty, so skip the read that would only say EAGAIN. Epoll is
             * level-triggered: anything that arrives meanwhile wakes us. */
            release_pipe(r, d);
            d->want = VR_WANT_READ;
            return 0;
        }
        if (d->pipe.r < 0 && vr_pipepool_get(r->pool, &d->pipe) < 0) {
            /* Out of pipes (fd budget or kernel): copy instead of failing. */
            ssize_t n = copy_once(d);
            if (n == 0) {
                d->eof = true;
                continue;
            }
            if (n < 0) {
                if (n == -EAGAIN || n == -EWOULDBLOCK) {
                    d->want = VR_WANT_READ;
                    return 0;
                }
                if (n == -EINTR)
                    continue;
                return (int)n;
            }
            drained = short_is_empty && (size_t)n < VR_BOUNCE_SIZE && !d->rdhup;
            continue;
        }
        ssize_t n = splice(d->from, NULL, d->pipe.w, NULL, VR_SPLICE_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n == 0) {
            d->eof = true;
            continue;
        }
        if (n < 0) {
            if (errno == EAGAIN) {
                release_pipe(r, d); /* idle: give the pipe back */
                d->want = VR_WANT_READ;
                return 0;
            }
            if (errno == EINTR)
                continue;
            return -errno;
        }
        d->in_pipe += (size_t)n;
        drained = short_is_empty && (size_t)n < VR_SPLICE_CHUNK && !d->rdhup;
    }
    /* Yield; level-triggered events bring us back at once if work remains. */
    d->want = (d->in_pipe > 0 || d->buf) ? VR_WANT_WRITE : VR_WANT_READ;
    return 0;
}

/* The pipe's bytes into a buffer of their size, the empty pipe back to the
 * pool. The direction keeps waiting for its receiver to take them. */
static void unstick_dir(struct vr_relay *r, struct vr_relay_dir *d)
{
    if (d->in_pipe == 0 || d->buf != NULL || d->pipe.r < 0)
        return;
    uint8_t *b = malloc(d->in_pipe);
    if (b == NULL)
        return; /* keep the pipe; try again at the next sweep */
    size_t got = 0;
    while (got < d->in_pipe) {
        ssize_t n = read(d->pipe.r, b + got, d->in_pipe - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)n;
    }
    if (got == 0) {
        free(b);
        return;
    }
    d->buf = b;
    d->buf_len = (uint32_t)got;
    d->buf_off = 0;
    d->in_pipe -= got;
    if (d->in_pipe == 0) {
        vr_pipepool_put(r->pool, &d->pipe);
        r->pool->unstuck++;
    }
}

uint64_t vr_relay_unstick(struct vr_relay *r, uint64_t now_ms, uint64_t stall_ms)
{
    struct vr_relay_dir *dirs[] = {&r->up, &r->down};
    uint64_t next = 0;
    for (int i = 0; i < 2; i++) {
        struct vr_relay_dir *d = dirs[i];
        if (d->stalled_ms != 0 && now_ms - d->stalled_ms >= stall_ms)
            unstick_dir(r, d);
        /* Still holding a pipe while stalled (not due yet, or out of memory). */
        if (d->stalled_ms != 0 && d->in_pipe > 0 && d->pipe.r >= 0) {
            uint64_t due = d->stalled_ms + stall_ms > now_ms ? d->stalled_ms + stall_ms : now_ms + 1000;
            if (next == 0 || due < next)
                next = due;
        }
    }
    return next;
}

static short mask_for(const struct vr_relay_dir *reader, const struct vr_relay_dir *writer)
{
    short m = 0;
    if (reader->want == VR_WANT_READ)
        m |= EV_READ | EV_CLOSED; /* EV_CLOSED: EPOLLRDHUP, a FIN is queued */
    if (writer->want == VR_WANT_WRITE)
        m |= EV_WRITE;
    return m;
}

static int set_mask(struct event *ev, short *cur, short want)
{
    if (*cur == want)
        return 0;
    struct event_base *base = event_get_base(ev);
    evutil_socket_t fd = event_get_fd(ev);
    void *arg = event_get_callback_arg(ev);
    event_del(ev);
    *cur = want;
    if (want) {
        /* event_add of an assigned event only fails for a bad event or an
         * epoll_ctl error (ENOMEM): then the direction would never wake,
         * so end the relay instead of leaving it hanging. */
        event_assign(ev, base, fd, (short)(want | EV_PERSIST), relay_event, arg);
        if (event_add(ev, NULL) < 0) {
            *cur = 0;
            return -ENOMEM;
        }
    }
    return 0;
}

static void finish(struct vr_relay *r, int err)
{
    if (r->finished)
        return;
    r->finished = true;
    set_mask(r->ev_client, &r->mask_client, 0);
    set_mask(r->ev_server, &r->mask_server, 0);
    r->done(r->arg, err);
}

static void update(struct vr_relay *r)
{
    if (r->up.want == VR_WANT_NONE && r->down.want == VR_WANT_NONE) {
        finish(r, 0);
        return;
    }
    if (set_mask(r->ev_client, &r->mask_client, mask_for(&r->up, &r->down)) < 0 ||
        set_mask(r->ev_server, &r->mask_server, mask_for(&r->down, &r->up)) < 0)
        finish(r, -ENOMEM);
}

static void relay_event(evutil_socket_t fd, short what, void *arg)
{
    struct vr_relay *r = arg;
    bool client = fd == r->up.from;
    struct vr_relay_dir *reads = client ? &r->up : &r->down;
    struct vr_relay_dir *writes = client ? &r->down : &r->up;
    int err = 0;
    if (what & EV_CLOSED)
        reads->rdhup = true; /* read on to the FIN even after a short read */
    if ((what & (EV_READ | EV_CLOSED)) && reads->want == VR_WANT_READ)
        err = pump(r, reads, true);
    if (err == 0 && (what & EV_WRITE) && writes->want == VR_WANT_WRITE)
        err = pump(r, writes, false);
    *r->last_active_ms = vr_now_ms();
    if (err < 0) {
        finish(r, err);
        return;
    }
    update(r);
}

int vr_relay_start(struct vr_relay *r, struct event_base *base, struct vr_pipepool *pool, int client_fd,
                   int server_fd, uint8_t *early, size_t early_len, const struct vr_relay_owner *owner)
{
    return vr_relay_start_after(r, base, pool, client_fd, server_fd, early, early_len, owner, 0, 0, NULL, 0);
}

int vr_relay_start_after(struct vr_relay *r, struct event_base *base, struct vr_pipepool *pool, int client_fd,
                         int server_fd, uint8_t *early, size_t early_len, const struct vr_relay_owner *owner,
                         uint64_t up_bytes, uint64_t down_bytes, uint8_t *down_head, size_t down_len)
{
    memset(r, 0, sizeof(*r));
    r->pool = pool;
    r->done = owner->done;
    r->stall_cb = owner->stalled;
    r->arg = owner->arg;
    r->last_active_ms = owner->last_active_ms;
    r->up = (struct vr_relay_dir){.from = client_fd, .to = server_fd, .pipe = {-1, -1}};
    r->down = (struct vr_relay_dir){.from = server_fd, .to = client_fd, .pipe = {-1, -1}};
    r->up.bytes = up_bytes;
    r->down.bytes = down_bytes;
    if (early && early_len) {
        r->up.buf = early;
        r->up.buf_len = (uint32_t)early_len;
        r->up.early = true;
    } else {
        free(early);
    }
    if (down_head && down_len) {
        r->down.buf = down_head;
        r->down.buf_len = (uint32_t)down_len;
    } else {
        free(down_head);
    }
    r->ev_client = event_new(base, client_fd, 0, relay_event, r);
    r->ev_server = event_new(base, server_fd, 0, relay_event, r);
    if (r->ev_client == NULL || r->ev_server == NULL) {
        vr_relay_stop(r);
        return -ENOMEM;
    }
    /* Start by trying both ways at once: data may already be waiting. The
     * client's side will be watched anyway, so a short read there stops
     * without the read that would say EAGAIN (a FIN queued behind it is
     * seen on the next turn). The server's side is read to EAGAIN or EOF: a
     * server that answered and closed at once (HTTP/1.0, Connection: close)
     * then finishes its direction now, before its socket is ever watched. */
    int err = pump(r, &r->up, true);
    if (err == 0)
        err = pump(r, &r->down, false);
    if (err < 0) {
        vr_relay_stop(r);
        return err;
    }
    update(r);
    return 0;
}

void vr_relay_stop(struct vr_relay *r)
{
    if (r->kernel)
        vr_relay_sockmap_stop(r);
    if (r->ev_client)
        event_free(r->ev_client);
    if (r->ev_server)
        event_free(r->ev_server);
    r->ev_client = r->ev_server = NULL;
    vr_pipepool_drop(r->pool, &r->up.pipe);
    vr_pipepool_drop(r->pool, &r->down.pipe);
    free_buf(&r->up);
    free_buf(&r->down);
}
