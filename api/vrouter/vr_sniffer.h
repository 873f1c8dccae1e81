/*
 * vrouterd plugin ABI: sniffer modules (kind VR_KIND_SNIFFER).
 *
 * A sniffer is a pure function over the first bytes a client sent: it keeps
 * no per-flow state; the host calls it again with more bytes while it
 * answers VR_SNIFF_MORE, up to a bounded size and a timeout.
 *
 * Since 1.1 a stream sniffer may also offer sniff_wake, a cheap incremental
 * look at the bytes that just arrived, so that a client dribbling its first
 * bytes does not make the host re-run sniff() over everything on every
 * segment (docs/SNIFFERS.md, "Stream sniffing cost").
 */
#ifndef VROUTER_VR_SNIFFER_H
#define VROUTER_VR_SNIFFER_H

#include <sys/uio.h>

#include <vrouter/vr_host.h>

enum vr_sniff_status {
    VR_SNIFF_MORE = 0,     /* could be mine, need more bytes */
    VR_SNIFF_NOT_MINE = 1, /* definitely not this protocol */
    VR_SNIFF_FOUND = 2,    /* this protocol; out is filled in */
    VR_SNIFF_INVALID = 3,  /* looks like this protocol but is malformed */
};

#define VR_SNIFF_DOMAIN_MAX 256
#define VR_SNIFF_PROTO_MAX 16
#define VR_SNIFF_ALPN_MAX 64

/* Filled in by the sniffer on VR_SNIFF_FOUND; size set by the host. domain
 * is normalised (lower case, no trailing dot, a valid host name) or empty
 * when the protocol was recognised without a name. */
struct vr_sniff_out {
    uint32_t size;
    char domain[VR_SNIFF_DOMAIN_MAX];
    char protocol[VR_SNIFF_PROTO_MAX];
    char alpn[VR_SNIFF_ALPN_MAX]; /* first ALPN offered, if any */
};

/* Mandatory (the loader refuses the module without them): protocol, and
 * sniff or sniff_datagrams (or both). create and destroy: both or neither.
 * sniff_wake is optional. */
struct vr_sniffer_ops {
    uint32_t size; /* sizeof(struct vr_sniffer_ops) as the module was built */
    const char *protocol; /* what it finds: "tls", "http", ... */
    uint32_t networks;    /* mask of enum vr_network it applies to */

    /* Optional (may be NULL): per-instance settings. */
    int (*create)(struct vr_instance *inst, const struct vr_host *host, void **state);
    void (*destroy)(void *state);

    /* Stream protocols: data is every byte received so far, from the start. */
    int (*sniff)(void *state, const uint8_t *data, size_t len, struct vr_sniff_out *out);
    /* Datagram protocols (may be NULL): the datagrams held so far, in order. */
    int (*sniff_datagrams)(void *state, const struct iovec *dgrams, size_t n,
                           struct vr_sniff_out *out);

    /* --- 1.1 (the host reads it only when size covers it) --- */

    /* Optional (may be NULL): may sniff() answer anything but MORE now?
     * data[0..len) is every byte received so far; data[seen..len) are the
     * ones this function has not been shown yet (seen is 0 on the first
     * call). *mark is one word the host keeps for this sniffer and this
     * connection, 0 before the first call, for the function's own progress.
     * Return nonzero if sniff() on data[0..len) could answer FOUND (it must,
     * or detection is delayed), or where cheap also NOT_MINE or INVALID;
     * 0 lets the host skip sniff() for these bytes. It must cost O(len -
     * seen), and offering it promises that sniff() is prefix-consistent: a
     * prefix answers MORE or the same as any longer input, and once sniff()
     * answered NOT_MINE or INVALID the host stops calling sniff_wake. */
    int (*sniff_wake)(void *state, const uint8_t *data, size_t seen, size_t len, uint64_t *mark);
};

#endif
