#include "vr_udp_table.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vr_clients.h"
#include "vr_config.h"

#define container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* One record per client (vr_clients.h): its sessions, most recent first. */
struct vr_udp_client {
    struct vr_client_id id;
    struct vr_udp_client *hnext;
    struct vr_udp_link sessions;
    size_t n;
};

static void link_init(struct vr_udp_link *head) { head->prev = head->next = head; }

static void link_push(struct vr_udp_link *head, struct vr_udp_link *l)
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

static void link_del(struct vr_udp_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}

/* Seeded multiply-xorshift over the key bytes: clients choose their ports
 * and addresses, so the bucket must not be predictable from outside. */
static uint64_t mix(uint64_t h, const uint8_t *p, size_t n)
{
    while (n > 0) {
        uint64_t w = 0;
        size_t k = n < 8 ? n : 8;
        memcpy(&w, p, k);
        h ^= w;
        h *= 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
        p += k;
        n -= k;
    }
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

static size_t key_bucket(const struct vr_udp_table *t, const struct vr_udp_key *k)
{
    return (size_t)(mix(t->seed, (const uint8_t *)k, sizeof(*k)) & (t->n_buckets - 1));
}

static size_t client_bucket(const struct vr_udp_table *t, const struct vr_client_id *id)
{
    return (size_t)(mix(t->seed ^ 0x5bd1e995u, (const uint8_t *)id, sizeof(*id)) & (t->n_client_buckets - 1));
}

static void client_id_of(const struct vr_udp_table *t, const struct vr_udp_key *key, struct vr_client_id *id)
{
    vr_client_id_make(id, key->family, key->src, t->client_prefix_v6);
}

static void put_addr(uint8_t out[16], uint16_t *port, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(out, &in->sin_addr, 4);
        *port = ntohs(in->sin_port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(out, &in6->sin6_addr, 16);
        *port = ntohs(in6->sin6_port);
    }
}

void vr_udp_key_make(struct vr_udp_key *key, int nat, const struct sockaddr *src, const struct sockaddr *dst)
{
    memset(key, 0, sizeof(*key)); /* padding too: keys are hashed and compared as bytes */
    key->family = (uint8_t)src->sa_family;
    put_addr(key->src, &key->sport, src);
    if (nat == VR_UDP_NAT_ENDPOINT_INDEPENDENT)
        return;
    put_addr(key->dst, &key->dport, dst);
    if (nat == VR_UDP_NAT_ADDRESS_DEPENDENT)
        key->dport = 0;
}

int vr_udp_table_init(struct vr_udp_table *t)
{
    memset(t, 0, sizeof(*t));
    t->n_buckets = 256;
    t->n_client_buckets = 64;
    t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
    t->clients = calloc(t->n_client_buckets, sizeof(*t->clients));
    if (t->buckets == NULL || t->clients == NULL) {
        free(t->buckets);
        free(t->clients);
        return -ENOMEM;
    }
    link_init(&t->active[0]);
    link_init(&t->active[1]);
    t->client_prefix_v6 = 64;
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
        t->seed = (uint64_t)(uintptr_t)t ^ 0x2545f4914f6cdd1dULL;
    return 0;
}

void vr_udp_table_fini(struct vr_udp_table *t)
{
    free(t->buckets);
    free(t->clients);
    t->buckets = NULL;
    t->clients = NULL;
}

struct vr_udp_entry *vr_udp_table_find(const struct vr_udp_table *t, const struct vr_udp_key *key)
{
    for (struct vr_udp_entry *e = t->buckets[key_bucket(t, key)]; e; e = e->hnext)
        if (memcmp(&e->key, key, sizeof(*key)) == 0)
            return e;
    return NULL;
}

static struct vr_udp_client *client_find(const struct vr_udp_table *t, const struct vr_udp_key *key)
{
    struct vr_client_id id;
    client_id_of(t, key, &id);
    for (struct vr_udp_client *c = t->clients[client_bucket(t, &id)]; c; c = c->hnext)
        if (memcmp(&c->id, &id, sizeof(id)) == 0)
            return c;
    return NULL;
}

/* Doubles a bucket array when it gets as many entries as buckets. Failing
 * to grow only makes chains longer. */
static void grow_sessions(struct vr_udp_table *t)
{
    size_t n = t->n_buckets * 2;
    struct vr_udp_entry **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    struct vr_udp_entry **old = t->buckets;
    size_t old_n = t->n_buckets;
    t->buckets = b;
    t->n_buckets = n;
    for (size_t i = 0; i < old_n; i++) {
        struct vr_udp_entry *e = old[i];
        while (e) {
            struct vr_udp_entry *next = e->hnext;
            size_t h = key_bucket(t, &e->key);
            e->hnext = b[h];
            b[h] = e;
            e = next;
        }
    }
    free(old);
}

static void grow_clients(struct vr_udp_table *t)
{
    size_t n = t->n_client_buckets * 2;
    struct vr_udp_client **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    struct vr_udp_client **old = t->clients;
    size_t old_n = t->n_client_buckets;
    t->clients = b;
    t->n_client_buckets = n;
    for (size_t i = 0; i < old_n; i++) {
        struct vr_udp_client *c = old[i];
        while (c) {
            struct vr_udp_client *next = c->hnext;
            size_t h = client_bucket(t, &c->id);
            c->hnext = b[h];
            b[h] = c;
            c = next;
        }
    }
    free(old);
}

int vr_udp_table_insert(struct vr_udp_table *t, struct vr_udp_entry *e, uint8_t klass, uint64_t now_ms)
{
    struct vr_udp_client *c = client_find(t, &e->key);
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL)
            return -ENOMEM;
        client_id_of(t, &e->key, &c->id);
        link_init(&c->sessions);
        size_t h = client_bucket(t, &c->id);
        c->hnext = t->clients[h];
        t->clients[h] = c;
        if (++t->n_clients > t->n_client_buckets)
            grow_clients(t);
    }
    e->client = c;
    c->n++;
    link_push(&c->sessions, &e->by_client);
    e->klass = klass ? VR_UDP_CLASS_SHORT : VR_UDP_CLASS_NORMAL;
    e->last_ms = now_ms;
    link_push(&t->active[e->klass], &e->active);
    size_t h = key_bucket(t, &e->key);
    e->hnext = t->buckets[h];
    t->buckets[h] = e;
    if (++t->n > t->n_buckets)
        grow_sessions(t);
    return 0;
}

void vr_udp_table_remove(struct vr_udp_table *t, struct vr_udp_entry *e)
{
    for (struct vr_udp_entry **p = &t->buckets[key_bucket(t, &e->key)]; *p; p = &(*p)->hnext)
        if (*p == e) {
            *p = e->hnext;
            break;
        }
    e->hnext = NULL;
    link_del(&e->active);
    link_del(&e->by_client);
    t->n--;
    struct vr_udp_client *c = e->client;
    e->client = NULL;
    if (c && --c->n == 0) {
        for (struct vr_udp_client **p = &t->clients[client_bucket(t, &c->id)]; *p; p = &(*p)->hnext)
            if (*p == c) {
                *p = c->hnext;
                break;
            }
        t->n_clients--;
        free(c);
    }
}

void vr_udp_table_touch(struct vr_udp_table *t, struct vr_udp_entry *e, uint64_t now_ms)
{
    e->last_ms = now_ms;
    link_del(&e->active);
    link_push(&t->active[e->klass], &e->active);
    link_del(&e->by_client);
    link_push(&e->client->sessions, &e->by_client);
}

void vr_udp_table_reclass(struct vr_udp_table *t, struct vr_udp_entry *e, uint8_t klass)
{
    e->klass = klass ? VR_UDP_CLASS_SHORT : VR_UDP_CLASS_NORMAL;
    link_del(&e->active);
    link_push(&t->active[e->klass], &e->active);
}

struct vr_udp_entry *vr_udp_table_oldest(const struct vr_udp_table *t, uint8_t klass)
{
    const struct vr_udp_link *head = &t->active[klass ? 1 : 0];
    if (head->prev == head)
        return NULL;
    return container_of(head->prev, struct vr_udp_entry, active);
}

struct vr_udp_entry *vr_udp_table_lru(const struct vr_udp_table *t)
{
    struct vr_udp_entry *a = vr_udp_table_oldest(t, VR_UDP_CLASS_NORMAL);
    struct vr_udp_entry *b = vr_udp_table_oldest(t, VR_UDP_CLASS_SHORT);
    if (a == NULL)
        return b;
    if (b == NULL)
        return a;
    return b->last_ms < a->last_ms ? b : a;
}

size_t vr_udp_table_client_count(const struct vr_udp_table *t, const struct vr_udp_key *key)
{
    const struct vr_udp_client *c = client_find(t, key);
    return c ? c->n : 0;
}

struct vr_udp_entry *vr_udp_table_client_oldest(const struct vr_udp_table *t, const struct vr_udp_key *key)
{
    const struct vr_udp_client *c = client_find(t, key);
    if (c == NULL || c->sessions.prev == &c->sessions)
        return NULL;
    return container_of(c->sessions.prev, struct vr_udp_entry, by_client);
}
