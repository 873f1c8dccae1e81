/* A token bucket per client for new UDP associations: each one costs the
 * server a TCP connection and a handshake, and a client can make one per
 * source port it opens. */
#ifndef VR_SOCKS5_RATE_H
#define VR_SOCKS5_RATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct s5_rate_slot {
    uint8_t family; /* 0: free */
    uint8_t key[16];
    uint32_t tokens_milli;
    uint64_t last_ms;
};

struct s5_rate {
    struct s5_rate_slot *slots; /* NULL when unlimited */
    size_t n;
    uint32_t per_s;  /* tokens added per second */
    uint32_t burst;  /* bucket size */
    uint64_t seed;
};

/* per_s == 0: no limit (nothing allocated). burst = 2 x per_s. Returns 0
 * or -ENOMEM. */
int s5_rate_init(struct s5_rate *r, uint32_t per_s);
/* Takes one token from client's bucket: 1 if it had one, 0 if not. An IPv6
 * client counts by its /64 (privacy addresses would multiply the budget);
 * an IPv4-mapped one as IPv4. */
int s5_rate_take(struct s5_rate *r, const struct sockaddr *client, uint64_t now_ms);
void s5_rate_free(struct s5_rate *r);

#endif
