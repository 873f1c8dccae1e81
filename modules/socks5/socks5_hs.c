/* The SOCKS5 handshake on one control connection, driven by one fd watch
 * and one timer: connect, method selection, optional RFC 1929 auth, then
 * the request (CONNECT or UDP ASSOCIATE) and its reply. */
#include "socks5.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const s5_phase_name[] = {
    [S5_PH_CONNECT] = "connect",
    [S5_PH_METHOD] = "method selection",
    [S5_PH_AUTH] = "authentication",
    [S5_PH_REPLY] = "request reply",
    [S5_PH_DONE] = "done",
};

int s5_log_limit_pass(struct s5_log_limit *l, uint64_t now_ms, uint64_t *suppressed)
{
    if (l->last_ms != 0 && now_ms - l->last_ms < 1000) {
        l->suppressed++;
        return 0;
    }
    *suppressed = l->suppressed;
    l->suppressed = 0;
    l->last_ms = now_ms ? now_ms : 1;
    return 1;
}

void s5_link_add(struct s5_link *head, struct s5_link *l)
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

void s5_link_del(struct s5_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}

static void s5_hs_release(struct s5_hs *hs, int close_fd)
{
    const struct vr_host *h = hs->st->host;
    h->watch_del(hs->watch);
    hs->watch = NULL;
    h->timer_del(hs->timer);
    hs->timer = NULL;
    if (close_fd && hs->fd >= 0) {
        close(hs->fd);
        hs->fd = -1;
    }
}

void s5_hs_abort(struct s5_hs *hs)
{
    s5_hs_release(hs, 1);
    hs->phase = S5_PH_DONE;
}

static void s5_hs_fail(struct s5_hs *hs, int err, const char *fmt, ...) VR_PRINTF(3, 4);

static void s5_hs_fail(struct s5_hs *hs, int err, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(hs->reason, sizeof(hs->reason), "socks5 %s: %s", hs->st->server_str, msg);
    s5_hs_release(hs, 1);
    hs->phase = S5_PH_DONE;
    hs->done(hs, err, hs->reason);
}

static void s5_hs_timeout(void *arg)
{
    struct s5_hs *hs = arg;
    hs->timer = NULL; /* one-shot: already freed by the host */
    if (hs->phase == S5_PH_CONNECT)
        s5_hs_fail(hs, -ETIMEDOUT, "connect timeout after %u ms", hs->st->connect_timeout_ms);
    else
        s5_hs_fail(hs, -ETIMEDOUT, "server stalled: no %s within %u ms",
                   s5_phase_name[hs->phase], hs->st->handshake_timeout_ms);
}

/* Queues buf to be sent, then waits for the answer of the next phase. */
static void s5_hs_send(struct s5_hs *hs, const uint8_t *buf, size_t len, enum s5_phase next)
{
    memcpy(hs->out, buf, len);
    hs->out_len = len;
    hs->out_off = 0;
    hs->in_len = 0;
    hs->phase = next;
    hs->st->host->watch_modify(hs->watch, VR_EV_WRITE);
}

static void s5_hs_on_write(struct s5_hs *hs)
{
    if (hs->phase == S5_PH_CONNECT) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(hs->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr != 0) {
            s5_hs_fail(hs, -soerr, "connect to server failed: %s", strerror(soerr));
            return;
        }
        /* The handshake gets its own deadline, starting now. */
        hs->st->host->timer_del(hs->timer);
        hs->timer = hs->st->host->timer_add(hs->st->inst, hs->st->handshake_timeout_ms, 0,
                                            s5_hs_timeout, hs);
        if (hs->timer == NULL) {
            /* without a deadline a stalled server would hold the flow forever */
            s5_hs_fail(hs, -ENOMEM, "cannot arm the handshake timer (out of memory)");
            return;
        }
        uint8_t g[3];
        size_t gl = s5_greeting_build(g, hs->st->username != NULL);
        s5_hs_send(hs, g, gl, S5_PH_METHOD);
    }
    while (hs->out_off < hs->out_len) {
        ssize_t n = send(hs->fd, hs->out + hs->out_off, hs->out_len - hs->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            s5_hs_fail(hs, -errno, "send during %s: %s", s5_phase_name[hs->phase],
                       strerror(errno));
            return;
        }
        hs->out_off += (size_t)n;
    }
    hs->st->host->watch_modify(hs->watch, VR_EV_READ);
}

/* Reads what the phase expects. The method and auth replies are read with
 * room to spare so a server that sends more than it should is caught; the
 * request reply is read exactly, since what follows it belongs to the
 * destination. Returns 1 when bytes were added, 0 to wait, -1 on failure
 * (already reported). */
static int s5_hs_read(struct s5_hs *hs, size_t want)
{
    ssize_t n = recv(hs->fd, hs->in + hs->in_len, want - hs->in_len, 0);
    if (n > 0) {
        hs->in_len += (size_t)n;
        return 1;
    }
    if (n == 0) {
        if (hs->in_len > 0)
            s5_hs_fail(hs, -EPROTO, "server closed the connection: truncated %s (%zu bytes)",
                       s5_phase_name[hs->phase], hs->in_len);
        else
            s5_hs_fail(hs, -ECONNRESET, "server closed the connection during %s",
                       s5_phase_name[hs->phase]);
        return -1;
    }
    if (errno == EAGAIN || errno == EINTR)
        return 0;
    s5_hs_fail(hs, -errno, "recv during %s: %s", s5_phase_name[hs->phase], strerror(errno));
    return -1;
}

static int s5_rep_errno(int rep)
{
    switch (rep) {
    case 0x02: return -EACCES;
    case 0x03: return -ENETUNREACH;
    case 0x04: return -EHOSTUNREACH;
    case 0x05: return -ECONNREFUSED;
    case 0x06: return -ETIMEDOUT;
    case 0x07: return -EOPNOTSUPP;
    case 0x08: return -EAFNOSUPPORT;
    default: return -ECONNABORTED;
    }
}

static void s5_hs_on_read(struct s5_hs *hs)
{
    const char *why = NULL;
    int r;

    if (hs->phase == S5_PH_METHOD || hs->phase == S5_PH_AUTH) {
        if (s5_hs_read(hs, 16) <= 0)
            return;
        if (hs->phase == S5_PH_METHOD) {
            uint8_t method;
            r = s5_method_parse(hs->in, hs->in_len, hs->st->username != NULL, &method, &why);
        } else {
            r = s5_auth_parse(hs->in, hs->in_len, &why);
        }
        if (r == S5_MORE)
            return;
        if (r == S5_ERR) {
            s5_hs_fail(hs, hs->phase == S5_PH_AUTH && hs->in[0] == S5_AUTH_VERSION ? -EACCES
                                                                                   : -EPROTO,
                       "%s (got %zu bytes, first 0x%02x)", why, hs->in_len, hs->in[0]);
            return;
        }
        if (hs->phase == S5_PH_METHOD && hs->st->username != NULL) {
            uint8_t a[S5_AUTH_MAX];
            int al = s5_auth_build(a, hs->st->username, hs->st->password);
            s5_hs_send(hs, a, (size_t)al, S5_PH_AUTH);
        } else {
            s5_hs_send(hs, hs->req, hs->req_len, S5_PH_REPLY);
        }
        return;
    }

    /* S5_PH_REPLY: read exactly up to what the parser says it needs. */
    size_t need = 5;
    int rep;
    for (;;) {
        r = s5_reply_parse(hs->in, hs->in_len, &need, &hs->bound, &rep, &why);
        if (r != S5_MORE)
            break;
        int rr = s5_hs_read(hs, need);
        if (rr <= 0)
            return;
    }
    if (r == S5_ERR) {
        if (rep >= 0)
            s5_hs_fail(hs, s5_rep_errno(rep), "server refused: %s", why);
        else
            s5_hs_fail(hs, -EPROTO, "%s (0x%02x)", why, hs->in_len >= 4 ? hs->in[3] : hs->in[0]);
        return;
    }
    s5_hs_release(hs, 0);
    hs->phase = S5_PH_DONE;
    hs->done(hs, 0, NULL);
}

static void s5_hs_event(int fd, unsigned events, void *arg)
{
    struct s5_hs *hs = arg;
    (void)fd;
    if (events & VR_EV_WRITE)
        s5_hs_on_write(hs);
    else if (events & VR_EV_READ)
        s5_hs_on_read(hs);
}

int s5_hs_start(struct s5_hs *hs, struct s5_state *st, uint64_t flow_id, s5_hs_done done)
{
    const struct vr_host *h = st->host;
    hs->st = st;
    hs->flow_id = flow_id;
    hs->done = done;
    hs->phase = S5_PH_CONNECT;
    hs->watch = NULL;
    hs->timer = NULL;
    hs->in_len = hs->out_len = hs->out_off = 0;
    hs->fd = h->socket_open(st->inst, st->server.ss_family, SOCK_STREAM, st->mark);
    if (hs->fd < 0)
        return hs->fd;
    if (connect(hs->fd, (const struct sockaddr *)&st->server, st->server_len) < 0 &&
        errno != EINPROGRESS) {
        int err = -errno;
        close(hs->fd);
        hs->fd = -1;
        return err;
    }
    /* Even an immediate connect completes through the watch, so done is
     * never called from inside the caller. */
    hs->watch = h->watch_add(st->inst, hs->fd, VR_EV_WRITE, s5_hs_event, hs);
    hs->timer = h->timer_add(st->inst, st->connect_timeout_ms, 0, s5_hs_timeout, hs);
    if (hs->watch == NULL || hs->timer == NULL) {
        s5_hs_release(hs, 1);
        return -ENOMEM;
    }
    return 0;
}
