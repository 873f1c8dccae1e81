/* What the sockmap relay's BPF program (sockmap_relay.bpf.c) and its loader
 * (vr_sockmap.c) share: the per-socket entry and the per-CPU counter slot.
 * Plain fixed-width types only: this header is read by clang -target bpf
 * (with vmlinux.h) and by the host compiler. */
#ifndef SOCKMAP_RELAY_BPF_H
#define SOCKMAP_RELAY_BPF_H

/* Per-CPU counter slots: slot 0 counts what has no slot of its own (more
 * listeners and outbounds than this). */
#define VR_SOCKMAP_COUNTER_SLOTS 256

/* One relayed socket, keyed by its socket cookie (SO_COOKIE). */
struct vr_sockmap_sock {
    __u64 peer;     /* the other socket's cookie: where this one's bytes go */
    __u64 bytes;    /* received here and handed to the peer */
    __u64 packets;  /* segments of those bytes */
    __u32 listener; /* counter slot of the flow's listener */
    __u32 outbound; /* counter slot of the flow's outbound */
    __u32 upstream; /* 1: this is the client's socket (its bytes go up) */
    __u32 pad;
};

/* Bytes and packets relayed in the kernel, per listener or outbound slot. */
struct vr_sockmap_counter {
    __u64 up_bytes, up_packets;     /* client -> server */
    __u64 down_bytes, down_packets; /* server -> client */
};

#endif
