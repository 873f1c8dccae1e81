/* Batched UDP receive (recvmmsg) shared by the UDP listener and the reply
 * sockets: up to VR_UDP_RX_BATCH datagrams per system call, a bounded number
 * of calls per wakeup. */
#ifndef VR_UDP_RX_H
#define VR_UDP_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define VR_UDP_RX_BATCH 16
#define VR_UDP_RX_DGRAM_MAX 65536
#define VR_UDP_RX_BUF_SIZE ((size_t)VR_UDP_RX_BATCH * VR_UDP_RX_DGRAM_MAX)

/* Return false to stop reading (the socket may be gone). */
typedef bool (*vr_udp_rx_fn)(void *arg, const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                             const uint8_t *data, size_t len);

struct vr_udp_rx_counts {
    uint64_t truncated, no_origdst;
};

/* Reads from fd into buf (VR_UDP_RX_BUF_SIZE bytes) and calls fn for each
 * datagram with its source (unmapped) and destination: the original
 * destination from IP_ORIGDSTADDR / IPV6_ORIGDSTADDR when fixed_dst is NULL,
 * else fixed_dst. */
void vr_udp_rx(int fd, uint8_t *buf, const struct sockaddr_storage *fixed_dst, vr_udp_rx_fn fn, void *arg,
               struct vr_udp_rx_counts *counts);

#endif
