#include "vr_clients.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vr_addr.h"
#include "vr_log.h"

void vr_client_id_make(struct vr_client_id *id, int family, const uint8_t *addr, unsigned prefix_v6)
{
    memset(id, 0, sizeof(*id));
    id->family = (uint8_t)family;
    if (family == AF_INET) {
        id->prefix = 32;
        memcpy(id->addr, addr, 4);
        return;
    }
    unsigned bits = prefix_v6 > 128 ? 128 : prefix_v6;
    id->prefix = (uint8_t)bits;
    memcpy(id->addr, addr, bits / 8);
    if (bits % 8)
        id->addr[bits / 8] = (uint8_t)(addr[bits / 8] & (0xff << (8 - bits % 8)));
}

const char *vr_client_id_str(const struct vr_client_id *id, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    if (inet_ntop(id->family, id->addr, a, sizeof(a)) == NULL)
        snprintf(a, sizeof(a), "?");
    if (id->family == AF_INET || id->prefix == 128)
        snprintf(buf, len, "%s", a);
    else
        snprintf(buf, len, "%s/%u", a, id->prefix);
    return buf;
}

/* Seeded: clients choose their addresses, so buckets must not be
 * predictable from outside (same mix as the UDP table). */
static size_t bucket_of(const struct vr_clients *t, const struct vr_client_id *id)
{
    uint64_t h = t->seed;
    const uint8_t *p = (const uint8_t *)id;
    for (size_t off = 0; off < sizeof(*id); off += 8) {
        uint64_t w = 0;
        memcpy(&w, p + off, sizeof(*id) - off < 8 ? sizeof(*id) - off : 8);
        h ^= w;
        h *= 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return (size_t)(h & (t->n_buckets - 1));
}

static int resize(struct vr_clients *t, size_t n_buckets)
{
    struct vr_client **b = calloc(n_buckets, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    struct vr_client **old = t->buckets;
    size_t old_n = t->n_buckets;
    t->buckets = b;
    t->n_buckets = n_buckets;
    for (size_t i = 0; i < old_n; i++) {
        struct vr_client *c = old[i];
        while (c) {
            struct vr_client *next = c->hnext;
            size_t h = bucket_of(t, &c->id);
            c->hnext = b[h];
            b[h] = c;
            c = next;
        }
    }
    free(old);
    return 0;
}

struct vr_client *vr_clients_get(struct vr_clients *t, const struct vr_client_id *id)
{
    if (t->n_buckets == 0) {
        if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
            t->seed = (uint64_t)(uintptr_t)t ^ 0x2545f4914f6cdd1dULL;
        if (resize(t, 64) < 0)
            return NULL;
    }
    for (struct vr_client *c = t->buckets[bucket_of(t, id)]; c; c = c->hnext)
        if (memcmp(&c->id, id, sizeof(*id)) == 0)
            return c;
    struct vr_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->id = *id;
    size_t h = bucket_of(t, id);
    c->hnext = t->buckets[h];
    t->buckets[h] = c;
    if (++t->n > t->n_buckets)
        (void)resize(t, t->n_buckets * 2); /* failing to grow only makes chains longer */
    return c;
}

void vr_clients_release(struct vr_clients *t, struct vr_client *c)
{
    if (c == NULL || c->n > 0)
        return;
    for (struct vr_client **p = &t->buckets[bucket_of(t, &c->id)]; *p; p = &(*p)->hnext)
        if (*p == c) {
            *p = c->hnext;
            break;
        }
    t->n--;
    free(c);
}

void vr_clients_fini(struct vr_clients *t)
{
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct vr_client *c = t->buckets[i];
        while (c) {
            struct vr_client *next = c->hnext;
            free(c);
            c = next;
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

bool vr_clients_admit(struct vr_clients *t, const struct sockaddr *peer, uint32_t cap, unsigned prefix_v6,
                      uint64_t now_ms, struct vr_client **out)
{
    *out = NULL;
    if (cap == 0)
        return true;
    const uint8_t *bytes;
    int family = vr_sockaddr_bytes(peer, &bytes);
    struct vr_client_id id;
    vr_client_id_make(&id, family, bytes, prefix_v6);
    struct vr_client *c = vr_clients_get(t, &id);
    if (c == NULL)
        return true; /* out of memory: the connection goes uncounted rather than refused */
    if (c->n >= cap) {
        t->refused++;
        if (!c->refusing) {
            char a[64];
            c->refusing = true;
            c->episode_ms = now_ms;
            c->episode_refused = 0;
            t->episodes++;
            vr_warn("client %s holds %" PRIu32 " connections, its daemon.max_connections_per_client: its new "
                    "connections are refused until it closes some (other clients are not affected; one line "
                    "per episode)",
                    vr_client_id_str(&c->id, a, sizeof(a)), c->n);
        }
        c->episode_refused++;
        return false;
    }
    c->n++;
    *out = c;
    return true;
}

void vr_clients_leave(struct vr_clients *t, struct vr_client *c, uint32_t cap, uint64_t now_ms)
{
    if (c == NULL)
        return;
    c->n--;
    /* Hysteresis: a client that keeps itself at the cap is one episode, not
     * two log lines per connection it closes. */
    if (c->refusing && (c->n <= cap / 2 || cap == 0)) {
        char a[64];
        vr_info("client %s is down to %" PRIu32 " connections: accepting it again (%" PRIu64
                " connections refused in %" PRIu64 " ms)",
                vr_client_id_str(&c->id, a, sizeof(a)), c->n, c->episode_refused, now_ms - c->episode_ms);
        c->refusing = false;
    }
    vr_clients_release(t, c);
}
