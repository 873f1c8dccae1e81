/* Per-client query rate limit of the resolver: a token bucket per client
 * address (IPv4 /32, IPv6 /64), qps tokens a second up to burst. The client
 * table is bounded: past max_clients the least recently seen client is
 * forgotten (it starts again with a full bucket, which a flood of spoofed
 * sources can only use to get burst queries each). Shared by every worker
 * of the generation under a mutex. */
#ifndef VR_DNS_RATELIMIT_H
#define VR_DNS_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct vr_dns_ratelimit;

struct vr_dns_ratelimit *vr_dns_ratelimit_new(uint32_t qps, uint32_t burst, uint32_t max_clients);
void vr_dns_ratelimit_free(struct vr_dns_ratelimit *rl);
/* May client ask one more query now? Takes a token when it may. */
bool vr_dns_ratelimit_allow(struct vr_dns_ratelimit *rl, const struct sockaddr *client, uint64_t now_ms);
/* Queries refused so far, and clients tracked. */
uint64_t vr_dns_ratelimit_refused(struct vr_dns_ratelimit *rl, uint64_t *clients);

#endif
