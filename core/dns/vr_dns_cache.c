#include "vr_dns_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* An entry holds its key's fields and, after the message, its name (only as
 * long as it is: most names are far shorter than the key's buffer). */
struct entry {
    uint16_t qtype, qclass;
    int32_t upstream;
    uint8_t do_bit;
    uint8_t name_len;
    uint64_t hash;
    uint64_t stored_ms, expires_ms;
    struct entry *chain;            /* hash bucket */
    struct entry *lru_prev, *lru_next; /* most recently used first */
    uint32_t len;
    uint8_t msg[]; /* len bytes of message, then name_len bytes of name */
};

struct vr_dns_cache {
    pthread_mutex_t mu;
    uint32_t max_entries, max_ttl_s;
    struct entry **buckets;
    size_t n_buckets; /* a power of two */
    struct entry *lru_head, *lru_tail;
    struct vr_dns_cache_stats stats;
};

/* Seeded once per process: clients choose the names, so they must not be
 * able to aim many at one bucket (FNV-1a with a random offset basis). */
static uint64_t hash_seed;
static pthread_once_t hash_seed_once = PTHREAD_ONCE_INIT;

static void hash_seed_init(void)
{
    if (getrandom(&hash_seed, sizeof(hash_seed), GRND_NONBLOCK) != (ssize_t)sizeof(hash_seed))
        hash_seed = (uint64_t)(uintptr_t)&hash_seed ^ 0x9e3779b97f4a7c15ull;
}

uint64_t vr_dns_cache_key_hash(const struct vr_dns_cache_key *k)
{
    pthread_once(&hash_seed_once, hash_seed_init);
    uint64_t h = 1469598103934665603ull ^ hash_seed; /* FNV-1a */
    for (const char *p = k->name; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    uint64_t tail[] = {k->qtype, k->qclass, k->do_bit, (uint64_t)(int64_t)k->upstream};
    for (size_t i = 0; i < 4; i++)
        h = (h ^ tail[i]) * 1099511628211ull;
    return h;
}

static bool entry_is(const struct entry *e, const struct vr_dns_cache_key *k, size_t name_len)
{
    return e->qtype == k->qtype && e->qclass == k->qclass && e->do_bit == k->do_bit && e->upstream == k->upstream &&
           e->name_len == name_len && memcmp(e->msg + e->len, k->name, name_len) == 0;
}

struct vr_dns_cache *vr_dns_cache_new(uint32_t max_entries, uint32_t max_ttl_s)
{
    struct vr_dns_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->max_entries = max_entries;
    c->max_ttl_s = max_ttl_s;
    c->n_buckets = 64;
    while (c->n_buckets < max_entries && c->n_buckets < (1u << 24))
        c->n_buckets <<= 1;
    c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void vr_dns_cache_free(struct vr_dns_cache *c)
{
    if (c == NULL)
        return;
    for (struct entry *e = c->lru_head, *next; e; e = next) {
        next = e->lru_next;
        free(e);
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void lru_unlink(struct vr_dns_cache *c, struct entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        c->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct vr_dns_cache *c, struct entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = c->lru_head;
    if (c->lru_head)
        c->lru_head->lru_prev = e;
    c->lru_head = e;
    if (c->lru_tail == NULL)
        c->lru_tail = e;
}

static struct entry **find_slot(struct vr_dns_cache *c, const struct vr_dns_cache_key *k, uint64_t h)
{
    size_t nl = strlen(k->name);
    struct entry **p = &c->buckets[h & (c->n_buckets - 1)];
    while (*p && !((*p)->hash == h && entry_is(*p, k, nl)))
        p = &(*p)->chain;
    return p;
}

/* The slot holding e itself (for eviction). */
static struct entry **slot_of_entry(struct vr_dns_cache *c, const struct entry *e)
{
    struct entry **p = &c->buckets[e->hash & (c->n_buckets - 1)];
    while (*p != e)
        p = &(*p)->chain;
    return p;
}

static void remove_entry(struct vr_dns_cache *c, struct entry **slot)
{
    struct entry *e = *slot;
    *slot = e->chain;
    lru_unlink(c, e);
    c->stats.entries--;
    c->stats.bytes -= e->len;
    free(e);
}

size_t vr_dns_cache_get(struct vr_dns_cache *c, const struct vr_dns_cache_key *k, uint64_t now_ms, uint8_t *out,
                        size_t cap)
{
    uint64_t h = vr_dns_cache_key_hash(k);
    size_t len = 0;
    pthread_mutex_lock(&c->mu);
    struct entry **slot = find_slot(c, k, h);
    struct entry *e = *slot;
    if (e && now_ms >= e->expires_ms) {
        remove_entry(c, slot);
        c->stats.expired++;
        e = NULL;
    }
    if (e && e->len <= cap) {
        memcpy(out, e->msg, e->len);
        len = e->len;
        lru_unlink(c, e);
        lru_push_front(c, e);
        uint32_t elapsed = (uint32_t)((now_ms - e->stored_ms) / 1000u);
        c->stats.hits++;
        pthread_mutex_unlock(&c->mu);
        if (elapsed > 0)
            vr_dns_age_ttls(out, len, elapsed);
        return len;
    }
    c->stats.misses++;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void vr_dns_cache_put(struct vr_dns_cache *c, const struct vr_dns_cache_key *k, const uint8_t *msg, size_t len,
                      uint32_t ttl_s, uint64_t now_ms)
{
    if (ttl_s > c->max_ttl_s)
        ttl_s = c->max_ttl_s;
    if (ttl_s == 0 || c->max_entries == 0 || len > VR_DNS_MAX_MSG)
        return;
    size_t nl = strlen(k->name);
    struct entry *e = malloc(sizeof(*e) + len + nl);
    if (e == NULL)
        return;
    memset(e, 0, sizeof(*e));
    e->qtype = k->qtype;
    e->qclass = k->qclass;
    e->do_bit = k->do_bit;
    e->upstream = k->upstream;
    e->name_len = (uint8_t)nl;
    memcpy(e->msg + len, k->name, nl);
    e->hash = vr_dns_cache_key_hash(k);
    e->stored_ms = now_ms;
    e->expires_ms = now_ms + (uint64_t)ttl_s * 1000u;
    e->len = (uint32_t)len;
    memcpy(e->msg, msg, len);
    pthread_mutex_lock(&c->mu);
    struct entry **slot = find_slot(c, k, e->hash);
    if (*slot)
        remove_entry(c, slot);
    while (c->stats.entries >= c->max_entries && c->lru_tail) {
        remove_entry(c, slot_of_entry(c, c->lru_tail));
        c->stats.evictions++;
    }
    slot = &c->buckets[e->hash & (c->n_buckets - 1)];
    e->chain = *slot;
    *slot = e;
    lru_push_front(c, e);
    c->stats.entries++;
    c->stats.bytes += len;
    c->stats.inserts++;
    pthread_mutex_unlock(&c->mu);
}

void vr_dns_cache_stats(struct vr_dns_cache *c, struct vr_dns_cache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    pthread_mutex_unlock(&c->mu);
}

size_t vr_dns_cache_entry_overhead(void) { return sizeof(struct entry) + sizeof(struct entry *); }
