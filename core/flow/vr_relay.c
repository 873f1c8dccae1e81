#include "vr_relay.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "vr_fdloop.h"
#include "vr_relay_sockmap.h"
#include "vr_watch.h"

/* Bytes moved per splice call, and calls per wakeup before yielding to other
 * connections (fairness on one event loop). */
#define VR_SPLICE_CHUNK (256 * 1024)
#define VR_PUMP_ROUNDS 16

/* Reads that find no pipe to lend go through this buffer; what the
 * receiver does not take at once is copied into the direction's own. One per
 * thread: a worker's loop uses it only inside one call. */
#define VR_BOUNCE_SIZE (64 * 1024)
/* The first bytes of each direction go through it too (see pump). */
#define VR_COPY_HEAD VR_BOUNCE_SIZE
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
}

/* The receiver refused bytes: from now on its socket's registration also
 * reports when it takes more (EPOLLOUT; the MOD reports at once if it
 * already does). A short connection never gets here, so its registrations
 * never wake the loop to say "writable" for nothing. */
static int watch_writable(struct vr_relay *r, struct vr_relay_dir *d)
{
    bool *out = d->to == r->up.from ? &r->out_client : &r->out_server;
    if (*out)
        return 0;
    int err = vr_fdloop_modify(r->loop, d->to, VR_RELAY_EVENTS | EPOLLOUT);
    if (err == 0)
        *out = true;
    return err;
}

/* One read into the bounce buffer and one send (the head of a direction,
 * or no pipe to lend). What the receiver does not take goes into a pipe
 * when the pool lends one (head: as if it had been spliced, so a stalled
 * receiver holds a pipe that vr_relay_unstick gives back, as for the rest
 * of the stream), else into d->buf. Returns bytes read (0 at EOF) or a
 * negative errno. */
static ssize_t copy_once(struct vr_relay *r, struct vr_relay_dir *d, bool head)
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
    size_t left = (size_t)(n - sent);
    if (left == 0)
        return n;
    if (head && d->pipe.r < 0 && vr_pipepool_get(r->pool, &d->pipe) == 0) {
        /* An empty pipe (even of the default size) takes the bounce buffer
         * whole; a pipe the kernel made smaller (pipe-user-pages-soft) may
         * not: then the bytes come back out (d->buf's bytes must come first
         * and the pipe's after) and the pipe goes back. */
        ssize_t w = write(d->pipe.w, bounce + sent, left);
        if (w == (ssize_t)left) {
            d->in_pipe = left;
            return n;
        }
        for (ssize_t back = 0; w > 0 && back < w;) {
            ssize_t b = read(d->pipe.r, bounce + sent + back, (size_t)(w - back));
            if (b <= 0)
                break;
            back += b;
        }
        vr_pipepool_drop(r->pool, &d->pipe); /* it may not be empty after all */
    }
    d->buf = malloc(left);
    if (d->buf == NULL)
        return -ENOMEM; /* the bytes are read: this connection cannot go on */
    memcpy(d->buf, bounce + sent, left);
    d->buf_len = (uint32_t)left;
    d->buf_off = 0;
    return n;
}

/* Moves as much as it can one way, edge-triggered: it stops only at an
 * EAGAIN (which clears can_read or can_write: the next epoll report sets it
 * again), at the end of the direction, or after VR_PUMP_ROUNDS calls with
 * work left (d->yielded: the loop calls again on its next turn, as no new
 * edge may come). A splice shorter than asked does not prove the socket
 * empty (it also stops at a full pipe), so splice reads go on to EAGAIN;
 * a recv shorter than asked does (the head, copied).
 * Returns 0 or a negative errno for a broken connection. */
static int pump(struct vr_relay *r, struct vr_relay_dir *d)
{
    d->yielded = false;
    if (d->shut)
        return 0;
    for (int round = 0; round < VR_PUMP_ROUNDS; round++) {
        if (d->buf) {
            if (!d->can_write)
                return 0;
            ssize_t n = send(d->to, d->buf + d->buf_off, d->buf_len - d->buf_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    d->can_write = false;
                    stalled(r, d);
                    return watch_writable(r, d);
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
            if (!d->can_write)
                return 0;
            ssize_t n = splice(d->pipe.r, NULL, d->to, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n < 0) {
                if (errno == EAGAIN) {
                    d->can_write = false;
                    stalled(r, d);
                    return watch_writable(r, d);
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
            /* When the other way is already finished the relay ends now
             * and the owner closes both sockets: close() sends this FIN
             * (the receive side is drained, so it is a FIN, not a RST). */
            const struct vr_relay_dir *o = d == &r->up ? &r->down : &r->up;
            if (!o->shut)
                shutdown(d->to, SHUT_WR);
            d->shut = true;
            return 0;
        }
        if (!d->can_read) {
            release_pipe(r, d); /* idle: give the pipe back */
            return 0;
        }
        /* The head of a direction (a request, an answer) is copied: a recv
         * shorter than asked proves the socket empty (TCP returns short
         * only once its queue is), so unless a FIN was reported the read
         * that would only say EAGAIN is skipped, and a short connection
         * never borrows a pipe. Past the head, and whenever the pool has
         * no pipe to lend (fd budget or kernel), ... */
        bool head = d->bytes < VR_COPY_HEAD && d->pipe.r < 0;
        if (head || (d->pipe.r < 0 && vr_pipepool_get(r->pool, &d->pipe) < 0)) {
            /* ... copy instead of failing. */
            ssize_t n = copy_once(r, d, head);
            if (n == 0) {
                d->eof = true;
                continue;
            }
            if (n < 0) {
                if (n == -EAGAIN || n == -EWOULDBLOCK) {
                    d->can_read = false;
                    return 0;
                }
                if (n == -EINTR)
                    continue;
                return (int)n;
            }
            if (n < VR_BOUNCE_SIZE && !d->rdhup)
                d->can_read = false; /* drained: what comes next is a new report */
            continue;
        }
        ssize_t n = splice(d->from, NULL, d->pipe.w, NULL, VR_SPLICE_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n == 0) {
            d->eof = true;
            continue;
        }
        if (n < 0) {
            if (errno == EAGAIN) {
                d->can_read = false;
                release_pipe(r, d); /* idle: give the pipe back */
                return 0;
            }
            if (errno == EINTR)
                continue;
            return -errno;
        }
        d->in_pipe += (size_t)n;
    }
    d->yielded = true;
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

static void finish(struct vr_relay *r, int err)
{
    if (r->finished)
        return;
    r->finished = true;
    r->done(r->arg, err);
}

/* Both directions as far as they go; the relay ends when both are done. */
static void run(struct vr_relay *r)
{
    int err = pump(r, &r->up);
    if (err == 0)
        err = pump(r, &r->down);
    if (err < 0) {
        finish(r, err);
        return;
    }
    if (r->up.shut && r->down.shut) {
        finish(r, 0);
        return;
    }
    if (r->up.yielded || r->down.yielded)
        vr_fdloop_again(r->loop, r->up.from);
}

/* An epoll report on one of the sockets (events 0: called again after a
 * yield). An error or hang-up is for both of the socket's sides: the read
 * or the write that follows returns it. */
static void relay_event(void *arg, int fd, uint32_t events)
{
    struct vr_relay *r = arg;
    if (r->finished)
        return;
    bool client = fd == r->up.from;
    struct vr_relay_dir *reads = client ? &r->up : &r->down;
    struct vr_relay_dir *writes = client ? &r->down : &r->up;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        reads->can_read = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        reads->rdhup = true; /* a FIN (or an error) waits behind the bytes: read on to it */
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        writes->can_write = true;
    *r->last_active_ms = vr_now_ms();
    run(r);
}

int vr_relay_start(struct vr_relay *r, struct vr_fdloop *loop, struct vr_pipepool *pool, int client_fd,
                   int server_fd, uint8_t *early, size_t early_len, const struct vr_relay_owner *owner)
{
    return vr_relay_start_after(r, loop, pool, client_fd, server_fd, early, early_len, owner, 0, 0, NULL, 0);
}

int vr_relay_start_after(struct vr_relay *r, struct vr_fdloop *loop, struct vr_pipepool *pool, int client_fd,
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
    /* Both sides are connected: writable until a send says otherwise. The
     * client most likely sent its request while the outbound connected, so
     * it is read at once, saving a turn of the loop. The server most likely
     * has said nothing yet: its registration's first report (an ADD or MOD
     * of a ready socket is reported at once) says when it has, rather than
     * a read that would only find it empty. A client registered by the
     * sniff was read to empty: only a report since says there is more. */
    r->up.can_write = r->down.can_write = true;
    r->up.can_read = true;
    r->loop = loop;
    /* One registration per socket for the relay's whole life. */
    int err = 0;
    if (owner->client_registered && vr_fdloop_active(loop, client_fd)) {
        vr_fdloop_set_owner(loop, client_fd, relay_event, r);
        r->up.can_read = owner->client_readable;
        r->up.rdhup = owner->client_rdhup;
    } else {
        err = vr_fdloop_add(loop, client_fd, VR_RELAY_EVENTS, relay_event, r);
    }
    if (err == 0) {
        r->reg_client = true;
        err = vr_fdloop_add(loop, server_fd, VR_RELAY_EVENTS, relay_event, r);
    }
    if (err == 0) {
        r->reg_server = true;
        /* What is already in hand (the sniffed head, a server's first
         * bytes) goes now, and the client's request. */
        err = pump(r, &r->up);
        if (err == 0)
            err = pump(r, &r->down);
    }
    if (err < 0) {
        vr_relay_stop(r);
        return err;
    }
    if (r->up.yielded || r->down.yielded)
        vr_fdloop_again(loop, client_fd);
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
    /* The owner closes the sockets next (or starts a relay on them again):
     * no EPOLL_CTL_DEL. */
    if (r->reg_client)
        vr_fdloop_forget(r->loop, r->up.from, r);
    if (r->reg_server)
        vr_fdloop_forget(r->loop, r->down.from, r);
    r->reg_client = r->reg_server = false;
    vr_pipepool_drop(r->pool, &r->up.pipe);
    vr_pipepool_drop(r->pool, &r->down.pipe);
    free_buf(&r->up);
    free_buf(&r->down);
}
