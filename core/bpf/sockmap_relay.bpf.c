/* The sockmap relay (daemon.relay = "sockmap"): a stream verdict on each
 * relayed socket hands the bytes it receives to its peer's send side, in the
 * kernel, and counts them per socket and per CPU.
 *
 * Two sockhashes, both keyed by socket cookie: relay_socks carries the
 * verdict program, peer_socks carries none and is only where bytes are sent.
 * A pair joins peer_socks first and relay_socks second, so whenever a
 * socket's verdict runs its peer is already a target: no byte ever meets a
 * missing peer while the pair joins (vr_sockmap.c). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "sockmap_relay.bpf.h"

/* Sizes are set by the loader from daemon.max_connections. */
struct {
    __uint(type, BPF_MAP_TYPE_SOCKHASH);
    __uint(max_entries, 1024);
    __type(key, __u64);
    __type(value, __u64);
} relay_socks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_SOCKHASH);
    __uint(max_entries, 1024);
    __type(key, __u64);
    __type(value, __u64);
} peer_socks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(max_entries, 1024);
    __type(key, __u64);
    __type(value, struct vr_sockmap_sock);
} socks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, VR_SOCKMAP_COUNTER_SLOTS);
    __type(key, __u32);
    __type(value, struct vr_sockmap_counter);
} counters SEC(".maps");

static __always_inline void count(__u32 slot, __u32 upstream, __u64 bytes, __u64 packets)
{
    struct vr_sockmap_counter *c = bpf_map_lookup_elem(&counters, &slot);
    if (c == NULL)
        return;
    /* Per CPU, in softirq: no other writer on this CPU meanwhile. */
    if (upstream) {
        c->up_bytes += bytes;
        c->up_packets += packets;
    } else {
        c->down_bytes += bytes;
        c->down_packets += packets;
    }
}

SEC("sk_skb/stream_verdict")
int relay_verdict(struct __sk_buff *skb)
{
    __u64 cookie = bpf_get_socket_cookie(skb);
    struct vr_sockmap_sock *s = bpf_map_lookup_elem(&socks, &cookie);
    if (s == NULL)
        return SK_PASS; /* not a relayed socket: its bytes stay for userspace */
    __u64 len = skb->len;
    /* A segment without bytes (a bare FIN) is not handed on: the kernel's
     * sender takes an empty send for a broken pipe and stops sending to
     * the peer for good. The FIN itself is TCP state, which userspace sees
     * and passes on (vr_relay_sockmap.c). */
    if (len == 0)
        return SK_DROP;
    __u64 segs = skb->gso_segs ? skb->gso_segs : 1;
    /* Softirqs of several CPUs may receive for one socket over its life. */
    __sync_fetch_and_add(&s->bytes, len);
    __sync_fetch_and_add(&s->packets, segs);
    count(s->listener, s->upstream, len, segs);
    count(s->outbound, s->upstream, len, segs);
    return bpf_sk_redirect_hash(skb, &peer_socks, &s->peer, 0);
}

char LICENSE[] SEC("license") = "GPL";
