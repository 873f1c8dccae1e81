// SPDX-License-Identifier: GPL-2.0-only
/* The XDP source allow-list of the capture interfaces (xdp = { ... } in the
 * config; loaded by core/bpf/vr_xdp.c). An IPv4 or IPv6 packet whose source
 * address is in none of the allowed prefixes is dropped before the stack
 * sees it. Frames that are not IP (ARP above all) and IPv6 neighbour
 * discovery pass: without them no host, allowed or not, could reach the
 * router, and they come from link-local or unspecified sources no allow
 * list names. Every verdict is counted in a per-CPU array. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdp_allow.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_ICMPV6_NR 58

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, XDP_ALLOW_MAX_PREFIXES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct xdp_allow_key4);
    __type(value, __u8);
} allow_v4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, XDP_ALLOW_MAX_PREFIXES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct xdp_allow_key6);
    __type(value, __u8);
} allow_v6 SEC(".maps");

/* enum xdp_allow_verdict -> packets; shared with the program a reload
 * swaps in (the loader reuses this map), so counts survive reloads. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, XDP_ALLOW_N_VERDICTS);
    __type(key, __u32);
    __type(value, __u64);
} verdicts SEC(".maps");

static __always_inline int count(__u32 verdict, int action)
{
    __u64 *n = bpf_map_lookup_elem(&verdicts, &verdict);
    if (n)
        *n += 1; /* this CPU's slot: no atomics needed */
    return action;
}

struct vlan_tag {
    __be16 tci;
    __be16 proto;
};

/* The name identifies vrouterd's program on an interface (at most 15
 * characters reach the kernel): a stale one left by a killed daemon is
 * found by it and replaced at the next start. */
SEC("xdp")
int vrouterd_xdp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return count(XDP_ALLOW_OTHER, XDP_PASS);
    __u16 proto = bpf_ntohs(eth->h_proto);
    void *l3 = eth + 1;
    /* One or two VLAN tags (802.1ad outer, 802.1Q inner). */
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
            break;
        struct vlan_tag *vt = l3;
        if ((void *)(vt + 1) > end)
            return count(XDP_ALLOW_OTHER, XDP_PASS);
        proto = bpf_ntohs(vt->proto);
        l3 = vt + 1;
    }
    if (proto == ETH_P_IP) {
        struct iphdr *ip = l3;
        if ((void *)(ip + 1) > end)
            return count(XDP_ALLOW_DROPPED, XDP_DROP); /* truncated IPv4: the stack would drop it too */
        struct xdp_allow_key4 k = {.prefixlen = 32, .addr = ip->saddr};
        if (bpf_map_lookup_elem(&allow_v4, &k))
            return count(XDP_ALLOW_PASSED, XDP_PASS);
        return count(XDP_ALLOW_DROPPED, XDP_DROP);
    }
    if (proto == ETH_P_IPV6) {
        struct ipv6hdr *ip6 = l3;
        if ((void *)(ip6 + 1) > end)
            return count(XDP_ALLOW_DROPPED, XDP_DROP);
        /* Neighbour discovery (router/neighbour solicitation and
         * advertisement, redirect: ICMPv6 types 133 to 137), IPv6's ARP. */
        if (ip6->nexthdr == IPPROTO_ICMPV6_NR) {
            __u8 *type = (void *)(ip6 + 1);
            if ((void *)(type + 1) > end)
                return count(XDP_ALLOW_DROPPED, XDP_DROP);
            if (*type >= 133 && *type <= 137)
                return count(XDP_ALLOW_OTHER, XDP_PASS);
        }
        struct xdp_allow_key6 k = {.prefixlen = 128};
        __builtin_memcpy(k.addr, &ip6->saddr, sizeof(k.addr));
        if (bpf_map_lookup_elem(&allow_v6, &k))
            return count(XDP_ALLOW_PASSED, XDP_PASS);
        return count(XDP_ALLOW_DROPPED, XDP_DROP);
    }
    return count(XDP_ALLOW_OTHER, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
