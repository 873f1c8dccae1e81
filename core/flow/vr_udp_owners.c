#include "vr_udp_owners.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vr_addr.h"

/* The map's key: the listener's address and port, then the session key.
 * Built zeroed, so memcmp sees no stray padding. */
struct owner_key {
    uint8_t laddr[16];
    uint16_t lport;
    uint8_t lfamily;
    struct vr_udp_key key;
};

struct vr_udp_owner {
    struct vr_udp_owner *next;
    struct owner_key k;
    size_t worker;
};

static void make_key(struct owner_key *k, const struct sockaddr *listener, const struct vr_udp_key *key)
{
    memset(k, 0, sizeof(*k));
    const uint8_t *bytes;
    int family = vr_sockaddr_bytes(listener, &bytes);
    k->lfamily = (uint8_t)family;
    memcpy(k->laddr, bytes, family == AF_INET6 ? 16 : 4);
    k->lport = vr_sockaddr_port(listener);
    memcpy(&k->key, key, sizeof(*key));
}

/* FNV-1a over the key, seeded: clients choose ports and addresses. */
static size_t bucket_of(const struct vr_udp_owners *o, const struct owner_key *k)
{
    uint64_t h = 1469598103934665603ull ^ o->seed;
    const uint8_t *p = (const uint8_t *)k;
    for (size_t i = 0; i < sizeof(*k); i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29)) & (o->n_buckets - 1);
}

int vr_udp_owners_init(struct vr_udp_owners *o)
{
    memset(o, 0, sizeof(*o));
    o->n_buckets = 1024;
    o->buckets = calloc(o->n_buckets, sizeof(*o->buckets));
    if (o->buckets == NULL)
        return -1;
    if (getrandom(&o->seed, sizeof(o->seed), GRND_NONBLOCK) != sizeof(o->seed))
        o->seed = (uint64_t)(uintptr_t)o ^ 0x9e3779b97f4a7c15ull;
    return pthread_mutex_init(&o->mu, NULL) == 0 ? 0 : -1;
}

void vr_udp_owners_fini(struct vr_udp_owners *o)
{
    for (size_t i = 0; i < o->n_buckets; i++)
        while (o->buckets[i]) {
            struct vr_udp_owner *e = o->buckets[i];
            o->buckets[i] = e->next;
            free(e);
        }
    free(o->buckets);
    pthread_mutex_destroy(&o->mu);
    memset(o, 0, sizeof(*o));
}

static void grow(struct vr_udp_owners *o)
{
    size_t n = o->n_buckets * 2;
    struct vr_udp_owner **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return; /* longer chains, still correct */
    struct vr_udp_owner **old = o->buckets;
    size_t old_n = o->n_buckets;
    o->buckets = b;
    o->n_buckets = n;
    for (size_t i = 0; i < old_n; i++)
        while (old[i]) {
            struct vr_udp_owner *e = old[i];
            old[i] = e->next;
            size_t h = bucket_of(o, &e->k);
            e->next = b[h];
            b[h] = e;
        }
    free(old);
}

size_t vr_udp_owners_claim(struct vr_udp_owners *o, const struct sockaddr *listener, const struct vr_udp_key *key,
                           size_t worker)
{
    struct owner_key k;
    make_key(&k, listener, key);
    pthread_mutex_lock(&o->mu);
    size_t h = bucket_of(o, &k);
    for (struct vr_udp_owner *e = o->buckets[h]; e; e = e->next)
        if (memcmp(&e->k, &k, sizeof(k)) == 0) {
            size_t owner = e->worker;
            pthread_mutex_unlock(&o->mu);
            return owner;
        }
    struct vr_udp_owner *e = malloc(sizeof(*e));
    if (e != NULL) {
        e->k = k;
        e->worker = worker;
        e->next = o->buckets[h];
        o->buckets[h] = e;
        if (++o->n > o->n_buckets)
            grow(o);
    }
    pthread_mutex_unlock(&o->mu);
    return worker;
}

void vr_udp_owners_release(struct vr_udp_owners *o, const struct sockaddr *listener, const struct vr_udp_key *key,
                           size_t worker)
{
    struct owner_key k;
    make_key(&k, listener, key);
    pthread_mutex_lock(&o->mu);
    for (struct vr_udp_owner **p = &o->buckets[bucket_of(o, &k)]; *p; p = &(*p)->next) {
        struct vr_udp_owner *e = *p;
        if (e->worker == worker && memcmp(&e->k, &k, sizeof(k)) == 0) {
            *p = e->next;
            o->n--;
            free(e);
            break;
        }
    }
    pthread_mutex_unlock(&o->mu);
}

int vr_udp_inbox_init(struct vr_udp_inbox *in)
{
    memset(in, 0, sizeof(*in));
    in->tail = &in->head;
    return pthread_mutex_init(&in->mu, NULL) == 0 ? 0 : -1;
}

void vr_udp_inbox_fini(struct vr_udp_inbox *in)
{
    struct vr_udp_handed *h = vr_udp_inbox_take(in);
    while (h) {
        struct vr_udp_handed *next = h->next;
        free(h);
        h = next;
    }
    pthread_mutex_destroy(&in->mu);
}

bool vr_udp_inbox_put(struct vr_udp_inbox *in, const struct sockaddr *listener, const struct sockaddr_storage *src,
                      const struct sockaddr_storage *dst, const uint8_t *data, size_t len)
{
    struct vr_udp_handed *h = malloc(sizeof(*h) + len);
    if (h == NULL)
        return false;
    memset(&h->listener, 0, sizeof(h->listener));
    memcpy(&h->listener, listener, listener->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                   : sizeof(struct sockaddr_in));
    h->src = *src;
    h->dst = *dst;
    h->len = len;
    memcpy(h->data, data, len);
    h->next = NULL;
    pthread_mutex_lock(&in->mu);
    bool room = in->n < VR_UDP_INBOX_MAX;
    if (room) {
        *in->tail = h;
        in->tail = &h->next;
        in->n++;
    }
    pthread_mutex_unlock(&in->mu);
    if (!room)
        free(h);
    return room;
}

struct vr_udp_handed *vr_udp_inbox_take(struct vr_udp_inbox *in)
{
    pthread_mutex_lock(&in->mu);
    struct vr_udp_handed *h = in->head;
    in->head = NULL;
    in->tail = &in->head;
    in->n = 0;
    pthread_mutex_unlock(&in->mu);
    return h;
}
