/* Transparent reply sockets: a datagram for a UDP client must come from the
 * address and port the client sent to (or, in full-cone mode, from whichever
 * remote answered), so it is sent from a socket bound to that non-local
 * endpoint (IP_TRANSPARENT, IP_FREEBIND). One socket per source endpoint,
 * shared by every session that needs it, closed after a while unused and
 * bounded in number (least recently used goes first).
 *
 * Such a socket also receives: the usual capture rule's "socket transparent
 * 1" match finds it for the client's next datagrams to that endpoint and
 * delivers them to it instead of the TPROXY listener. So each one is read
 * too, and what it gets is handed on as if the listener had received it. */
#ifndef VR_UDP_REPLY_H
#define VR_UDP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vr_udp_rx.h"

struct event_base;
struct vr_udp_reply_sock;


struct vr_udp_replies {
    struct vr_udp_reply_sock **buckets;
    size_t n_buckets;
    size_t n;
    size_t max;
    struct vr_udp_reply_sock *newest, *oldest; /* by last use */
    uint64_t seed;
    struct event_base *base;
    vr_udp_rx_fn input; /* a client datagram that a reply socket received */
    uint8_t *rxbuf;     /* VR_UDP_RX_BUF_SIZE, shared with the listener */
    struct vr_udp_rx_counts rx;
    void *input_arg;
    struct vr_udp_reply_sock *reading; /* the socket whose datagrams are being handed on */
    uint64_t opened, bind_failed, send_failed;
    bool across_workers; /* other workers bind the same remote endpoints (SO_REUSEPORT) */
};

int vr_udp_replies_init(struct vr_udp_replies *r, size_t max_sockets, struct event_base *base,
                        uint8_t *rxbuf, vr_udp_rx_fn input, void *input_arg);
void vr_udp_replies_fini(struct vr_udp_replies *r);

/* Sends data to client from the endpoint from (both unmapped, same family).
 * Returns 0 or a negative errno (the datagram is then dropped). */
int vr_udp_reply_send(struct vr_udp_replies *r, const struct sockaddr *from, const struct sockaddr *client,
                      const uint8_t *data, size_t len, uint64_t now_ms);

/* Closes sockets unused for idle_ms. */
void vr_udp_replies_sweep(struct vr_udp_replies *r, uint64_t now_ms, uint64_t idle_ms);

#endif
