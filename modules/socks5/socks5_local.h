/* The gateway's own addresses, for the UDP relay's source check: a reply
 * header must never make the core bind a reply socket to one of them. */
#ifndef VR_SOCKS5_LOCAL_H
#define VR_SOCKS5_LOCAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct s5_local_addr {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
};

struct s5_local {
    struct s5_local_addr *v;
    size_t n;
    uint64_t taken_ms; /* when the snapshot was taken; 0: never */
};

/* How long a snapshot is trusted before the next check retakes it. */
#define S5_LOCAL_TTL_MS 1000

/* 1 if sa (IPv4-mapped judged as IPv4) is an address of one of the host's
 * interfaces or the broadcast address of one of its IPv4 networks, 0 if
 * not. Retakes the snapshot when older than S5_LOCAL_TTL_MS; when that
 * fails, the previous snapshot is used. */
int s5_local_is_own(struct s5_local *l, const struct sockaddr *sa, uint64_t now_ms);
void s5_local_free(struct s5_local *l);

#endif
