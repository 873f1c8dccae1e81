/* The kernel relay (daemon.relay = "sockmap"): once both sockets of a
 * connection are ready, they join the sockmap (core/bpf/vr_sockmap.h) and the
 * kernel moves the bytes; userspace keeps the fds and watches them for the
 * end of each direction, passing a FIN on exactly as the splice relay does.
 *
 * Joining, in order (each fall-back to splice is in docs/EBPF.md):
 *  0. more than VR_JOIN_READ_MAX queued in either socket: relayed with
 *     splice instead (not worth a copy);
 *  1. both sockets become redirect targets (nothing diverted yet); when the
 *     maps are full, or a socket's FIN came (a sockhash takes only
 *     established sockets), the connection is relayed with splice instead;
 *  2. whatever sits in either socket's receive queue is read into userspace
 *     (a sniffer or an outbound's handshake may have read part of a segment,
 *     and the kernel would hand that segment on whole), then every byte read
 *     so far (the sniffed head too) is written to the other side;
 *  3. both sockets come under the verdict program.
 * A FIN from one side is passed on (shutdown(SHUT_WR) of the other) only
 * once the other socket has taken every byte the kernel relayed to it
 * (its bytes acked plus queued, against the program's count), since the
 * kernel sends redirected bytes from a work queue, after the FIN is seen. */
#ifndef VR_RELAY_SOCKMAP_H
#define VR_RELAY_SOCKMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "vr_relay.h"

struct vr_sockmap;

/* Like vr_relay_start (same ownership of early), relaying through sm with
 * the flow counted under the two per-CPU counter slots. Falls back to
 * vr_relay_start when the pair cannot join (step 0 or 1 above); *fell_back says so.
 * base carries the kernel relay's own watches, loop the splice relay's. */
int vr_relay_sockmap_start(struct vr_relay *r, struct event_base *base, struct vr_fdloop *loop,
                           struct vr_pipepool *pool,
                           struct vr_sockmap *sm, uint32_t listener_slot, uint32_t outbound_slot, int client_fd,
                           int server_fd, uint8_t *early, size_t early_len, const struct vr_relay_owner *owner,
                           bool *fell_back);
/* Connections handed to splice instead of the kernel since the start, by
 * why (SIGUSR1 statistics). */
struct vr_relay_sockmap_fallbacks {
    uint64_t fin;    /* a socket's FIN came before the join */
    uint64_t queued; /* more than VR_JOIN_READ_MAX queued */
    uint64_t full;   /* the maps were full */
    uint64_t other;  /* another error from the maps */
};
void vr_relay_sockmap_fallbacks(struct vr_relay_sockmap_fallbacks *out);
/* r->up.bytes and r->down.bytes as the sockets say now (for the log line). */
void vr_relay_sockmap_sync(struct vr_relay *r);
/* The same without writing them (listings and metrics, workers parked);
 * for a relay not in the kernel, r's own counts. */
void vr_relay_sockmap_bytes(const struct vr_relay *r, uint64_t *up, uint64_t *down);
/* Whether the kernel moved bytes since the last call (for the idle timeout:
 * userspace sees no event while it does). */
bool vr_relay_sockmap_moved(struct vr_relay *r);
/* Leaves the maps and releases what the relay holds (vr_relay_stop). */
void vr_relay_sockmap_stop(struct vr_relay *r);

#endif
