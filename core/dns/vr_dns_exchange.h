/* One question to one upstream over one transport (UDP, TCP, or DNS over
 * TLS), through the upstream's outbound instance of the asking worker: UDP
 * through the outbound's udp_open/udp_send, TCP and TLS over a connection
 * from its tcp_connect. So a query for a tunnel's names leaves through that
 * tunnel. The answer is checked (source, id, question) before it is passed
 * on; anything else on the socket is ignored. */
#ifndef VR_DNS_EXCHANGE_H
#define VR_DNS_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "vr_dns_config.h"
#include "vr_dns_msg.h"

struct event_base;
struct vr_instance;
struct vr_dns_exchange;
typedef struct ssl_ctx_st SSL_CTX;

/* Exactly once unless cancelled, never from inside vr_dns_exchange_start:
 * err 0 with the response (valid during the call), or a negative errno
 * (-ETIMEDOUT, -ECONNREFUSED, -EPROTO for a broken answer or TLS failure)
 * and why, a short text for the log. */
typedef void (*vr_dns_exchange_cb)(void *arg, int err, const char *why, const uint8_t *msg, size_t len);

struct vr_dns_exchange_req {
    struct event_base *base;
    struct vr_instance *outbound;
    const struct vr_dns_upstream *up;
    enum vr_dns_transport transport; /* may differ from up's: a TC answer is asked again over TCP */
    SSL_CTX *tls;                    /* for VR_DNS_TLS */
    const struct vr_dns_query *q;    /* for checking the answer */
    const uint8_t *msg;              /* the query to send (copied), its id already ours */
    size_t len;
    uint64_t flow_id;
    const struct sockaddr *client;   /* the asking client, for the outbound's flow; may be NULL */
};

/* Returns the exchange, or NULL with *err set when it cannot start. */
struct vr_dns_exchange *vr_dns_exchange_start(const struct vr_dns_exchange_req *req, vr_dns_exchange_cb cb, void *arg,
                                              int *err);
void vr_dns_exchange_cancel(struct vr_dns_exchange *x);

/* A client context for an upstream: verifies the chain against ca_file (or
 * the system store when NULL) and the name given per connection. NULL with
 * err filled on failure. */
SSL_CTX *vr_dns_tls_ctx_new(const char *ca_file, char *err, size_t errlen);
void vr_dns_tls_ctx_free(SSL_CTX *ctx);

#endif
