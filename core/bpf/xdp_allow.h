/* Shared by the XDP allow-list program (xdp_allow.bpf.c) and its loader
 * (vr_xdp.c): map keys and the verdict counters' slots. */
#ifndef XDP_ALLOW_H
#define XDP_ALLOW_H

/* Prefixes per family an allow list may hold. */
#define XDP_ALLOW_MAX_PREFIXES 16384

/* LPM trie keys: prefix length in bits, then the address in network order. */
struct xdp_allow_key4 {
    __u32 prefixlen;
    __u32 addr;
};

struct xdp_allow_key6 {
    __u32 prefixlen;
    __u8 addr[16];
};

enum xdp_allow_verdict {
    XDP_ALLOW_PASSED = 0,  /* IP from an allowed source */
    XDP_ALLOW_DROPPED = 1, /* IP from any other source (or truncated) */
    XDP_ALLOW_OTHER = 2,   /* not IP, or IPv6 neighbour discovery: passed unchecked */
    XDP_ALLOW_N_VERDICTS = 3,
};

#endif
