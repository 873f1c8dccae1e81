#include "vr_dns_exchange.h"

#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <vrouter/vr_flow.h>
#include <vrouter/vr_plugin.h>

#include "vr_addr.h"
#include "vr_instance.h"

struct vr_dns_exchange {
    struct vr_dns_exchange_req req;
    vr_dns_exchange_cb cb;
    void *arg;
    struct vr_flow flow;
    uint8_t *query;    /* TCP/TLS: with its two-byte length in front */
    size_t query_len;  /* including the length for TCP/TLS */
    size_t sent;
    struct event *timer;   /* the attempt's timeout; also fires the deferred end */
    /* UDP */
    void *assoc;
    /* TCP / TLS */
    void *pending;         /* the outbound's connect in progress */
    int fd;
    struct event *io;
    SSL *ssl;
    bool handshaken;
    uint8_t *rbuf;
    size_t rlen, rwant;    /* TCP: bytes read; the message's length once known */
    /* The end, when it comes from a callback of the outbound: kept until
     * the timer event delivers it from the loop. */
    bool done;
    int err;
    const char *why;
    char whybuf[160];
};

static const struct vr_outbound_ops *ops_of(const struct vr_dns_exchange *x)
{
    return vr_instance_outbound(x->req.outbound);
}

static void release(struct vr_dns_exchange *x)
{
    if (x->timer)
        event_free(x->timer);
    if (x->io)
        event_free(x->io);
    if (x->assoc)
        ops_of(x)->udp_close(x->req.outbound->state, x->assoc);
    if (x->pending)
        ops_of(x)->tcp_cancel(x->req.outbound->state, x->pending);
    if (x->ssl)
        SSL_free(x->ssl);
    if (x->fd >= 0)
        close(x->fd);
    free(x->query);
    free(x->rbuf);
    free(x);
}

void vr_dns_exchange_cancel(struct vr_dns_exchange *x)
{
    if (x)
        release(x);
}

static void finish_now(struct vr_dns_exchange *x)
{
    vr_dns_exchange_cb cb = x->cb;
    void *arg = x->arg;
    /* Close the transport first: the callback may start the next attempt. */
    if (x->assoc) {
        ops_of(x)->udp_close(x->req.outbound->state, x->assoc);
        x->assoc = NULL;
    }
    if (x->err == 0)
        cb(arg, 0, NULL, x->rbuf, x->rlen);
    else
        cb(arg, x->err, x->why, NULL, 0);
    release(x);
}

/* Ends the exchange from the loop (never inside an outbound's callback). */
static void finish(struct vr_dns_exchange *x, int err, const char *why)
{
    if (x->done)
        return;
    x->done = true;
    x->err = err;
    if (why && why != x->whybuf) {
        snprintf(x->whybuf, sizeof(x->whybuf), "%s", why);
        why = x->whybuf;
    }
    x->why = why;
    if (x->io)
        event_del(x->io);
    event_del(x->timer);
    event_active(x->timer, EV_TIMEOUT, 1);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_dns_exchange *x = arg;
    if (!x->done) {
        x->done = true;
        x->err = -ETIMEDOUT;
        x->why = "timeout";
    }
    finish_now(x);
}

/* An answer to our question? */
static bool answers(struct vr_dns_exchange *x, const uint8_t *msg, size_t len)
{
    struct vr_dns_response_info info;
    return len >= VR_DNS_HEADER && vr_dns_get16(msg) == vr_dns_get16(x->req.msg) &&
           vr_dns_parse_response(msg, len, x->req.q, &info) == 0;
}

static int keep_answer(struct vr_dns_exchange *x, const uint8_t *msg, size_t len)
{
    x->rbuf = malloc(len);
    if (x->rbuf == NULL)
        return -ENOMEM;
    memcpy(x->rbuf, msg, len);
    x->rlen = len;
    return 0;
}

/* ---- UDP */

static void on_udp_reply(void *arg, const struct sockaddr *from, socklen_t fromlen, const uint8_t *data, size_t len,
                         int err)
{
    (void)fromlen;
    struct vr_dns_exchange *x = arg;
    if (x->done)
        return;
    if (data == NULL) {
        finish(x, err ? err : -ECONNRESET, "the outbound ended the UDP association");
        return;
    }
    /* Only the upstream may answer, and only to this question (RFC 5452). */
    if (from == NULL || !vr_sockaddr_equal(from, (const struct sockaddr *)&x->req.up->addr) || !answers(x, data, len))
        return;
    int r = keep_answer(x, data, len);
    finish(x, r, r ? "out of memory" : NULL);
}

static int start_udp(struct vr_dns_exchange *x)
{
    const struct vr_outbound_ops *ops = ops_of(x);
    if (ops->udp_open == NULL)
        return -EPROTONOSUPPORT;
    int r = ops->udp_open(x->req.outbound->state, &x->flow, on_udp_reply, x, &x->assoc);
    if (r < 0) {
        x->assoc = NULL;
        return r;
    }
    return ops->udp_send(x->req.outbound->state, x->assoc, (const struct sockaddr *)&x->req.up->addr,
                         x->req.up->addrlen, x->query, x->query_len);
}

/* ---- TCP and TLS: a two-byte length, then the message (RFC 7766, 7858) */

static const char *tls_why(struct vr_dns_exchange *x, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[120] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    long v = x->ssl ? SSL_get_verify_result(x->ssl) : X509_V_OK;
    snprintf(x->whybuf, sizeof(x->whybuf), "%s%s%s%s%s", what, buf[0] ? ": " : "", buf,
             v != X509_V_OK ? ": certificate: " : "", v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
    ERR_clear_error();
    return x->whybuf;
}

/* >0 bytes, 0 at the peer's end, -EAGAIN (with *want set) or another errno. */
static ssize_t io_send(struct vr_dns_exchange *x, short *want)
{
    if (x->ssl) {
        int n = SSL_write(x->ssl, x->query + x->sent, (int)(x->query_len - x->sent));
        if (n > 0)
            return n;
        int e = SSL_get_error(x->ssl, n);
        *want = e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? -EAGAIN : -EPROTO;
    }
    ssize_t n = send(x->fd, x->query + x->sent, x->query_len - x->sent, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    *want = EV_WRITE;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static ssize_t io_recv(struct vr_dns_exchange *x, uint8_t *buf, size_t cap, short *want)
{
    if (x->ssl) {
        int n = SSL_read(x->ssl, buf, (int)cap);
        if (n > 0)
            return n;
        int e = SSL_get_error(x->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;
        *want = e == SSL_ERROR_WANT_WRITE ? EV_WRITE : EV_READ;
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? -EAGAIN : -EPROTO;
    }
    ssize_t n = recv(x->fd, buf, cap, 0);
    if (n >= 0)
        return n;
    *want = EV_READ;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static void stream_step(struct vr_dns_exchange *x);

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    stream_step(arg);
}

static void wait_for(struct vr_dns_exchange *x, short want)
{
    event_del(x->io);
    event_assign(x->io, x->req.base, x->fd, want, on_io, x);
    event_add(x->io, NULL);
}

static void stream_step(struct vr_dns_exchange *x)
{
    short want = EV_READ;
    if (x->done)
        return;
    if (x->ssl && !x->handshaken) {
        int r = SSL_connect(x->ssl);
        if (r != 1) {
            int e = SSL_get_error(x->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                wait_for(x, e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE);
                return;
            }
            finish(x, -EPROTO, tls_why(x, "TLS handshake failed"));
            return;
        }
        x->handshaken = true;
    }
    while (x->sent < x->query_len) {
        ssize_t n = io_send(x, &want);
        if (n == -EAGAIN) {
            wait_for(x, want);
            return;
        }
        if (n <= 0) {
            finish(x, n < 0 ? (int)n : -ECONNRESET, x->ssl ? tls_why(x, "TLS write failed") : "send failed");
            return;
        }
        x->sent += (size_t)n;
    }
    for (;;) {
        size_t goal = x->rwant ? x->rwant + 2 : 2;
        if (x->rlen >= goal && x->rwant == 0) {
            x->rwant = vr_dns_get16(x->rbuf);
            if (x->rwant < VR_DNS_HEADER) {
                finish(x, -EPROTO, "a TCP answer shorter than a DNS header");
                return;
            }
            continue;
        }
        if (x->rwant && x->rlen >= goal) {
            if (!answers(x, x->rbuf + 2, x->rwant)) {
                finish(x, -EPROTO, "an answer to another question");
                return;
            }
            memmove(x->rbuf, x->rbuf + 2, x->rwant);
            x->rlen = x->rwant;
            finish(x, 0, NULL);
            return;
        }
        ssize_t n = io_recv(x, x->rbuf + x->rlen, goal - x->rlen, &want);
        if (n == -EAGAIN) {
            wait_for(x, want);
            return;
        }
        if (n <= 0) {
            finish(x, n < 0 ? (int)n : -ECONNRESET,
                   n == 0 ? "the upstream closed the connection before answering"
                          : x->ssl ? tls_why(x, "TLS read failed") : "recv failed");
            return;
        }
        x->rlen += (size_t)n;
    }
}

static void on_connected(void *arg, int fd, int err, const char *reason)
{
    struct vr_dns_exchange *x = arg;
    x->pending = NULL;
    if (fd < 0) {
        snprintf(x->whybuf, sizeof(x->whybuf), "connect: %s", reason ? reason : strerror(-err));
        finish(x, err ? err : -ECONNREFUSED, x->whybuf);
        return;
    }
    x->fd = fd;
    x->io = event_new(x->req.base, fd, EV_WRITE, on_io, x);
    x->rbuf = malloc(2 + VR_DNS_MAX_MSG);
    if (x->io == NULL || x->rbuf == NULL) {
        finish(x, -ENOMEM, "out of memory");
        return;
    }
    if (x->req.transport == VR_DNS_TLS) {
        x->ssl = SSL_new(x->req.tls);
        if (x->ssl == NULL || SSL_set_fd(x->ssl, fd) != 1 ||
            SSL_set_tlsext_host_name(x->ssl, x->req.up->tls_name) != 1 ||
            SSL_set1_host(x->ssl, x->req.up->tls_name) != 1) {
            finish(x, -EPROTO, tls_why(x, "TLS setup failed"));
            return;
        }
        SSL_set_verify(x->ssl, SSL_VERIFY_PEER, NULL);
    }
    stream_step(x);
}

static int start_stream(struct vr_dns_exchange *x)
{
    int r = ops_of(x)->tcp_connect(x->req.outbound->state, &x->flow, on_connected, x, &x->pending);
    if (r < 0)
        x->pending = NULL;
    return r;
}

struct vr_dns_exchange *vr_dns_exchange_start(const struct vr_dns_exchange_req *req, vr_dns_exchange_cb cb, void *arg,
                                              int *err)
{
    struct vr_dns_exchange *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    x->req = *req;
    x->cb = cb;
    x->arg = arg;
    x->fd = -1;
    bool stream = req->transport != VR_DNS_UDP;
    x->query_len = req->len + (stream ? 2 : 0);
    x->query = malloc(x->query_len);
    x->timer = event_new(req->base, -1, 0, on_timer, x);
    if (x->query == NULL || x->timer == NULL || (req->transport == VR_DNS_TLS && req->tls == NULL)) {
        *err = req->transport == VR_DNS_TLS && req->tls == NULL ? -EPROTO : -ENOMEM;
        release(x);
        return NULL;
    }
    if (stream)
        vr_dns_put16(x->query, (uint16_t)req->len);
    memcpy(x->query + (stream ? 2 : 0), req->msg, req->len);
    x->flow.size = sizeof(x->flow);
    x->flow.network = stream ? VR_NET_TCP : VR_NET_UDP;
    x->flow.id = req->flow_id;
    if (req->client)
        memcpy(&x->flow.src, req->client, vr_sockaddr_len(req->client));
    memcpy(&x->flow.dst, &req->up->addr, req->up->addrlen);
    x->flow.inbound = "dns";
    x->flow.rule = req->up->tag;
    struct timeval tv = {req->up->timeout_ms / 1000, (req->up->timeout_ms % 1000) * 1000};
    event_add(x->timer, &tv);
    int r = stream ? start_stream(x) : start_udp(x);
    if (r < 0) {
        *err = r;
        release(x);
        return NULL;
    }
    return x;
}

SSL_CTX *vr_dns_tls_ctx_new(const char *ca_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        char buf[120] = "";
        ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
        ERR_clear_error();
        snprintf(err, errlen, "cannot load the CA %s: %s", ca_file ? ca_file : "store", buf);
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* A pinned self-signed certificate is its own CA: accept a chain that
     * ends at any certificate of the file, not only at a root. */
    if (ca_file)
        X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
    return ctx;
}

void vr_dns_tls_ctx_free(SSL_CTX *ctx)
{
    if (ctx)
        SSL_CTX_free(ctx);
}
