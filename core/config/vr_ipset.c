/* Prefix membership as sorted disjoint intervals: a prefix is the interval
 * [first address, last address]; after sorting by start and merging overlaps
 * the set is a sorted list of disjoint intervals, and "is addr inside" is
 * "does the last interval starting at or before addr reach addr". Large sets
 * get a 65,537-entry index on the top 16 address bits that narrows the
 * binary search to the intervals that start in the address's own top-16-bit
 * block, so a lookup touches a few cache lines instead of ~20. */
#include "vr_ipset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Below this many intervals a plain binary search is as fast as the index
 * and the index's 256 KiB would dominate the set's memory. */
#define VR_IPSET_INDEX_MIN 4096
#define VR_IPSET_INDEX_SIZE (65536 + 1)

struct v4_range {
    uint32_t start, end;
};

struct u128 {
    uint64_t hi, lo;
};

struct v6_range {
    struct u128 start, end;
};

struct v4_list {
    struct v4_range *r;
    size_t n, cap, built;
    uint32_t *index; /* NULL or VR_IPSET_INDEX_SIZE entries */
};

struct v6_list {
    struct v6_range *r;
    size_t n, cap, built;
    uint32_t *index;
};

struct vr_ipset {
    struct v4_list v4;
    struct v6_list v6;
    size_t added;
};

struct vr_ipset *vr_ipset_new(void) { return calloc(1, sizeof(struct vr_ipset)); }

void vr_ipset_free(struct vr_ipset *set)
{
    if (set == NULL)
        return;
    free(set->v4.r);
    free(set->v4.index);
    free(set->v6.r);
    free(set->v6.index);
    free(set);
}

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The low `host` bits set; host in 0..64. */
static uint64_t low_bits64(int host) { return host >= 64 ? UINT64_MAX : host <= 0 ? 0 : ((uint64_t)1 << host) - 1; }

/* Grow an array of elements of size `size` to hold one more; keeps *cap. */
static int grow(void **arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    if (ncap > SIZE_MAX / size)
        return -ENOMEM;
    void *p = realloc(*arr, ncap * size);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* Give back what merging freed; a failed realloc just keeps the old block. */
static void shrink(void **arr, size_t n, size_t *cap, size_t size)
{
    if (n == 0) {
        free(*arr);
        *arr = NULL;
        *cap = 0;
        return;
    }
    if (n == *cap)
        return;
    void *p = realloc(*arr, n * size);
    if (p != NULL) {
        *arr = p;
        *cap = n;
    }
}

int vr_ipset_add(struct vr_ipset *set, const struct vr_cidr *cidr)
{
    if (cidr->family == AF_INET) {
        if (cidr->prefix > 32)
            return -EINVAL;
        if (grow((void **)&set->v4.r, set->v4.n, &set->v4.cap, sizeof(struct v4_range)) < 0)
            return -ENOMEM;
        uint32_t host = (uint32_t)low_bits64(32 - cidr->prefix);
        uint32_t a = load_be32(cidr->addr);
        set->v4.r[set->v4.n++] = (struct v4_range){a & ~host, a | host};
    } else if (cidr->family == AF_INET6) {
        if (cidr->prefix > 128)
            return -EINVAL;
        if (grow((void **)&set->v6.r, set->v6.n, &set->v6.cap, sizeof(struct v6_range)) < 0)
            return -ENOMEM;
        uint64_t hhost = low_bits64(64 - cidr->prefix);
        uint64_t lhost = low_bits64(128 - cidr->prefix);
        uint64_t hi = load_be64(cidr->addr), lo = load_be64(cidr->addr + 8);
        set->v6.r[set->v6.n++] = (struct v6_range){{hi & ~hhost, lo & ~lhost}, {hi | hhost, lo | lhost}};
    } else {
        return -EAFNOSUPPORT;
    }
    set->added++;
    return 0;
}

static int cmp_u128(struct u128 a, struct u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    return a.lo < b.lo ? -1 : a.lo > b.lo;
}

static int cmp_v4(const void *a, const void *b)
{
    uint32_t x = ((const struct v4_range *)a)->start, y = ((const struct v4_range *)b)->start;
    return x < y ? -1 : x > y;
}

static int cmp_v6(const void *a, const void *b)
{
    return cmp_u128(((const struct v6_range *)a)->start, ((const struct v6_range *)b)->start);
}

/* index[k] = first interval whose start's top 16 bits are >= k. Returns NULL
 * (no index, plain search) on a small set or when out of memory: the index
 * only makes lookups faster, never more correct. */
static uint32_t *build_index(uint32_t *old, size_t n, uint32_t (*top16)(const void *, size_t), const void *r)
{
    if (n < VR_IPSET_INDEX_MIN || n > UINT32_MAX) {
        free(old);
        return NULL;
    }
    uint32_t *index = old ? old : malloc(VR_IPSET_INDEX_SIZE * sizeof(uint32_t));
    if (index == NULL)
        return NULL;
    size_t i = 0;
    for (uint32_t k = 0; k < VR_IPSET_INDEX_SIZE; k++) {
        while (i < n && top16(r, i) < k)
            i++;
        index[k] = (uint32_t)i;
    }
    return index;
}

static uint32_t v4_top16(const void *r, size_t i) { return ((const struct v4_range *)r)[i].start >> 16; }
static uint32_t v6_top16(const void *r, size_t i) { return (uint32_t)(((const struct v6_range *)r)[i].start.hi >> 48); }

static void build_v4(struct v4_list *l)
{
    if (l->n > 1)
        qsort(l->r, l->n, sizeof(*l->r), cmp_v4);
    size_t out = 0;
    for (size_t i = 0; i < l->n; i++) {
        /* merge when overlapping or adjacent: [a,b] and [b+1,c] are [a,c] */
        if (out > 0 && (uint64_t)l->r[i].start <= (uint64_t)l->r[out - 1].end + 1) {
            if (l->r[i].end > l->r[out - 1].end)
                l->r[out - 1].end = l->r[i].end;
        } else {
            l->r[out++] = l->r[i];
        }
    }
    l->n = l->built = out;
    shrink((void **)&l->r, out, &l->cap, sizeof(*l->r));
    l->index = build_index(l->index, out, v4_top16, l->r);
}

static bool u128_adjacent_or_less(struct u128 next_start, struct u128 cur_end)
{
    if (cmp_u128(next_start, cur_end) <= 0)
        return true;
    if (cur_end.hi == UINT64_MAX && cur_end.lo == UINT64_MAX)
        return true;
    struct u128 after = {cur_end.hi + (cur_end.lo == UINT64_MAX), cur_end.lo + 1};
    return cmp_u128(next_start, after) == 0;
}

static void build_v6(struct v6_list *l)
{
    if (l->n > 1)
        qsort(l->r, l->n, sizeof(*l->r), cmp_v6);
    size_t out = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (out > 0 && u128_adjacent_or_less(l->r[i].start, l->r[out - 1].end)) {
            if (cmp_u128(l->r[i].end, l->r[out - 1].end) > 0)
                l->r[out - 1].end = l->r[i].end;
        } else {
            l->r[out++] = l->r[i];
        }
    }
    l->n = l->built = out;
    shrink((void **)&l->r, out, &l->cap, sizeof(*l->r));
    l->index = build_index(l->index, out, v6_top16, l->r);
}

int vr_ipset_build(struct vr_ipset *set)
{
    build_v4(&set->v4);
    build_v6(&set->v6);
    return 0;
}

/* The search window [*lo, *hi) for an address whose top 16 bits are k. */
static void window(const uint32_t *index, size_t n, uint32_t k, size_t *lo, size_t *hi)
{
    if (index == NULL) {
        *lo = 0;
        *hi = n;
    } else {
        *lo = index[k];
        *hi = index[k + 1];
    }
}

static bool contains_v4(const struct v4_list *l, uint32_t a)
{
    size_t lo, hi;
    window(l->index, l->built, a >> 16, &lo, &hi);
    /* first interval in the window starting after a; everything before lo
     * starts before a, so the candidate is the one just before that */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->r[mid].start <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && l->r[lo - 1].end >= a;
}

static bool contains_v6(const struct v6_list *l, struct u128 a)
{
    size_t lo, hi;
    window(l->index, l->built, (uint32_t)(a.hi >> 48), &lo, &hi);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_u128(l->r[mid].start, a) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && cmp_u128(l->r[lo - 1].end, a) >= 0;
}

bool vr_ipset_contains(const struct vr_ipset *set, int family, const uint8_t *addr)
{
    if (family == AF_INET)
        return contains_v4(&set->v4, load_be32(addr));
    if (family == AF_INET6)
        return contains_v6(&set->v6, (struct u128){load_be64(addr), load_be64(addr + 8)});
    return false;
}

bool vr_ipset_contains_sa(const struct vr_ipset *set, const struct sockaddr *sa)
{
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return false;
    const uint8_t *bytes;
    int family = vr_sockaddr_bytes(sa, &bytes);
    return vr_ipset_contains(set, family, bytes);
}

size_t vr_ipset_count(const struct vr_ipset *set) { return set->added; }

size_t vr_ipset_intervals(const struct vr_ipset *set) { return set->v4.built + set->v6.built; }

size_t vr_ipset_memory(const struct vr_ipset *set)
{
    size_t m = sizeof(*set);
    m += set->v4.cap * sizeof(struct v4_range) + set->v6.cap * sizeof(struct v6_range);
    if (set->v4.index)
        m += VR_IPSET_INDEX_SIZE * sizeof(uint32_t);
    if (set->v6.index)
        m += VR_IPSET_INDEX_SIZE * sizeof(uint32_t);
    return m;
}

size_t vr_ipset_family_intervals(const struct vr_ipset *set, int family)
{
    return family == AF_INET ? set->v4.built : family == AF_INET6 ? set->v6.built : 0;
}

static void store_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

void vr_ipset_interval(const struct vr_ipset *set, int family, size_t i, uint8_t first[16], uint8_t last[16])
{
    if (family == AF_INET) {
        const struct v4_range *r = &set->v4.r[i];
        for (int k = 0; k < 4; k++) {
            first[k] = (uint8_t)(r->start >> (24 - 8 * k));
            last[k] = (uint8_t)(r->end >> (24 - 8 * k));
        }
        return;
    }
    const struct v6_range *r = &set->v6.r[i];
    store_be64(first, r->start.hi);
    store_be64(first + 8, r->start.lo);
    store_be64(last, r->end.hi);
    store_be64(last + 8, r->end.lo);
}
