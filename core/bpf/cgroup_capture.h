/* Shared by the cgroup capture programs (cgroup_capture.bpf.c) and their
 * loader (vr_cgroup_capture.c). Addresses and ports in network order
 * unless named otherwise. */
#ifndef CGROUP_CAPTURE_H
#define CGROUP_CAPTURE_H

#define CGCAP_AF_INET 2
#define CGCAP_AF_INET6 10

/* Prefixes per family never captured (loopback, the host's own addresses,
 * multicast). */
#define CGCAP_MAX_LOCAL 1024
/* Captured connections whose destination waits for vrouterd's accept. */
#define CGCAP_MAX_PENDING 65536

/* The one entry of the settings array. */
struct cgcap_settings {
    __u64 netns_cookie; /* vrouterd's network namespace: others are left alone */
    __u32 enabled;
    __u32 bypass_mark;  /* sockets carrying it are vrouterd's (or meant to bypass it) */
    __u32 daemon_tgid;  /* vrouterd's process id, in its own pid namespace: */
    __u64 pidns_dev;    /* that namespace (stat of /proc/self/ns/pid), so a */
    __u64 pidns_ino;    /* daemon in a container is recognised too */
    __u32 listen4;      /* where IPv4 connects go (0: not captured) */
    __u8 listen6[16];   /* where IPv6 connects go (all zero: not captured) */
    __u16 port4, port6; /* the listener's port */
    __u16 udp_port;     /* the first UDP listener's (a wildcard one); 0: UDP not captured */
    __u16 pad;
    __u32 ncpu;         /* possible CPUs: UDP slots are shared out among them */
    __u8 udp6_net[16];  /* IPv6 stand-ins' first /112, slot in its low 16 bits; all zero: IPv6 UDP not captured */
};

/* UDP: each original destination gets a stand-in address, 127.128.0.0 +
 * slot, on the UDP listener's port (see cgroup_capture.bpf.c). */
#define CGCAP_UDP_SLOTS 65536
#define CGCAP_UDP_NET 0x7f800000 /* 127.128.0.0/16, host order */
#define CGCAP_UDP_MASK 0xffff0000
/* IPv6 destinations share the slots: their stand-in is udp6_net + slot,
 * inside a prefix vrouterd routes as local (daemon.
 * capture_cgroup_udp_prefix_v6). */

struct cgcap_prefix4 {
    __u32 prefixlen;
    __u32 addr;
};

struct cgcap_prefix6 {
    __u32 prefixlen;
    __u8 addr[16];
};

/* A captured connection's original destination. */
struct cgcap_dest {
    __u16 family;
    __u16 port;
    __u8 addr[16]; /* 4 bytes used for AF_INET */
};

/* The capturing socket's own address as vrouterd's accept sees the peer:
 * IPv4 (also an IPv6 socket's IPv4-mapped address) as AF_INET. */
struct cgcap_tuple {
    __u16 family;
    __u16 port; /* host order */
    __u8 addr[16];
};

#endif
