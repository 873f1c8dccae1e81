/*
 * ecmp outbound: shared declarations.
 *   ecmp.c         descriptor, config, create/destroy
 *   ecmp_hash.c    weighted rendezvous hashing, weighted round-robin (pure)
 *   ecmp_select.c  which member takes a flow; tcp_connect/cancel, UDP
 *   ecmp_health.c  active TCP probes through each member, fall/rise
 */
#ifndef VR_ECMP_H
#define VR_ECMP_H

#include <stdint.h>
#include <sys/socket.h>

#include <vrouter/vr_plugin.h>

#define ECMP_MAX_MEMBERS 32

enum ecmp_mode { ECMP_FLOW, ECMP_SOURCE, ECMP_RR };

struct ecmp_state;

struct ecmp_member {
    struct ecmp_state *st;
    int idx;
    struct vr_outbound_ref *ref;
    const char *tag;
    uint64_t seed;
    int64_t weight;
    /* active probe */
    int probe_up;               /* the probe's verdict (1 without health_check) */
    int fails, oks;             /* consecutive results */
    void *probe_pending;
    struct vr_timer *probe_timer;   /* next probe */
    struct vr_timer *probe_timeout; /* the probe in flight */
    int reported_up;            /* last value written to the health counter */
    char last_probe[112];       /* the last probe's result, for member_health */
    struct vr_counter *c_flows, *c_failures, *c_healthy, *c_probe_fail;
};

struct ecmp_state {
    struct vr_instance *inst;
    const struct vr_host *host;
    enum ecmp_mode mode;
    int n;
    struct ecmp_member m[ECMP_MAX_MEMBERS];
    uint64_t seeds[ECMP_MAX_MEMBERS];
    double weights[ECMP_MAX_MEMBERS];
    int64_t rr_current[ECMP_MAX_MEMBERS];
    struct vr_outbound_ref *fallback;
    const char *fallback_tag;
    /* health_check */
    int probing;
    struct sockaddr_storage target;
    char target_str[64];
    uint32_t interval_ms, timeout_ms;
    int fall, rise;
    struct vr_flow probe_flow;
    /* pending connects, freed at destroy */
    struct ecmp_link { struct ecmp_link *prev, *next; } pending;
    struct vr_counter *c_no_member, *c_fallback;
};

/* 1 if member i may take new flows now. */
int ecmp_member_usable(struct ecmp_state *st, int i);

void ecmp_health_start(struct ecmp_state *st);
void ecmp_health_stop(struct ecmp_state *st);
/* A real flow through member i failed to connect (passive evidence). */
void ecmp_health_flow_failed(struct ecmp_state *st, int i);

int ecmp_tcp_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                     void **pending);
void ecmp_tcp_cancel(void *state, void *pending);
void ecmp_tcp_free_all(struct ecmp_state *st);
int ecmp_udp_open(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg,
                  void **assoc);
int ecmp_udp_send(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen,
                  const uint8_t *data, size_t len);
void ecmp_udp_close(void *state, void *assoc);

#endif
