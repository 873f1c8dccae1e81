/*
 * socks5 outbound: shared declarations of the module's files.
 *   socks5.c        descriptor, config (create/destroy)
 *   socks5_proto.c  RFC 1928/1929 wire format (pure functions)
 *   socks5_hs.c     the asynchronous handshake on one control connection
 *   socks5_tcp.c    tcp_connect/tcp_cancel (CONNECT)
 *   socks5_udp.c    udp_open/udp_send/udp_close (UDP ASSOCIATE)
 *   socks5_local.c  the gateway's own addresses (UDP reply source check)
 *   socks5_rate.c   per-client token buckets for new UDP associations
 *   socks5_verify.c send_domain = "verified": the name's addresses, asynchronously
 */
#ifndef VR_SOCKS5_H
#define VR_SOCKS5_H

#include <stdint.h>
#include <sys/socket.h>

#include <vrouter/vr_plugin.h>

#include "socks5_local.h"
#include "socks5_proto.h"
#include "socks5_rate.h"
#include "socks5_verify.h"

/* Largest UDP datagram plus a SOCKS header. */
#define S5_UDP_BUF (65535 + S5_REQUEST_MAX)

struct s5_link {
    struct s5_link *prev, *next;
};

/* At most one log line a second for one kind of event: a hostile peer can
 * cause thousands a second. */
struct s5_log_limit {
    uint64_t last_ms;    /* 0: never logged */
    uint64_t suppressed; /* events left out since */
};

/* 1 when a line may be logged now (*suppressed then says how many were
 * left out before it, and is reset); 0 when it is left out. */
int s5_log_limit_pass(struct s5_log_limit *l, uint64_t now_ms, uint64_t *suppressed);

struct s5_state {
    struct vr_instance *inst;
    const struct vr_host *host;
    struct sockaddr_storage server;
    socklen_t server_len;
    char server_str[64];
    const char *username; /* NULL when no auth */
    const char *password;
    int send_domain;        /* enum s5_send_domain */
    uint32_t verify_timeout_ms;
    struct s5_link verifying;      /* lookups in progress (struct s5_verify) */
    struct s5_link verify_orphans; /* cancelled, glibc still on them */
    struct vr_timer *verify_timer; /* polls both while not empty */
    uint32_t connect_timeout_ms;
    uint32_t handshake_timeout_ms;
    uint32_t mark;
    int udp_reject_private; /* refuse private-range UDP reply sources too */
    struct s5_local local;  /* the gateway's own addresses, for that check */
    struct s5_log_limit src_log;  /* "refused source" lines */
    struct s5_rate udp_rate;      /* new associations per client */
    struct s5_log_limit rate_log; /* "rate limited" lines */
    /* every pending connect and live association, freed by destroy */
    struct s5_link pending;
    struct s5_link assocs;
    struct vr_counter *c_connects, *c_connect_fail;
    struct vr_counter *c_udp_assocs, *c_udp_frag, *c_udp_dropped, *c_udp_bad;
    struct vr_counter *c_udp_src_refused, *c_udp_rate_limited;
    struct vr_counter *c_domain_verified, *c_domain_unverified;
    uint8_t udp_buf[S5_UDP_BUF];
};

enum s5_send_domain { S5_DOMAIN_NEVER = 0, S5_DOMAIN_ALWAYS = 1, S5_DOMAIN_VERIFIED = 2 };

enum s5_phase { S5_PH_CONNECT, S5_PH_METHOD, S5_PH_AUTH, S5_PH_REPLY, S5_PH_DONE };

struct s5_hs;
/* Handshake outcome: err == 0 means the reply arrived (hs->bound holds
 * BND.ADDR) and hs->fd is the caller's; otherwise hs->fd is already closed
 * and reason says what went wrong. */
typedef void (*s5_hs_done)(struct s5_hs *hs, int err, const char *reason);

struct s5_hs {
    struct s5_state *st;
    int fd;
    struct vr_watch *watch;
    struct vr_timer *timer;
    enum s5_phase phase;
    uint64_t flow_id;
    s5_hs_done done;
    uint8_t req[S5_REQUEST_MAX];
    size_t req_len;
    uint8_t out[S5_AUTH_MAX];
    size_t out_len, out_off;
    uint8_t in[S5_REPLY_MAX];
    size_t in_len;
    struct sockaddr_storage bound;
    char reason[256];
};

/* Starts connecting to the server; the request (req/req_len) is sent after
 * the method (and auth) exchange. Returns 0 (done will be called later) or
 * a negative errno (nothing to clean up). */
int s5_hs_start(struct s5_hs *hs, struct s5_state *st, uint64_t flow_id, s5_hs_done done);
/* Stops a handshake in progress without calling done; closes the fd. */
void s5_hs_abort(struct s5_hs *hs);

void s5_link_add(struct s5_link *head, struct s5_link *l);
void s5_link_del(struct s5_link *l);

int s5_tcp_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                   void **pending);
void s5_tcp_cancel(void *state, void *pending);
void s5_tcp_free_all(struct s5_state *st);

int s5_udp_open(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg,
                void **assoc);
int s5_udp_send(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen,
                const uint8_t *data, size_t len);
void s5_udp_close(void *state, void *assoc);
void s5_udp_free_all(struct s5_state *st);

#endif
