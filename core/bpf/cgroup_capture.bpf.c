// SPDX-License-Identifier: GPL-2.0-only
/* Cgroup capture of local programs (daemon.capture_cgroup; loaded by
 * core/bpf/vr_cgroup_capture.c): TCP connects from programs in a cgroup v2
 * directory to non-local destinations go to vrouterd's listener instead,
 * and vrouterd recovers where they were going.
 *
 * How the original destination travels (sproxy's SO_ORIGINAL_DST
 * emulation, without conntrack):
 *  1. cgroup/connect4|6 runs inside connect(), before any packet: it saves
 *     the destination in the socket's own storage (an sk_storage map: freed
 *     with the socket, nothing to clean up) and rewrites the address to the
 *     listener's.
 *  2. At connect() the source port is not chosen yet, and the socket vrouterd
 *     accepts is the other end (another socket cookie). The sockops program
 *     runs at BPF_SOCK_OPS_TCP_CONNECT_CB, after the kernel picked the source
 *     port and before the SYN leaves: it copies the saved destination into
 *     an LRU hash keyed by the client's (address, port), which is exactly the
 *     peer address vrouterd's accept() returns.
 *  3. vrouterd looks the peer up (and deletes it) when it accepts.
 * The key is unique while it matters: every captured connection goes to
 * the same listener address and port, so two alive ones cannot share a
 * source address and port.
 *
 * UDP cannot use that key: an unconnected socket sends to many
 * destinations, so a per-socket record would give a datagram the
 * destination of whichever was sent last. Instead each original destination
 * gets a stand-in address of its own (like a FakeIP) on the UDP listener's
 * port: 127.128.0.0 + slot for IPv4 (also from IPv6 sockets to IPv4-mapped
 * addresses, as ::ffff:127.128.0.0 + slot: the kernel refuses a sendmsg6
 * that turns an IPv6 destination into a mapped one), udp6_net + slot for
 * IPv6 (a prefix vrouterd routes as local on lo); one slot table serves
 * both families:
 *  - cgroup/sendmsg4|6 (unconnected sends) and cgroup/connect4|6 (UDP
 *    connect()) rewrite the destination to the stand-in; the slot's original
 *    destination is in an array vrouterd reads when the datagram arrives
 *    (IP_ORIGDSTADDR gives the stand-in), and an LRU hash maps the original
 *    back to its slot, so vrouterd sends the replies from the stand-in;
 *  - cgroup/recvmsg4|6 and cgroup/getpeername4|6 show the program the original
 *    destination instead of the stand-in, so a reply reads as coming from
 *    where the program sent (a connected socket, connected to the stand-in,
 *    accepts it).
 * A captured TCP socket's getpeername() likewise shows its original
 * destination (getpeername4/6, from the socket's storage).
 *
 * Loop prevention: sockets carrying daemon.bypass_mark, sockets of
 * vrouterd's own process, other network namespaces and local destinations
 * are never rewritten. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cgroup_capture.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct cgcap_settings);
} settings SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, CGCAP_MAX_LOCAL);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct cgcap_prefix4);
    __type(value, __u8);
} local_v4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, CGCAP_MAX_LOCAL);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct cgcap_prefix6);
    __type(value, __u8);
} local_v6 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct cgcap_dest);
} dest_of_socket SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, CGCAP_MAX_PENDING);
    __type(key, struct cgcap_tuple);
    __type(value, struct cgcap_dest);
} dest_of_peer SEC(".maps");

/* UDP: slot -> original destination, and the way back. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, CGCAP_UDP_SLOTS);
    __type(key, __u32);
    __type(value, struct cgcap_dest);
} udp_slot_dest SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, CGCAP_UDP_SLOTS);
    __type(key, struct cgcap_dest);
    __type(value, __u32);
} udp_dest_slot SEC(".maps");

/* Each CPU's count of slots handed out: CPU c takes slots c, c + ncpu,
 * c + 2 ncpu... round-robin, so no two CPUs race for one (no atomic add:
 * its fetch form needs a newer BPF instruction set than the build asks). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} udp_next_slot SEC(".maps");

static __always_inline struct cgcap_settings *settings_here(void *ctx)
{
    __u32 zero = 0;
    struct cgcap_settings *s = bpf_map_lookup_elem(&settings, &zero);
    if (s == NULL || !s->enabled)
        return NULL;
    if (bpf_get_netns_cookie(ctx) != s->netns_cookie)
        return NULL;
    return s;
}

/* The settings when ctx's socket (TCP or UDP, as want_type says) may be
 * captured, else NULL. */
static __always_inline struct cgcap_settings *capturing_type(struct bpf_sock_addr *ctx, __u32 want_type)
{
    struct cgcap_settings *s = settings_here(ctx);
    if (s == NULL)
        return NULL;
    if (ctx->type != want_type)
        return NULL;
    if (want_type == SOCK_STREAM && ctx->protocol != IPPROTO_TCP)
        return NULL;
    if (want_type == SOCK_DGRAM && (ctx->protocol != IPPROTO_UDP || s->udp_port == 0))
        return NULL;
    struct bpf_pidns_info me;
    if (bpf_get_ns_current_pid_tgid(s->pidns_dev, s->pidns_ino, &me, sizeof(me)) == 0 && me.tgid == s->daemon_tgid)
        return NULL; /* vrouterd's own process (a caller in another pid namespace fails the call: not ours) */
    struct bpf_sock *sk = ctx->sk;
    if (sk && s->bypass_mark && sk->mark == s->bypass_mark)
        return NULL;
    return s;
}

static __always_inline struct cgcap_settings *capturing(struct bpf_sock_addr *ctx)
{
    return capturing_type(ctx, SOCK_STREAM);
}

/* Possible CPUs, as the loader found them (at least 1). */
static __always_inline __u32 s_ncpu(void)
{
    __u32 zero = 0;
    struct cgcap_settings *s = bpf_map_lookup_elem(&settings, &zero);
    return s && s->ncpu > 0 && s->ncpu < CGCAP_UDP_SLOTS ? s->ncpu : 1;
}

static __always_inline bool same_addr(const struct cgcap_dest *a, const struct cgcap_dest *b)
{
    __u32 x[4], y[4];
    __builtin_memcpy(x, a->addr, 16);
    __builtin_memcpy(y, b->addr, 16);
    return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* The slot of destination d (0: none could be had). */
static __always_inline __u32 udp_slot_of(struct cgcap_dest *d)
{
    __u32 *have = bpf_map_lookup_elem(&udp_dest_slot, d);
    if (have) {
        __u32 slot = *have;
        struct cgcap_dest *back = bpf_map_lookup_elem(&udp_slot_dest, &slot);
        if (back && back->family == d->family && back->port == d->port && same_addr(back, d))
            return slot;
    }
    __u32 zero = 0;
    __u32 *next = bpf_map_lookup_elem(&udp_next_slot, &zero);
    if (next == NULL)
        return 0;
    __u32 ncpu = s_ncpu();
    __u32 per_cpu = (CGCAP_UDP_SLOTS - 1) / ncpu;
    __u32 slot = (*next % per_cpu) * ncpu + bpf_get_smp_processor_id() % ncpu + 1; /* 127.128.0.0 unused */
    *next += 1;
    struct cgcap_dest *old = bpf_map_lookup_elem(&udp_slot_dest, &slot);
    if (old && old->family) {
        struct cgcap_dest gone = *old;
        bpf_map_delete_elem(&udp_dest_slot, &gone); /* the slot's last owner loses it */
    }
    bpf_map_update_elem(&udp_slot_dest, &slot, d, BPF_ANY);
    bpf_map_update_elem(&udp_dest_slot, d, &slot, BPF_ANY);
    return slot;
}

/* The slot of an IPv4 destination (0: none could be had). */
static __always_inline __u32 udp_slot_for(__u32 addr, __u16 port)
{
    struct cgcap_dest d = {.family = CGCAP_AF_INET, .port = port};
    __builtin_memcpy(d.addr, &addr, 4);
    return udp_slot_of(&d);
}

/* Is a (network order words) inside the IPv6 stand-ins' /112 of s? */
static __always_inline bool in_udp6_net(const struct cgcap_settings *s, const __u32 *a)
{
    const __u32 *n = (const __u32 *)s->udp6_net;
    return a[0] == n[0] && a[1] == n[1] && a[2] == n[2] && (a[3] & bpf_htonl(0xffff0000)) == n[3];
}

static __always_inline bool udp6_on(const struct cgcap_settings *s)
{
    const __u32 *n = (const __u32 *)s->udp6_net;
    return (n[0] | n[1] | n[2] | n[3]) != 0;
}

/* UDP from an IPv6 socket to a non-local IPv6 destination (not mapped):
 * to its IPv6 stand-in. */
static __always_inline void udp_redirect6(struct bpf_sock_addr *ctx, struct cgcap_settings *s)
{
    if (!udp6_on(s))
        return;
    __u32 a[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};
    struct cgcap_prefix6 k = {.prefixlen = 128};
    __builtin_memcpy(k.addr, a, 16);
    if (bpf_map_lookup_elem(&local_v6, &k))
        return; /* local, link-local, multicast, and the stand-in prefix itself */
    struct cgcap_dest d = {.family = CGCAP_AF_INET6, .port = (__u16)ctx->user_port};
    __builtin_memcpy(d.addr, a, 16);
    __u32 slot = udp_slot_of(&d);
    if (slot == 0)
        return;
    const __u32 *n = (const __u32 *)s->udp6_net;
    ctx->user_ip6[0] = n[0];
    ctx->user_ip6[1] = n[1];
    ctx->user_ip6[2] = n[2];
    ctx->user_ip6[3] = n[3] | bpf_htonl(slot);
    ctx->user_port = s->udp_port;
}

/* UDP to a non-local IPv4 destination: to its stand-in. */
static __always_inline void udp_redirect4(struct bpf_sock_addr *ctx, struct cgcap_settings *s)
{
    struct cgcap_prefix4 k = {.prefixlen = 32, .addr = ctx->user_ip4};
    if (bpf_map_lookup_elem(&local_v4, &k))
        return;
    __u32 slot = udp_slot_for(ctx->user_ip4, (__u16)ctx->user_port);
    if (slot == 0)
        return;
    ctx->user_ip4 = bpf_htonl(CGCAP_UDP_NET | slot);
    ctx->user_port = s->udp_port;
}

SEC("cgroup/sendmsg4")
int vrouterd_send4(struct bpf_sock_addr *ctx)
{
    struct cgcap_settings *s = capturing_type(ctx, SOCK_DGRAM);
    if (s)
        udp_redirect4(ctx, s);
    return 1;
}

/* An IPv6 socket's datagram: to an IPv4-mapped address, the IPv4 stand-in
 * (mapped); to IPv6 proper, the IPv6 one. */
static __always_inline void udp_redirect_mapped(struct bpf_sock_addr *ctx, struct cgcap_settings *s)
{
    if (ctx->user_ip6[0] != 0 || ctx->user_ip6[1] != 0 || ctx->user_ip6[2] != bpf_htonl(0xffff)) {
        udp_redirect6(ctx, s); /* IPv6 proper */
        return;
    }
    __u32 v4 = ctx->user_ip6[3];
    struct cgcap_prefix4 k = {.prefixlen = 32, .addr = v4};
    if (bpf_map_lookup_elem(&local_v4, &k))
        return;
    __u32 slot = udp_slot_for(v4, (__u16)ctx->user_port);
    if (slot == 0)
        return;
    ctx->user_ip6[3] = bpf_htonl(CGCAP_UDP_NET | slot);
    ctx->user_port = s->udp_port;
}

SEC("cgroup/sendmsg6")
int vrouterd_send6(struct bpf_sock_addr *ctx)
{
    struct cgcap_settings *s = capturing_type(ctx, SOCK_DGRAM);
    if (s)
        udp_redirect_mapped(ctx, s);
    return 1;
}

/* The original destination of stand-in v4 (network order) on port, or NULL. */
static __always_inline struct cgcap_dest *stand_in_dest(void *ctx, __u32 v4, __u16 port)
{
    struct cgcap_settings *s = settings_here(ctx);
    if (s == NULL || s->udp_port == 0 || port != s->udp_port)
        return NULL;
    __u32 a = bpf_ntohl(v4);
    if ((a & CGCAP_UDP_MASK) != CGCAP_UDP_NET)
        return NULL;
    __u32 slot = a & ~CGCAP_UDP_MASK;
    struct cgcap_dest *d = bpf_map_lookup_elem(&udp_slot_dest, &slot);
    return d && d->family == CGCAP_AF_INET ? d : NULL;
}

/* A stand-in address (from recvmsg or getpeername) back to the original. */
static __always_inline void udp_unstand4(struct bpf_sock_addr *ctx)
{
    struct cgcap_dest *d = stand_in_dest(ctx, ctx->user_ip4, (__u16)ctx->user_port);
    if (d == NULL)
        return;
    __u32 orig;
    __builtin_memcpy(&orig, d->addr, 4);
    ctx->user_ip4 = orig;
    ctx->user_port = d->port;
}

/* An IPv6 stand-in back to the original IPv6 destination. */
static __always_inline void udp_unstand6(struct bpf_sock_addr *ctx)
{
    struct cgcap_settings *s = settings_here(ctx);
    if (s == NULL || s->udp_port == 0 || (__u16)ctx->user_port != s->udp_port || !udp6_on(s))
        return;
    __u32 a[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};
    if (!in_udp6_net(s, a))
        return;
    __u32 slot = bpf_ntohl(a[3]) & 0xffff;
    struct cgcap_dest *d = bpf_map_lookup_elem(&udp_slot_dest, &slot);
    if (d == NULL || d->family != CGCAP_AF_INET6)
        return;
    __u32 o[4];
    __builtin_memcpy(o, d->addr, 16);
    ctx->user_ip6[0] = o[0];
    ctx->user_ip6[1] = o[1];
    ctx->user_ip6[2] = o[2];
    ctx->user_ip6[3] = o[3];
    ctx->user_port = d->port;
}

static __always_inline void udp_unstand_mapped(struct bpf_sock_addr *ctx)
{
    if (ctx->user_ip6[0] != 0 || ctx->user_ip6[1] != 0 || ctx->user_ip6[2] != bpf_htonl(0xffff)) {
        udp_unstand6(ctx);
        return;
    }
    struct cgcap_dest *d = stand_in_dest(ctx, ctx->user_ip6[3], (__u16)ctx->user_port);
    if (d == NULL)
        return;
    __u32 orig;
    __builtin_memcpy(&orig, d->addr, 4);
    ctx->user_ip6[3] = orig;
    ctx->user_port = d->port;
}

SEC("cgroup/recvmsg6")
int vrouterd_recv6(struct bpf_sock_addr *ctx)
{
    udp_unstand_mapped(ctx);
    return 1;
}

SEC("cgroup/recvmsg4")
int vrouterd_recv4(struct bpf_sock_addr *ctx)
{
    udp_unstand4(ctx);
    return 1;
}

SEC("cgroup/getpeername4")
int vrouterd_peer4(struct bpf_sock_addr *ctx)
{
    if (ctx->type == SOCK_DGRAM) {
        udp_unstand4(ctx);
        return 1;
    }
    if (settings_here(ctx) == NULL)
        return 1;
    struct cgcap_dest *d = bpf_sk_storage_get(&dest_of_socket, ctx->sk, 0, 0);
    if (d && d->family == CGCAP_AF_INET) {
        __u32 orig;
        __builtin_memcpy(&orig, d->addr, 4);
        ctx->user_ip4 = orig;
        ctx->user_port = d->port;
    }
    return 1;
}

SEC("cgroup/getpeername6")
int vrouterd_peer6(struct bpf_sock_addr *ctx)
{
    if (ctx->type == SOCK_DGRAM) {
        udp_unstand_mapped(ctx);
        return 1;
    }
    if (ctx->type != SOCK_STREAM || settings_here(ctx) == NULL)
        return 1;
    struct cgcap_dest *d = bpf_sk_storage_get(&dest_of_socket, ctx->sk, 0, 0);
    if (d == NULL)
        return 1;
    if (d->family == CGCAP_AF_INET6) {
        __u32 a[4];
        __builtin_memcpy(a, d->addr, 16);
        ctx->user_ip6[0] = a[0];
        ctx->user_ip6[1] = a[1];
        ctx->user_ip6[2] = a[2];
        ctx->user_ip6[3] = a[3];
    } else {
        __u32 v4;
        __builtin_memcpy(&v4, d->addr, 4);
        ctx->user_ip6[0] = 0;
        ctx->user_ip6[1] = 0;
        ctx->user_ip6[2] = bpf_htonl(0xffff);
        ctx->user_ip6[3] = v4;
    }
    ctx->user_port = d->port;
    return 1;
}

SEC("cgroup/connect4")
int vrouterd_conn4(struct bpf_sock_addr *ctx)
{
    if (ctx->type == SOCK_DGRAM) {
        struct cgcap_settings *u = capturing_type(ctx, SOCK_DGRAM);
        if (u)
            udp_redirect4(ctx, u);
        return 1;
    }
    struct cgcap_settings *s = capturing(ctx);
    if (s == NULL || s->listen4 == 0)
        return 1;
    struct cgcap_prefix4 k = {.prefixlen = 32, .addr = ctx->user_ip4};
    if (bpf_map_lookup_elem(&local_v4, &k))
        return 1;
    struct cgcap_dest *d = bpf_sk_storage_get(&dest_of_socket, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (d == NULL)
        return 1; /* out of memory: leave it uncaptured rather than lose its destination */
    d->family = CGCAP_AF_INET;
    d->port = (__u16)ctx->user_port;
    __builtin_memset(d->addr, 0, sizeof(d->addr));
    __builtin_memcpy(d->addr, &k.addr, 4);
    ctx->user_ip4 = s->listen4;
    ctx->user_port = s->port4;
    return 1;
}

SEC("cgroup/connect6")
int vrouterd_conn6(struct bpf_sock_addr *ctx)
{
    if (ctx->type == SOCK_DGRAM) {
        struct cgcap_settings *u = capturing_type(ctx, SOCK_DGRAM);
        if (u)
            udp_redirect_mapped(ctx, u);
        return 1;
    }
    struct cgcap_settings *s = capturing(ctx);
    if (s == NULL)
        return 1;
    __u32 a[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};
    /* ::ffff:a.b.c.d from an IPv6 socket: an IPv4 destination. */
    bool mapped = a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
    if (mapped) {
        if (s->listen4 == 0)
            return 1;
        struct cgcap_prefix4 k = {.prefixlen = 32, .addr = a[3]};
        if (bpf_map_lookup_elem(&local_v4, &k))
            return 1;
    } else {
        __u32 *l6 = (__u32 *)s->listen6;
        if ((l6[0] | l6[1] | l6[2] | l6[3]) == 0)
            return 1;
        struct cgcap_prefix6 k = {.prefixlen = 128};
        __builtin_memcpy(k.addr, a, 16);
        if (bpf_map_lookup_elem(&local_v6, &k))
            return 1;
    }
    struct cgcap_dest *d = bpf_sk_storage_get(&dest_of_socket, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (d == NULL)
        return 1;
    d->port = (__u16)ctx->user_port;
    __builtin_memset(d->addr, 0, sizeof(d->addr));
    if (mapped) {
        d->family = CGCAP_AF_INET;
        __builtin_memcpy(d->addr, &a[3], 4);
        ctx->user_ip6[0] = 0;
        ctx->user_ip6[1] = 0;
        ctx->user_ip6[2] = bpf_htonl(0xffff);
        ctx->user_ip6[3] = s->listen4;
        ctx->user_port = s->port4;
    } else {
        d->family = CGCAP_AF_INET6;
        __builtin_memcpy(d->addr, a, 16);
        __u32 *l6 = (__u32 *)s->listen6;
        ctx->user_ip6[0] = l6[0];
        ctx->user_ip6[1] = l6[1];
        ctx->user_ip6[2] = l6[2];
        ctx->user_ip6[3] = l6[3];
        ctx->user_port = s->port6;
    }
    return 1;
}

SEC("sockops")
int vrouterd_sockops(struct bpf_sock_ops *skops)
{
    if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
        return 1;
    struct bpf_sock *sk = skops->sk;
    if (sk == NULL)
        return 1;
    struct cgcap_dest *d = bpf_sk_storage_get(&dest_of_socket, sk, 0, 0);
    if (d == NULL)
        return 1; /* not captured */
    struct cgcap_tuple t = {.port = (__u16)skops->local_port};
    if (skops->family == CGCAP_AF_INET) {
        t.family = CGCAP_AF_INET;
        __u32 a = skops->local_ip4;
        __builtin_memcpy(t.addr, &a, 4);
    } else {
        __u32 a[4] = {skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2], skops->local_ip6[3]};
        if (a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff)) {
            t.family = CGCAP_AF_INET;
            __builtin_memcpy(t.addr, &a[3], 4);
        } else {
            t.family = CGCAP_AF_INET6;
            __builtin_memcpy(t.addr, a, 16);
        }
    }
    struct cgcap_dest copy = *d;
    bpf_map_update_elem(&dest_of_peer, &t, &copy, BPF_ANY);
    return 1;
}

char LICENSE[] SEC("license") = "GPL";
