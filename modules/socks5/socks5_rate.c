/* Per-client token buckets in a fixed table, direct-mapped by a seeded
 * hash: memory is bounded whatever the number of clients, and a client
 * whose slot is taken by another starts again with a full bucket (a
 * collision can only loosen the limit, never block an innocent client;
 * the random seed keeps a client from choosing whom it collides with). */
#include "socks5_rate.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define S5_RATE_SLOTS 4096 /* a power of two */

int s5_rate_init(struct s5_rate *r, uint32_t per_s)
{
    memset(r, 0, sizeof(*r));
    r->per_s = per_s;
    r->burst = per_s * 2;
    if (per_s == 0)
        return 0;
    r->slots = calloc(S5_RATE_SLOTS, sizeof(*r->slots));
    if (r->slots == NULL)
        return -ENOMEM;
    r->n = S5_RATE_SLOTS;
    if (getrandom(&r->seed, sizeof(r->seed), GRND_NONBLOCK) != (ssize_t)sizeof(r->seed))
        r->seed = (uint64_t)(uintptr_t)r;
    return 0;
}

static void s5_rate_key(const struct sockaddr *sa, uint8_t *family, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        *family = AF_INET;
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return;
    }
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
        *family = AF_INET;
        memcpy(key, a->s6_addr + 12, 4);
    } else {
        *family = AF_INET6;
        memcpy(key, a->s6_addr, 8); /* the /64 */
    }
}

static size_t s5_rate_slot_of(const struct s5_rate *r, uint8_t family, const uint8_t key[16])
{
    uint64_t h = r->seed ^ family;
    for (int i = 0; i < 16; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h ^= w;
        h *= 0x9e3779b97f4a7c15ULL;
        h ^= h >> 31;
    }
    return (size_t)(h & (r->n - 1));
}

int s5_rate_take(struct s5_rate *r, const struct sockaddr *client, uint64_t now_ms)
{
    if (r->slots == NULL || (client->sa_family != AF_INET && client->sa_family != AF_INET6))
        return 1;
    uint8_t family, key[16];
    s5_rate_key(client, &family, key);
    struct s5_rate_slot *s = &r->slots[s5_rate_slot_of(r, family, key)];
    uint32_t full = r->burst * 1000u;
    if (s->family != family || memcmp(s->key, key, 16) != 0) {
        s->family = family;
        memcpy(s->key, key, 16);
        s->tokens_milli = full;
    } else {
        uint64_t add = (now_ms - s->last_ms) * r->per_s; /* milli-tokens: per_s per ms */
        s->tokens_milli = add >= full - s->tokens_milli ? full : s->tokens_milli + (uint32_t)add;
    }
    s->last_ms = now_ms;
    if (s->tokens_milli < 1000)
        return 0;
    s->tokens_milli -= 1000;
    return 1;
}

void s5_rate_free(struct s5_rate *r)
{
    free(r->slots);
    r->slots = NULL;
    r->n = 0;
}
