#include "ecmp_hash.h"

#include <math.h>
#include <netinet/in.h>
#include <string.h>

/* The splitmix64 finaliser: a full-avalanche 64-bit mix. */
static uint64_t ecmp_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t ecmp_hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull ^ ecmp_mix(seed); /* FNV-1a, then mixed */
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return ecmp_mix(h);
}

static size_t ecmp_addr_bytes(const struct sockaddr_storage *ss, uint8_t *out)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        memcpy(out, &in->sin_addr, 4);
        memcpy(out + 4, &in->sin_port, 2);
        return 6;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        memcpy(out, &in6->sin6_addr, 16);
        memcpy(out + 16, &in6->sin6_port, 2);
        return 18;
    }
    return 0;
}

uint64_t ecmp_flow_key(const struct vr_flow *f, int by_source)
{
    uint8_t b[2 * 18 + 4];
    size_t n = ecmp_addr_bytes(&f->src, b);
    if (by_source)
        return ecmp_hash_bytes(b, n >= 2 ? n - 2 : 0, 0x5eed); /* address without the port */
    /* UDP: the client endpoint only. One association carries a session to
     * every remote it talks to (full cone), so the remote that happened to
     * come first must not decide the member: a client endpoint whose
     * session expires and starts again with another remote keeps its
     * member, i.e. its public address. */
    if (f->network != VR_NET_UDP)
        n += ecmp_addr_bytes(&f->dst, b + n);
    memcpy(b + n, &f->network, 4);
    return ecmp_hash_bytes(b, n + 4, 0xf10e);
}

int ecmp_rendezvous(uint64_t key, const uint64_t *seeds, const double *weights,
                    const uint8_t *usable, int n)
{
    int best = -1;
    double best_score = 0;
    for (int i = 0; i < n; i++) {
        if (!usable[i] || weights[i] <= 0)
            continue;
        uint64_t h = ecmp_mix(key ^ seeds[i]);
        /* u in (0, 1): 53 bits, never 0 or 1 */
        double u = ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        double score = weights[i] / -log(u);
        if (best < 0 || score > best_score) {
            best = i;
            best_score = score;
        }
    }
    return best;
}

int ecmp_round_robin(int64_t *current, const int64_t *weights, const uint8_t *usable, int n)
{
    int best = -1;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!usable[i])
            continue;
        current[i] += weights[i];
        total += weights[i];
        if (best < 0 || current[i] > current[best])
            best = i;
    }
    if (best >= 0)
        current[best] -= total;
    return best;
}
