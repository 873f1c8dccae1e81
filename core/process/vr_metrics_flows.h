/* Per-worker flow counters for the metrics endpoint (vr_metrics.c): one slot
 * per (listener, outbound) pair ever seen, so counters survive reloads. A
 * connection keeps its slot index; counting is an add, and a slot is only
 * allocated the first time a pair is seen (bounded by the config, never by
 * clients or domains). Several workers: the scrape sums their tables by
 * (listener, outbound). */
#ifndef VR_METRICS_FLOWS_H
#define VR_METRICS_FLOWS_H

#include <stddef.h>
#include <stdint.h>

#include "vr_histogram.h"

/* How a connection ended: the free-text reasons of flow/vr_conn.c folded
 * into a fixed set (vr_end_of), the `end` label. */
enum vr_end {
    VR_END_CLOSED,
    VR_END_RESET,
    VR_END_IDLE_TIMEOUT,
    VR_END_CONNECT_FAILED,
    VR_END_REFUSED,
    VR_END_KILLED,
    VR_END_RETIRED,
    VR_END_SHUTDOWN,
    VR_END_ERROR,
    VR_END_REJECTED, /* a rule's action = "reject" */
    VR_END_DROPPED,  /* a rule's action = "drop" */
    VR_END_N
};

enum vr_end vr_end_of(const char *why);
const char *vr_end_name(enum vr_end e);

/* The outbound of a flow not routed (yet, or ever). */
#define VR_METRICS_NO_OUTBOUND "none"

struct vr_flow_slot {
    char *listener, *outbound;
    uint64_t active;
    uint64_t ends[VR_END_N];
    uint64_t bytes_up, bytes_down; /* of closed connections; open ones are added at scrape time */
    struct vr_histogram connect;   /* outbound connect time of connections routed here */
    uint64_t udp_dgrams_up, udp_dgrams_down, udp_bytes_up, udp_bytes_down; /* UDP sessions' legs routed here */
};

/* A sniffer's verdicts: result found (per protocol), unknown or timeout. */
struct vr_sniff_slot {
    char protocol[16];
    uint64_t found;
};

/* Sniffing verdicts of one kind of flow (TCP connections, UDP sessions). */
struct vr_sniff_tally {
    struct vr_sniff_slot found[16];
    uint32_t n;
    uint64_t unknown, timeout, found_other;
};

struct vr_flow_stats {
    struct vr_flow_slot *slots;
    uint32_t n, cap;
    struct vr_sniff_tally sniff;     /* TCP connections */
    struct vr_sniff_tally udp_sniff; /* UDP sessions */
    struct vr_histogram sniff_wait;  /* TCP */
};

/* The slot of (listener, outbound), created on first use; -1 when out of
 * memory (the flow is then not counted). */
int vr_flow_stats_slot(struct vr_flow_stats *fs, const char *listener, const char *outbound);
void vr_flow_stats_sniffed(struct vr_flow_stats *fs, const char *protocol, uint64_t wait_ms, int timed_out);
/* A UDP session's sniffing verdict (protocol NULL: none found). */
void vr_flow_stats_udp_sniffed(struct vr_flow_stats *fs, const char *protocol, int timed_out);
void vr_flow_stats_fini(struct vr_flow_stats *fs);

#endif
