/*
 * The FakeIP pool: name -> address and address -> name, per family.
 *
 * Addresses are handed out in order from the range's first host address
 * (the network address, offset 0, and the broadcast one are never used), so
 * a mapping's address is base + 1 + idx with idx < the family's cap: the
 * address -> mapping map is a plain array indexed by idx (O(1), no hash),
 * and name -> mapping is a chained hash table. A list in least recently
 * used order picks the mapping to recycle when every address is taken;
 * mappings pinned by live flows are passed over. One mutex guards it all:
 * every call is a few pointer moves (bench/fakeip_bench.c measures it).
 */
#include "vr_fakeip_pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RETIRED_MAX 4

struct fk_entry {
    struct fk_entry *hnext;            /* name hash chain */
    struct fk_entry *newer, *older;    /* LRU list */
    uint32_t hash;
    uint32_t idx;
    uint32_t pins;
    char name[];
};

struct fk_family {
    struct vr_fakeip_range range; /* family 0: off */
    uint64_t usable;              /* host addresses in the range but network and broadcast */
    uint32_t cap;                 /* min(usable, max_mappings) */
    struct fk_entry **by_idx;     /* by_idx_len slots, grown on demand up to cap */
    uint32_t by_idx_len;
    uint32_t next_idx;            /* offsets at and above were never handed out */
    uint32_t *free_idx;           /* offsets given back below next_idx */
    uint32_t n_free, free_cap;
    struct fk_entry **buckets;
    uint32_t n_buckets; /* power of two */
    uint32_t n;
    /* LRU ring through newer/older; the sentinel's newer is the least
     * recently used mapping, its older the most recently used one. */
    struct fk_entry lru;
    struct vr_fakeip_range retired[RETIRED_MAX];
    int n_retired;
};

struct vr_fakeip_pool {
    pthread_mutex_t mu;
    struct fk_family f[2]; /* [0] IPv4, [1] IPv6 */
    uint32_t ttl;
    uint32_t max_mappings;
    uint64_t changes;
    uint64_t assigned, recycled, hits, gone;
};

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static int fam_index(int family) { return family == AF_INET ? 0 : family == AF_INET6 ? 1 : -1; }
static size_t addr_len(int family) { return family == AF_INET ? 4 : 16; }
static int width(int family) { return family == AF_INET ? 32 : 128; }

/* Whether a (family's bytes) lies in r; *off is its host part, saturated at
 * UINT64_MAX. */
static bool range_offset(const struct vr_fakeip_range *r, const uint8_t *a, uint64_t *off)
{
    int p = r->prefix, w = width(r->family);
    for (int bit = 0; bit < p; bit++) {
        uint8_t m = (uint8_t)(0x80u >> (bit & 7));
        if ((a[bit / 8] & m) != (r->base[bit / 8] & m))
            return false;
    }
    uint64_t v = 0;
    for (int bit = p; bit < w; bit++) {
        uint64_t b = (a[bit / 8] >> (7 - (bit & 7))) & 1u;
        if (v > (UINT64_MAX >> 1)) {
            *off = UINT64_MAX;
            return true;
        }
        v = (v << 1) | b;
    }
    *off = v;
    return true;
}

static void addr_of(const struct fk_family *f, uint32_t idx, void *out)
{
    size_t n = addr_len(f->range.family);
    uint8_t a[16];
    memcpy(a, f->range.base, n);
    uint64_t carry = (uint64_t)idx + 1;
    for (size_t i = n; i-- > 0 && carry;) {
        carry += a[i];
        a[i] = (uint8_t)carry;
        carry >>= 8;
    }
    memcpy(out, a, n);
}

/* The family and address bytes of sa (an IPv4-mapped IPv6 address is IPv4). */
static int sa_bytes(const struct sockaddr *sa, const uint8_t **bytes)
{
    if (sa->sa_family == AF_INET) {
        *bytes = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        return AF_INET;
    }
    if (sa->sa_family != AF_INET6)
        return -1;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
        *bytes = a6->s6_addr + 12;
        return AF_INET;
    }
    *bytes = a6->s6_addr;
    return AF_INET6;
}

/* ---- lists and tables (pool locked) */

static void lru_unlink(struct fk_entry *e)
{
    e->newer->older = e->older;
    e->older->newer = e->newer;
}

static void lru_push_newest(struct fk_family *f, struct fk_entry *e)
{
    e->older = f->lru.older;
    e->newer = &f->lru;
    f->lru.older->newer = e;
    f->lru.older = e;
}

static struct fk_entry *find_name(const struct fk_family *f, const char *name, uint32_t h)
{
    if (f->n_buckets == 0)
        return NULL;
    for (struct fk_entry *e = f->buckets[h & (f->n_buckets - 1)]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static void hash_unlink(struct fk_family *f, struct fk_entry *e)
{
    struct fk_entry **pp = &f->buckets[e->hash & (f->n_buckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
}

static int hash_grow(struct fk_family *f)
{
    uint32_t nb = f->n_buckets ? f->n_buckets * 2 : 64;
    struct fk_entry **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < f->n_buckets; i++) {
        struct fk_entry *e = f->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(f->buckets);
    f->buckets = b;
    f->n_buckets = nb;
    return 0;
}

static int idx_room(struct fk_family *f, uint32_t idx)
{
    if (idx < f->by_idx_len)
        return 0;
    uint64_t len = f->by_idx_len ? f->by_idx_len : 256;
    while (len <= idx)
        len *= 2;
    if (len > f->cap)
        len = f->cap;
    struct fk_entry **a = realloc(f->by_idx, len * sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    memset(a + f->by_idx_len, 0, (len - f->by_idx_len) * sizeof(*a));
    f->by_idx = a;
    f->by_idx_len = (uint32_t)len;
    return 0;
}

/* Gives an offset back; false when out of memory (the offset is then
 * lost until a restart: harmless, one address fewer). */
static bool free_push(struct fk_family *f, uint32_t idx)
{
    if (f->n_free == f->free_cap) {
        uint32_t nc = f->free_cap ? f->free_cap * 2 : 64;
        uint32_t *a = realloc(f->free_idx, nc * sizeof(*a));
        if (a == NULL)
            return false;
        f->free_idx = a;
        f->free_cap = nc;
    }
    f->free_idx[f->n_free++] = idx;
    return true;
}

/* Unlinks e everywhere and frees it (its offset is the caller's). */
static void entry_drop(struct fk_family *f, struct fk_entry *e)
{
    hash_unlink(f, e);
    lru_unlink(e);
    f->by_idx[e->idx] = NULL;
    f->n--;
    free(e);
}

/* Links a new mapping name -> idx as the most recent. */
static struct fk_entry *entry_add(struct fk_family *f, const char *name, uint32_t h, uint32_t idx)
{
    if (idx_room(f, idx) < 0)
        return NULL;
    if (f->n + 1 > f->n_buckets && hash_grow(f) < 0)
        return NULL;
    size_t nl = strlen(name);
    struct fk_entry *e = malloc(sizeof(*e) + nl + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->name, name, nl + 1);
    e->hash = h;
    e->idx = idx;
    e->pins = 0;
    e->hnext = f->buckets[h & (f->n_buckets - 1)];
    f->buckets[h & (f->n_buckets - 1)] = e;
    f->by_idx[idx] = e;
    lru_push_newest(f, e);
    f->n++;
    return e;
}

static void family_clear(struct fk_family *f)
{
    while (f->lru.older != &f->lru)
        entry_drop(f, f->lru.older);
    free(f->by_idx);
    free(f->buckets);
    free(f->free_idx);
    f->by_idx = NULL;
    f->buckets = NULL;
    f->free_idx = NULL;
    f->by_idx_len = f->n_buckets = f->next_idx = f->n_free = f->free_cap = 0;
}

/* The least recently used mapping not pinned by a live flow; the least
 * recently used of all when every one is pinned. Pinned ones passed over
 * become the most recent, so the next walk does not pass them again. */
static struct fk_entry *victim(struct fk_family *f)
{
    for (uint32_t seen = 0; seen < f->n; seen++) {
        struct fk_entry *e = f->lru.newer;
        if (e->pins == 0)
            return e;
        lru_unlink(e);
        lru_push_newest(f, e);
    }
    return f->lru.newer;
}

/* ---- the interface */

struct vr_fakeip_pool *vr_fakeip_create(void)
{
    struct vr_fakeip_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    for (int i = 0; i < 2; i++)
        p->f[i].lru.newer = p->f[i].lru.older = &p->f[i].lru;
    p->ttl = 1;
    p->max_mappings = VR_FAKEIP_DEFAULT_MAX;
    return p;
}

void vr_fakeip_destroy(struct vr_fakeip_pool *pool)
{
    if (pool == NULL)
        return;
    for (int i = 0; i < 2; i++)
        family_clear(&pool->f[i]);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
}

static bool same_range(const struct vr_fakeip_range *a, const struct vr_fakeip_range *b)
{
    return a->family == b->family && a->prefix == b->prefix &&
           (a->family == 0 || memcmp(a->base, b->base, addr_len(a->family)) == 0);
}

static void family_configure(struct fk_family *f, const struct vr_fakeip_range *r, uint32_t max)
{
    struct vr_fakeip_range none = {0};
    if (r == NULL)
        r = &none;
    if (!same_range(&f->range, r)) {
        if (f->range.family) {
            /* The old range stays recognised: a client may still hold its
             * addresses, and a flow to one must be refused, not sent there. */
            int i;
            for (i = 0; i < f->n_retired; i++)
                if (same_range(&f->retired[i], &f->range))
                    break;
            if (i == f->n_retired) {
                if (f->n_retired == RETIRED_MAX)
                    memmove(f->retired, f->retired + 1, sizeof(f->retired[0]) * (RETIRED_MAX - 1));
                else
                    f->n_retired++;
                f->retired[f->n_retired - 1] = f->range;
            }
        }
        family_clear(f);
        f->range = *r;
        /* A range given back becomes live again: not retired. */
        for (int i = 0; i < f->n_retired; i++)
            if (same_range(&f->retired[i], r)) {
                memmove(f->retired + i, f->retired + i + 1, sizeof(f->retired[0]) * (size_t)(f->n_retired - i - 1));
                f->n_retired--;
                break;
            }
    }
    if (f->range.family == 0) {
        f->usable = f->cap = 0;
        return;
    }
    int hb = width(f->range.family) - f->range.prefix;
    f->usable = hb >= 64 ? UINT64_MAX : (UINT64_C(1) << hb) - 2;
    uint32_t cap = f->usable < max ? (uint32_t)f->usable : max;
    /* A lower cap: the mappings at offsets above it go. */
    for (uint32_t i = cap; i < f->by_idx_len; i++)
        if (f->by_idx[i] != NULL)
            entry_drop(f, f->by_idx[i]);
    if (cap < f->cap) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < f->n_free; i++)
            if (f->free_idx[i] < cap)
                f->free_idx[k++] = f->free_idx[i];
        f->n_free = k;
        if (f->next_idx > cap)
            f->next_idx = cap;
        if (f->by_idx_len > cap)
            f->by_idx_len = cap; /* slots above are all NULL now */
    }
    f->cap = cap;
}

int vr_fakeip_configure(struct vr_fakeip_pool *pool, const struct vr_fakeip_range *v4,
                        const struct vr_fakeip_range *v6, uint32_t ttl, uint32_t max_mappings)
{
    pthread_mutex_lock(&pool->mu);
    family_configure(&pool->f[0], v4 && v4->family == AF_INET ? v4 : NULL, max_mappings);
    family_configure(&pool->f[1], v6 && v6->family == AF_INET6 ? v6 : NULL, max_mappings);
    pool->ttl = ttl;
    pool->max_mappings = max_mappings;
    pool->changes++;
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

/* A free offset, or the recycled one of the least recently used mapping. */
static int take_idx(struct vr_fakeip_pool *pool, struct fk_family *f, uint32_t *idx)
{
    if (f->n_free > 0) {
        *idx = f->free_idx[--f->n_free];
        return 0;
    }
    if (f->next_idx < f->cap) {
        *idx = f->next_idx++;
        return 0;
    }
    if (f->n == 0)
        return -ENOSPC;
    struct fk_entry *v = victim(f);
    *idx = v->idx;
    entry_drop(f, v);
    pool->recycled++;
    return 0;
}

int vr_fakeip_assign(struct vr_fakeip_pool *pool, const char *name, int family, void *out)
{
    int fi = fam_index(family);
    if (pool == NULL || fi < 0)
        return -EAFNOSUPPORT;
    if (!vr_fakeip_name_ok(name))
        return -EINVAL; /* it could not be saved, and would make the file unreadable */
    uint32_t h = name_hash(name);
    pthread_mutex_lock(&pool->mu);
    struct fk_family *f = &pool->f[fi];
    int r = 0;
    if (f->range.family == 0 || f->cap == 0) {
        r = -EAFNOSUPPORT;
        goto out;
    }
    struct fk_entry *e = find_name(f, name, h);
    if (e != NULL) {
        lru_unlink(e);
        lru_push_newest(f, e);
        addr_of(f, e->idx, out);
        goto out;
    }
    uint32_t idx;
    if ((r = take_idx(pool, f, &idx)) < 0)
        goto out;
    e = entry_add(f, name, h, idx);
    if (e == NULL) {
        (void)free_push(f, idx);
        r = -ENOMEM;
        goto out;
    }
    pool->assigned++;
    pool->changes++;
    addr_of(f, idx, out);
out:
    pthread_mutex_unlock(&pool->mu);
    return r;
}

/* Where addr falls: its family and mapping slot. Returns -1 (not fake), 0
 * (fake, no slot: network, broadcast, above the cap, or a retired range) or
 * 1 with *fo and *idx set. Pool locked. */
static int locate(struct vr_fakeip_pool *pool, const struct sockaddr *addr, struct fk_family **fo, uint32_t *idx)
{
    const uint8_t *bytes;
    int family = sa_bytes(addr, &bytes);
    int fi = fam_index(family);
    if (fi < 0)
        return -1;
    struct fk_family *f = &pool->f[fi];
    uint64_t off;
    if (f->range.family && range_offset(&f->range, bytes, &off)) {
        if (off == 0 || off - 1 >= f->usable || off - 1 >= f->cap)
            return 0;
        *fo = f;
        *idx = (uint32_t)(off - 1);
        return 1;
    }
    for (int i = 0; i < f->n_retired; i++)
        if (range_offset(&f->retired[i], bytes, &off))
            return 0;
    return -1;
}

static int lookup(struct vr_fakeip_pool *pool, const struct sockaddr *addr, char *name, size_t cap, bool pin)
{
    if (pool == NULL)
        return -1;
    pthread_mutex_lock(&pool->mu);
    struct fk_family *f;
    uint32_t idx;
    int r = locate(pool, addr, &f, &idx);
    if (r == 1) {
        struct fk_entry *e = idx < f->by_idx_len ? f->by_idx[idx] : NULL;
        if (e == NULL) {
            r = 0;
        } else {
            if (cap > 0) {
                size_t nl = strlen(e->name);
                if (nl >= cap)
                    nl = cap - 1;
                memcpy(name, e->name, nl);
                name[nl] = '\0';
            }
            lru_unlink(e);
            lru_push_newest(f, e);
            if (pin)
                e->pins++;
            pool->hits++;
        }
    }
    if (r == 0)
        pool->gone++;
    pthread_mutex_unlock(&pool->mu);
    return r;
}

int vr_fakeip_lookup(struct vr_fakeip_pool *pool, const struct sockaddr *addr, char *name, size_t cap)
{
    return lookup(pool, addr, name, cap, false);
}

int vr_fakeip_lookup_pin(struct vr_fakeip_pool *pool, const struct sockaddr *addr, char *name, size_t cap)
{
    return lookup(pool, addr, name, cap, true);
}

void vr_fakeip_unpin(struct vr_fakeip_pool *pool, const struct sockaddr *addr, const char *name)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mu);
    struct fk_family *f;
    uint32_t idx;
    if (locate(pool, addr, &f, &idx) == 1 && idx < f->by_idx_len) {
        struct fk_entry *e = f->by_idx[idx];
        if (e && e->pins > 0 && strcmp(e->name, name) == 0)
            e->pins--;
    }
    pthread_mutex_unlock(&pool->mu);
}

bool vr_fakeip_in_range(struct vr_fakeip_pool *pool, const struct sockaddr *addr)
{
    if (pool == NULL)
        return false;
    pthread_mutex_lock(&pool->mu);
    struct fk_family *f;
    uint32_t idx;
    bool in = locate(pool, addr, &f, &idx) >= 0;
    pthread_mutex_unlock(&pool->mu);
    return in;
}

uint32_t vr_fakeip_ttl(const struct vr_fakeip_pool *pool)
{
    if (pool == NULL)
        return 1;
    struct vr_fakeip_pool *p = (struct vr_fakeip_pool *)pool; /* the lock is not part of the value */
    pthread_mutex_lock(&p->mu);
    uint32_t ttl = p->ttl;
    pthread_mutex_unlock(&p->mu);
    return ttl;
}

void vr_fakeip_get_stats(struct vr_fakeip_pool *pool, struct vr_fakeip_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mu);
    out->mappings4 = pool->f[0].n;
    out->mappings6 = pool->f[1].n;
    out->capacity4 = pool->f[0].cap;
    out->capacity6 = pool->f[1].cap;
    out->assigned = pool->assigned;
    out->recycled = pool->recycled;
    out->lookups_hit = pool->hits;
    out->lookups_gone = pool->gone;
    pthread_mutex_unlock(&pool->mu);
}

void vr_fakeip_clear(struct vr_fakeip_pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    for (int i = 0; i < 2; i++) {
        struct fk_family *f = &pool->f[i];
        struct vr_fakeip_range r = f->range;
        uint32_t cap = f->cap;
        family_clear(f);
        f->range = r;
        f->cap = cap;
    }
    pool->changes++;
    pthread_mutex_unlock(&pool->mu);
}

uint64_t vr_fakeip_changes(struct vr_fakeip_pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    uint64_t c = pool->changes;
    pthread_mutex_unlock(&pool->mu);
    return c;
}

bool vr_fakeip_name_ok(const char *name)
{
    size_t n = 0;
    for (const char *s = name; *s; s++, n++) {
        unsigned char ch = (unsigned char)*s;
        /* printable, no space (the file's separator), already lower case */
        if (ch <= 0x20 || ch >= 0x7f || (ch >= 'A' && ch <= 'Z'))
            return false;
    }
    return n >= 1 && n <= 253;
}

int vr_fakeip_insert(struct vr_fakeip_pool *pool, const struct sockaddr *addr, const char *name)
{
    pthread_mutex_lock(&pool->mu);
    struct fk_family *f;
    uint32_t idx;
    int r = locate(pool, addr, &f, &idx);
    if (r != 1) {
        r = -ERANGE;
        goto out;
    }
    uint32_t h = name_hash(name);
    if ((idx < f->by_idx_len && f->by_idx[idx] != NULL) || find_name(f, name, h) != NULL) {
        r = -EEXIST;
        goto out;
    }
    if (entry_add(f, name, h, idx) == NULL) {
        r = -ENOMEM;
        goto out;
    }
    if (idx >= f->next_idx) {
        /* offsets skipped over become free */
        for (uint32_t i = f->next_idx; i < idx; i++)
            if (!free_push(f, i))
                break;
        f->next_idx = idx + 1;
    } else {
        for (uint32_t i = 0; i < f->n_free; i++)
            if (f->free_idx[i] == idx) {
                f->free_idx[i] = f->free_idx[--f->n_free];
                break;
            }
    }
    pool->changes++;
    r = 0;
out:
    pthread_mutex_unlock(&pool->mu);
    return r;
}

/* The snapshot copies under the lock only what formatting needs (offset and
 * name bytes, one memcpy each), and formats with the lock released: a save
 * of a big pool must not stall the workers for the time inet_ntop takes
 * (bench/fakeip_bench.c measures the locked part). */
struct snap_rec {
    uint32_t idx;
    uint8_t fam; /* 0: IPv4, 1: IPv6 */
    uint8_t len;
};

int vr_fakeip_snapshot(struct vr_fakeip_pool *pool, char **text, size_t *len, uint64_t *changes)
{
    static const char header[] = "# vrouterd fakeip v1\n";
    pthread_mutex_lock(&pool->mu);
    size_t n = 0, name_bytes = 0;
    for (int i = 0; i < 2; i++)
        for (struct fk_entry *e = pool->f[i].lru.newer; e != &pool->f[i].lru; e = e->newer) {
            n++;
            name_bytes += strlen(e->name);
        }
    struct snap_rec *recs = malloc((n ? n : 1) * sizeof(*recs));
    char *names = malloc(name_bytes + 1);
    if (recs == NULL || names == NULL) {
        pthread_mutex_unlock(&pool->mu);
        free(recs);
        free(names);
        return -ENOMEM;
    }
    struct vr_fakeip_range ranges[2] = {pool->f[0].range, pool->f[1].range};
    size_t k = 0, off = 0;
    for (int i = 0; i < 2; i++)
        for (struct fk_entry *e = pool->f[i].lru.newer; e != &pool->f[i].lru; e = e->newer) {
            size_t nl = strlen(e->name); /* <= 253: vr_fakeip_name_ok, and the resolver's names */
            recs[k++] = (struct snap_rec){e->idx, (uint8_t)i, (uint8_t)(nl > 255 ? 255 : nl)};
            memcpy(names + off, e->name, recs[k - 1].len);
            off += recs[k - 1].len;
        }
    *changes = pool->changes;
    pthread_mutex_unlock(&pool->mu);

    char *buf = malloc(sizeof(header) + n * (INET6_ADDRSTRLEN + 2) + off);
    if (buf == NULL) {
        free(recs);
        free(names);
        return -ENOMEM;
    }
    size_t o = sizeof(header) - 1, name_off = 0;
    memcpy(buf, header, o);
    for (size_t i = 0; i < n; i++) {
        struct fk_family f = {.range = ranges[recs[i].fam]};
        uint8_t a[16];
        addr_of(&f, recs[i].idx, a);
        inet_ntop(f.range.family, a, buf + o, INET6_ADDRSTRLEN);
        o += strlen(buf + o);
        buf[o++] = ' ';
        memcpy(buf + o, names + name_off, recs[i].len);
        o += recs[i].len;
        name_off += recs[i].len;
        buf[o++] = '\n';
    }
    free(recs);
    free(names);
    *text = buf;
    *len = o;
    return 0;
}
