/* Cgroup capture of local programs (daemon.capture_cgroup; programs in
 * bpf/cgroup_capture.bpf.c, which explains how the original destination
 * travels). TCP connects from programs in the cgroup to non-local
 * destinations arrive at vrouterd's first TCP listener; vr_conn asks here
 * where they were going and routes them like captured LAN flows. UDP
 * arrives at the first UDP listener addressed to a stand-in per original
 * destination (127.128.0.0 + slot; for IPv6 destinations, in the prefix
 * vr_standin_route.c routes as local), which vr_udp_rx and the session's
 * replies translate here.
 *
 * The programs are attached with bpf_links held by the process (not
 * pinned): when vrouterd dies, even by SIGKILL, the kernel detaches them,
 * so no program is left redirecting connects to a listener that is gone. */
#ifndef VR_CGROUP_CAPTURE_H
#define VR_CGROUP_CAPTURE_H

#include <stddef.h>
#include <sys/socket.h>

struct vr_config;

/* Makes the capture what cfg says (no capture_cgroup: none; NULL: none,
 * and the maps are freed too: at exit, once no worker accepts):
 * attaches to a new cgroup directory, updates the listener and local
 * addresses on an unchanged one. Main thread. Returns 0 or -errno, logged
 * with the key's FILE:LINE; on failure what was attached stays. */
int vr_cgroup_capture_apply(const struct vr_config *cfg);

/* The original destination of a connection accepted from peer (its
 * address unmapped) if it is a captured local program's; the record is
 * consumed. Any thread. Returns 0, or -ENOENT when peer is no captured
 * connection (or capture is off). */
int vr_cgroup_capture_origdst(const struct sockaddr_storage *peer, struct sockaddr_storage *dst);

/* UDP: a datagram's original destination (IP_ORIGDSTADDR) that is the
 * stand-in of a captured local program's destination becomes that
 * destination. Any thread. Returns 0 when it did, -ENOENT otherwise. */
int vr_cgroup_capture_udp_dest(struct sockaddr_storage *dst);
/* UDP: a reply from src to client, when client is a captured local
 * program, is sent through the listener's socket fd (of family fd_family)
 * from the stand-in of src, the address the program sent to. Any thread.
 * Returns 0 when sent, -ENOENT when client is no captured program (send it
 * the usual way), or the send's -errno. */
int vr_cgroup_capture_udp_reply(int fd, int fd_family, const struct sockaddr_storage *client,
                                const struct sockaddr_storage *src, const void *data, size_t len);

#endif
