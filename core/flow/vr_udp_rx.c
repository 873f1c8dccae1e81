#include "vr_udp_rx.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "vr_addr.h"
#include "vr_cgroup_capture.h"

/* Calls per wakeup before other events get a turn. */
#define VR_UDP_RX_ROUNDS 8

/* IP_ORIGDSTADDR for IPv4 packets (also on a dual-stack IPv6 socket),
 * IPV6_ORIGDSTADDR for IPv6 ones. */
static bool original_destination(struct msghdr *m, struct sockaddr_storage *dst)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct sockaddr_in))) {
            memset(dst, 0, sizeof(*dst));
            memcpy(dst, CMSG_DATA(c), sizeof(struct sockaddr_in));
            return true;
        }
        if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct sockaddr_in6))) {
            memset(dst, 0, sizeof(*dst));
            memcpy(dst, CMSG_DATA(c), sizeof(struct sockaddr_in6));
            vr_sockaddr_unmap(dst);
            return true;
        }
    }
    return false;
}

void vr_udp_rx(int fd, uint8_t *buf, const struct sockaddr_storage *fixed_dst, vr_udp_rx_fn fn, void *arg,
               struct vr_udp_rx_counts *counts)
{
    struct mmsghdr msgs[VR_UDP_RX_BATCH];
    struct iovec iov[VR_UDP_RX_BATCH];
    struct sockaddr_storage src[VR_UDP_RX_BATCH];
    union {
        char buf[CMSG_SPACE(sizeof(struct sockaddr_in6)) * 2];
        struct cmsghdr align;
    } ctl[VR_UDP_RX_BATCH];
    for (int round = 0; round < VR_UDP_RX_ROUNDS; round++) {
        for (int i = 0; i < VR_UDP_RX_BATCH; i++) {
            iov[i].iov_base = buf + (size_t)i * VR_UDP_RX_DGRAM_MAX;
            iov[i].iov_len = VR_UDP_RX_DGRAM_MAX;
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_hdr.msg_name = &src[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(src[i]);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            if (fixed_dst == NULL) {
                msgs[i].msg_hdr.msg_control = ctl[i].buf;
                msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
            }
        }
        int n = recvmmsg(fd, msgs, VR_UDP_RX_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        for (int i = 0; i < n; i++) {
            struct sockaddr_storage dst;
            if (fixed_dst)
                dst = *fixed_dst;
            else if (!original_destination(&msgs[i].msg_hdr, &dst)) {
                counts->no_origdst++;
                continue;
            } else {
                vr_cgroup_capture_udp_dest(&dst); /* a local program's, sent to a stand-in address */
            }
            if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                counts->truncated++;
                continue;
            }
            vr_sockaddr_unmap(&src[i]);
            if (!fn(arg, &src[i], &dst, iov[i].iov_base, msgs[i].msg_len))
                return;
        }
        if (n < VR_UDP_RX_BATCH)
            return;
    }
}
