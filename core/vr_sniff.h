/* Drives a listener's sniffers over the first bytes of a connection. */
#ifndef VR_SNIFF_H
#define VR_SNIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>
#include <vrouter/vr_flow.h>
#include <vrouter/vr_sniffer.h>

struct vr_generation;
struct vr_listener_cfg;

/* Largest first flight we hold while sniffing (a ClientHello across records). */
#define VR_SNIFF_MAX_BYTES (18 * 1024) /* the tls sniffer accepts up to 17,408 */

enum vr_sniff_verdict { VR_SNIFF_DONE_FOUND, VR_SNIFF_DONE_UNKNOWN, VR_SNIFF_WAIT };

/* Asks each sniffer of the listener about data. FOUND fills out. WAIT while
 * any sniffer needs more and the buffer is not full; UNKNOWN when every
 * sniffer said not mine/invalid (or the buffer is full). */
int vr_sniff_run(const struct vr_generation *g, const struct vr_listener_cfg *l, const uint8_t *data, size_t len,
                 struct vr_sniff_out *out);

/* Most datagrams of a UDP session held while its sniffers decide (a QUIC
 * ClientHello may span several Initial packets). */
#define VR_SNIFF_MAX_DATAGRAMS 8
#define VR_SNIFF_MAX_DATAGRAM_BYTES (32 * 1024)

/* The same over the first datagrams of a UDP session (sniffers that have
 * sniff_datagrams and take UDP); WAIT while any needs more and n is below
 * VR_SNIFF_MAX_DATAGRAMS. */
int vr_sniff_run_datagrams(const struct vr_generation *g, const struct vr_listener_cfg *l, const struct iovec *dgrams,
                           size_t n, struct vr_sniff_out *out);
/* Does the listener have any sniffer for datagrams? */
bool vr_sniff_any_datagram(const struct vr_generation *g, const struct vr_listener_cfg *l);

#endif
