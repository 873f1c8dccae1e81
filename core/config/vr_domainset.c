/* Exact/suffix domain membership with one hash table of whole names.
 *
 * Names are stored once, as [flags][length][bytes] in blocks; a table slot
 * is 8 bytes (32-bit hash tag, 32-bit name offset), linear probing, load
 * factor at most 1/2 so a miss (the common case: most labels of a looked-up
 * name are in no set) ends after one or two slots. The hash is FNV-1a fed
 * from the last byte to the first, then mixed: the running state after
 * consuming "example.com" from the right is the same whether the name is
 * "example.com" or "a.example.com", so a lookup hashes the name once and
 * probes at every label boundary. */
#include "vr_domainset.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define FLAG_EXACT 1u
#define FLAG_SUFFIX 2u

struct slot {
    uint32_t tag; /* high 32 bits of the hash */
    uint32_t off; /* offset of the name's entry; 0 = empty */
};

/* Names live in fixed-size blocks that never move (no realloc copies, no
 * doubling slack); an offset is block number * BLOCK_SIZE + position. */
#define BLOCK_BITS 20
#define BLOCK_SIZE ((size_t)1 << BLOCK_BITS)
#define MAX_BLOCKS ((size_t)1 << (32 - BLOCK_BITS))

struct vr_domainset {
    struct slot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t names;
    unsigned char **blocks; /* blocks[0][0] is unused: offset 0 means empty */
    size_t nblocks, blocks_cap;
    size_t used, size; /* bytes used in the last block, and its size */
    size_t block_bytes; /* all blocks */
    char **keywords;
    size_t nkeywords, keywords_cap;
};

static const unsigned char *entry(const struct vr_domainset *set, uint32_t off)
{
    return set->blocks[off >> BLOCK_BITS] + (off & (BLOCK_SIZE - 1));
}

/* murmur3's finaliser: FNV's low bits are weak for a power-of-two table */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_name(const char *s, size_t len)
{
    uint64_t h = FNV_OFFSET;
    while (len > 0)
        h = (h ^ (unsigned char)s[--len]) * FNV_PRIME;
    return mix(h);
}

struct vr_domainset *vr_domainset_new(void)
{
    struct vr_domainset *set = calloc(1, sizeof(*set));
    if (set == NULL)
        return NULL;
    set->slots = calloc(16, sizeof(struct slot));
    if (set->slots == NULL) {
        free(set);
        return NULL;
    }
    set->mask = 15;
    return set;
}

void vr_domainset_free(struct vr_domainset *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->nkeywords; i++)
        free(set->keywords[i]);
    free(set->keywords);
    for (size_t i = 0; i < set->nblocks; i++)
        free(set->blocks[i]);
    free(set->blocks);
    free(set->slots);
    free(set);
}

static int is_label_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c; }

/* Checks one finished label of length n ending at out[end - 1]. */
static const char *label_error(const char *out, size_t end, size_t n)
{
    if (n == 0)
        return "empty label";
    if (n > 63)
        return "label longer than 63 characters";
    if (out[end - n] == '-')
        return "label starts with '-'";
    if (out[end - 1] == '-')
        return "label ends with '-'";
    return NULL;
}

int vr_domain_normalize(const char *name, size_t len, char *out, const char **why)
{
    const char *err = NULL;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0) {
        err = "empty name";
        goto fail;
    }
    if (len > VR_DOMAIN_MAX) {
        err = "longer than 253 characters";
        goto fail;
    }
    size_t label = 0;
    bool digits = true;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = lower((unsigned char)name[i]);
        if (c == '.') {
            if ((err = label_error(out, i, label)) != NULL)
                goto fail;
            label = 0;
            digits = true;
        } else if (is_label_char(c)) {
            label++;
            digits = digits && c >= '0' && c <= '9';
        } else {
            err = c == '\0' ? "contains a NUL byte" : c == '*' ? "wildcards are not supported (a suffix entry already matches subdomains)" : "invalid character (expected letters, digits, '-', '_' and '.')";
            goto fail;
        }
        out[i] = (char)c;
    }
    if ((err = label_error(out, len, label)) != NULL)
        goto fail;
    if (digits) {
        err = "last label is all digits (an IP address is not a domain)";
        goto fail;
    }
    out[len] = '\0';
    return (int)len;
fail:
    if (why)
        *why = err;
    return -EINVAL;
}

/* The slot holding name, or the empty slot where it would go. */
static struct slot *find_slot(const struct vr_domainset *set, const char *name, size_t len, uint64_t h)
{
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = h & set->mask;; i = (i + 1) & set->mask) {
        struct slot *s = &set->slots[i];
        if (s->off == 0)
            return s;
        if (s->tag == tag) {
            const unsigned char *e = entry(set, s->off);
            if (e[1] == len && memcmp(e + 2, name, len) == 0)
                return s;
        }
    }
}

static int rehash(struct vr_domainset *set, size_t cap)
{
    struct slot *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;
    struct slot *old = set->slots;
    size_t oldcap = set->mask + 1;
    set->slots = slots;
    set->mask = cap - 1;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].off == 0)
            continue;
        const unsigned char *e = entry(set, old[i].off);
        uint64_t h = hash_name((const char *)e + 2, e[1]);
        *find_slot(set, (const char *)e + 2, e[1], h) = old[i];
    }
    free(old);
    return 0;
}

static int add_keyword(struct vr_domainset *set, const char *kw)
{
    size_t n = strlen(kw);
    if (n == 0 || n > VR_DOMAIN_MAX)
        return -EINVAL;
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = lower((unsigned char)kw[i]);
        if (!is_label_char(c) && c != '.') {
            free(copy);
            return -EINVAL;
        }
        copy[i] = (char)c;
    }
    copy[n] = '\0';
    for (size_t i = 0; i < set->nkeywords; i++) {
        if (strcmp(set->keywords[i], copy) == 0) {
            free(copy);
            return 0;
        }
    }
    if (set->nkeywords == set->keywords_cap) {
        size_t cap = set->keywords_cap ? set->keywords_cap * 2 : 8;
        char **p = realloc(set->keywords, cap * sizeof(*p));
        if (p == NULL) {
            free(copy);
            return -ENOMEM;
        }
        set->keywords = p;
        set->keywords_cap = cap;
    }
    set->keywords[set->nkeywords++] = copy;
    return 0;
}

static int new_block(struct vr_domainset *set)
{
    if (set->nblocks == MAX_BLOCKS)
        return -ENOMEM;
    if (set->nblocks == set->blocks_cap) {
        size_t cap = set->blocks_cap ? set->blocks_cap * 2 : 4;
        unsigned char **p = realloc(set->blocks, cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        set->blocks = p;
        set->blocks_cap = cap;
    }
    /* the first block starts small: most sets hold a handful of names */
    size_t size = set->nblocks == 0 ? 4096 : BLOCK_SIZE;
    unsigned char *b = malloc(size);
    if (b == NULL)
        return -ENOMEM;
    set->blocks[set->nblocks++] = b;
    set->size = size;
    set->block_bytes += size;
    set->used = set->nblocks == 1; /* offset 0 means empty */
    return 0;
}

int vr_domainset_add(struct vr_domainset *set, const char *name, enum vr_domain_kind kind)
{
    if (kind == VR_DOMAIN_KEYWORD)
        return add_keyword(set, name);
    if (kind != VR_DOMAIN_EXACT && kind != VR_DOMAIN_SUFFIX)
        return -EINVAL;
    char buf[VR_DOMAIN_MAX + 1];
    int len = vr_domain_normalize(name, strlen(name), buf, NULL);
    if (len < 0)
        return len;
    unsigned flag = kind == VR_DOMAIN_EXACT ? FLAG_EXACT : FLAG_SUFFIX;
    uint64_t h = hash_name(buf, (size_t)len);
    struct slot *s = find_slot(set, buf, (size_t)len, h);
    if (s->off != 0) {
        set->blocks[s->off >> BLOCK_BITS][s->off & (BLOCK_SIZE - 1)] |= (unsigned char)flag;
        return 0;
    }
    /* grow first so the new entry's slot is found in the final table */
    if ((set->names + 1) * 2 > set->mask + 1) {
        if (rehash(set, (set->mask + 1) * 2) < 0)
            return -ENOMEM;
        s = find_slot(set, buf, (size_t)len, h);
    }
    size_t need = (size_t)len + 2;
    if (set->nblocks == 0 || set->used + need > set->size) {
        int r = new_block(set);
        if (r < 0)
            return r;
    }
    unsigned char *e = set->blocks[set->nblocks - 1] + set->used;
    e[0] = (unsigned char)flag;
    e[1] = (unsigned char)len;
    memcpy(e + 2, buf, (size_t)len);
    s->tag = (uint32_t)(h >> 32);
    s->off = (uint32_t)((set->nblocks - 1) * BLOCK_SIZE + set->used);
    set->used += need;
    set->names++;
    return 0;
}

bool vr_domainset_match(const struct vr_domainset *set, const char *name)
{
    char buf[VR_DOMAIN_MAX + 2];
    size_t len = 0;
    while (name[len] != '\0') {
        if (len == VR_DOMAIN_MAX + 1)
            return false;
        buf[len] = (char)lower((unsigned char)name[len]);
        len++;
    }
    if (len > 0 && buf[len - 1] == '.')
        len--;
    if (len == 0 || len > VR_DOMAIN_MAX)
        return false;
    buf[len] = '\0';
    if (set->names > 0) {
        /* hash every label-boundary suffix and prefetch its slot first: the
         * probes are cache misses in a large set, and this way they overlap
         * instead of queueing one after another */
        uint64_t hashes[VR_DOMAIN_MAX / 2 + 1];
        size_t starts[VR_DOMAIN_MAX / 2 + 1], n = 0;
        uint64_t h = FNV_OFFSET;
        for (size_t i = len; i-- > 0;) {
            h = (h ^ (unsigned char)buf[i]) * FNV_PRIME;
            if (i > 0 && buf[i - 1] != '.')
                continue;
            if (n == sizeof(starts) / sizeof(starts[0]))
                break; /* only "..." runs have more boundaries than that */
            hashes[n] = mix(h);
            starts[n] = i;
            __builtin_prefetch(&set->slots[hashes[n] & set->mask]);
            n++;
        }
        for (size_t k = 0; k < n; k++) {
            size_t i = starts[k];
            const struct slot *s = find_slot(set, buf + i, len - i, hashes[k]);
            if (s->off == 0)
                continue;
            unsigned flags = *entry(set, s->off);
            if ((flags & FLAG_SUFFIX) || (i == 0 && (flags & FLAG_EXACT)))
                return true;
        }
    }
    for (size_t i = 0; i < set->nkeywords; i++)
        if (strstr(buf, set->keywords[i]) != NULL)
            return true;
    return false;
}

size_t vr_domainset_count(const struct vr_domainset *set) { return set->names + set->nkeywords; }

size_t vr_domainset_memory(const struct vr_domainset *set)
{
    size_t m = sizeof(*set) + (set->mask + 1) * sizeof(struct slot) + set->block_bytes;
    m += set->blocks_cap * sizeof(unsigned char *);
    m += set->keywords_cap * sizeof(char *);
    for (size_t i = 0; i < set->nkeywords; i++)
        m += strlen(set->keywords[i]) + 1;
    return m;
}
