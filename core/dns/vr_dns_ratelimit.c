#include "vr_dns_ratelimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct client {
    uint8_t addr[16]; /* IPv4-mapped, or the IPv6 /64 with the rest zero */
    uint64_t hash;
    double tokens;
    uint64_t last_ms;
    struct client *chain, *prev, *next; /* bucket; LRU, most recent first */
};

struct vr_dns_ratelimit {
    pthread_mutex_t mu;
    double qps, burst;
    uint32_t max_clients, n;
    struct client **buckets;
    size_t n_buckets;
    struct client *head, *tail;
    uint64_t refused;
};

struct vr_dns_ratelimit *vr_dns_ratelimit_new(uint32_t qps, uint32_t burst, uint32_t max_clients)
{
    struct vr_dns_ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL)
        return NULL;
    rl->qps = qps;
    rl->burst = burst ? burst : qps;
    rl->max_clients = max_clients;
    rl->n_buckets = 64;
    while (rl->n_buckets < max_clients)
        rl->n_buckets <<= 1;
    rl->buckets = calloc(rl->n_buckets, sizeof(*rl->buckets));
    if (rl->buckets == NULL) {
        free(rl);
        return NULL;
    }
    pthread_mutex_init(&rl->mu, NULL);
    return rl;
}

void vr_dns_ratelimit_free(struct vr_dns_ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (struct client *c = rl->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(rl->buckets);
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static void client_key(const struct sockaddr *sa, uint8_t out[16])
{
    memset(out, 0, 16);
    if (sa->sa_family == AF_INET) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(out, a, memcmp(a, mapped, 12) == 0 ? 16 : 8);
    }
}

static void unlink_lru(struct vr_dns_ratelimit *rl, struct client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        rl->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        rl->tail = c->prev;
}

static void push_front(struct vr_dns_ratelimit *rl, struct client *c)
{
    c->prev = NULL;
    c->next = rl->head;
    if (rl->head)
        rl->head->prev = c;
    rl->head = c;
    if (rl->tail == NULL)
        rl->tail = c;
}

static struct client **slot_of(struct vr_dns_ratelimit *rl, const uint8_t key[16], uint64_t h)
{
    struct client **p = &rl->buckets[h & (rl->n_buckets - 1)];
    while (*p && !((*p)->hash == h && memcmp((*p)->addr, key, 16) == 0))
        p = &(*p)->chain;
    return p;
}

bool vr_dns_ratelimit_allow(struct vr_dns_ratelimit *rl, const struct sockaddr *client, uint64_t now_ms)
{
    uint8_t key[16];
    client_key(client, key);
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    bool ok;
    pthread_mutex_lock(&rl->mu);
    struct client **slot = slot_of(rl, key, h);
    struct client *c = *slot;
    if (c == NULL) {
        if (rl->n >= rl->max_clients && rl->tail) { /* forget the least recently seen */
            struct client *old = rl->tail;
            unlink_lru(rl, old);
            struct client **os = slot_of(rl, old->addr, old->hash);
            *os = old->chain;
            free(old);
            rl->n--;
            slot = slot_of(rl, key, h);
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            pthread_mutex_unlock(&rl->mu);
            return true; /* out of memory: do not turn it into an outage */
        }
        memcpy(c->addr, key, 16);
        c->hash = h;
        c->tokens = rl->burst;
        c->last_ms = now_ms;
        c->chain = *slot;
        *slot = c;
        rl->n++;
    } else
        unlink_lru(rl, c);
    push_front(rl, c);
    if (now_ms > c->last_ms) {
        c->tokens += (double)(now_ms - c->last_ms) * rl->qps / 1000.0;
        if (c->tokens > rl->burst)
            c->tokens = rl->burst;
        c->last_ms = now_ms;
    }
    ok = c->tokens >= 1.0;
    if (ok)
        c->tokens -= 1.0;
    else
        rl->refused++;
    pthread_mutex_unlock(&rl->mu);
    return ok;
}

uint64_t vr_dns_ratelimit_refused(struct vr_dns_ratelimit *rl, uint64_t *clients)
{
    pthread_mutex_lock(&rl->mu);
    uint64_t r = rl->refused;
    if (clients)
        *clients = rl->n;
    pthread_mutex_unlock(&rl->mu);
    return r;
}
