/* Drives a listener's sniffers over the first bytes of a connection. */
#ifndef VR_SNIFF_H
#define VR_SNIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>
#include <vrouter/vr_flow.h>
#include <vrouter/vr_sniffer.h>

struct vr_gen_set;
struct vr_listener_cfg;

/* Largest first flight we hold while sniffing (a ClientHello across records). */
#define VR_SNIFF_MAX_BYTES (18 * 1024) /* the tls sniffer accepts up to 17,408 */

enum vr_sniff_verdict { VR_SNIFF_DONE_FOUND, VR_SNIFF_DONE_UNKNOWN, VR_SNIFF_WAIT };

/* The sniffers of a listener that take TCP, in the listener's order. */
#define VR_SNIFF_SET_MAX 8 /* VR_MAX_SNIFFERS of a listener */
struct vr_sniff_set {
    int n;
    const struct vr_sniffer_ops *ops[VR_SNIFF_SET_MAX];
    void *state[VR_SNIFF_SET_MAX];
    const char *name[VR_SNIFF_SET_MAX];
};
void vr_sniff_set_tcp(const struct vr_gen_set *g, const struct vr_listener_cfg *l, struct vr_sniff_set *set);

/* One run of every sniffer of set over data[0..len), verdicts as
 * vr_sniff_run. */
int vr_sniff_set_run(const struct vr_sniff_set *set, const uint8_t *data, size_t len, struct vr_sniff_out *out);

/*
 * The stream driver: what one TCP connection's sniffing needs so that its
 * CPU is linear in its bytes however the client segments them. Re-running
 * every sniffer over the whole buffer on every read is quadratic for a
 * client that sends one byte per segment; so after each read the driver
 * runs the sniffers only when
 *   - a sniffer's sniff_wake (ABI 1.1), shown only the new bytes, says they
 *     may decide it (http: the end of the request line, of the head, the
 *     byte after the first Host line; tls: the hello's last byte, a bad
 *     record header; both: the first bytes),
 *   - or a sniffer without sniff_wake (built for 1.0) is still undecided
 *     and this is one of the first eager_reads reads (a head sent whole or
 *     in a few segments is not delayed) or the buffer grew by half since the
 *     last run (a geometric series: under 3x the bytes in all),
 *   - or the buffer is full (VR_SNIFF_MAX_BYTES).
 * A sniffer with sniff_wake that answered NOT_MINE or INVALID is neither
 * woken nor run again. With prefix-consistent sniffers whose wakes are sound
 * for FOUND, the verdict, its out and (for FOUND) the read it comes at are
 * those of running every sniffer on every read; only an UNKNOWN may come
 * some bytes later (at the latest at vr_sniff_stream_settle).
 * tests/fuzz/fuzz_sniff_driver.c checks exactly that against the eager loop.
 */
#define VR_SNIFF_EAGER_READS 8
struct vr_sniff_stream {
    size_t seen;          /* bytes already shown to the wakes */
    size_t last_run;      /* the length of the last run (0: none yet) */
    unsigned reads;       /* reads with a 1.0 sniffer undecided */
    unsigned eager_reads; /* 1.0 sniffers: run on each of the first this many reads */
    uint32_t settled;     /* sniffers that answered NOT_MINE or INVALID */
    uint64_t mark[VR_SNIFF_SET_MAX]; /* each wake's own word */
    /* What it cost, for tests and the benchmark. */
    uint64_t runs;       /* runs of the whole set */
    uint64_t run_bytes;  /* sum of len over the sniffers asked in each run */
    uint64_t wake_bytes; /* sum of new bytes shown to wakes */
};
void vr_sniff_stream_init(struct vr_sniff_stream *st);
/* After a read: data[0..len) is everything received, len > st->seen.
 * Returns WAIT (nothing decided yet, or no run needed) or a final verdict. */
int vr_sniff_stream_feed(const struct vr_sniff_set *set, struct vr_sniff_stream *st, const uint8_t *data, size_t len,
                         struct vr_sniff_out *out);
/* The client closed or the sniff timeout fired: one last run over
 * everything (WAIT then means nothing was recognised). */
int vr_sniff_stream_settle(const struct vr_sniff_set *set, struct vr_sniff_stream *st, const uint8_t *data,
                           size_t len, struct vr_sniff_out *out);

/* Asks each sniffer of the listener about data. FOUND fills out. WAIT while
 * any sniffer needs more and the buffer is not full; UNKNOWN when every
 * sniffer said not mine/invalid (or the buffer is full). */
int vr_sniff_run(const struct vr_gen_set *g, const struct vr_listener_cfg *l, const uint8_t *data, size_t len,
                 struct vr_sniff_out *out);

/* Most datagrams of a UDP session held while its sniffers decide (a QUIC
 * ClientHello may span several Initial packets). */
#define VR_SNIFF_MAX_DATAGRAMS 8
#define VR_SNIFF_MAX_DATAGRAM_BYTES (32 * 1024)

/* The same over the first datagrams of a UDP session (sniffers that have
 * sniff_datagrams and take UDP); WAIT while any needs more and n is below
 * VR_SNIFF_MAX_DATAGRAMS. */
int vr_sniff_run_datagrams(const struct vr_gen_set *g, const struct vr_listener_cfg *l, const struct iovec *dgrams,
                           size_t n, struct vr_sniff_out *out);
/* Does the listener have any sniffer for datagrams? */
bool vr_sniff_any_datagram(const struct vr_gen_set *g, const struct vr_listener_cfg *l);

#endif
