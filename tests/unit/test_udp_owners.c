/* Which worker owns a UDP session (core/flow/vr_udp_owners.c): the first
 * claimer owns a key until it releases it, whoever asks later; keys differ
 * by listener and by session key; two threads claiming the same keys at
 * once never both own one; a worker that does not own a key cannot release
 * it. The inbox hands datagrams over in order, copied, and is bounded. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vr_test.h"
#include "vr_udp_owners.h"

static struct sockaddr_in6 listener(uint16_t port)
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    return a;
}

static struct vr_udp_key key_of(uint16_t sport)
{
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(sport)};
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(7001)};
    inet_pton(AF_INET, "198.18.1.2", &src.sin_addr);
    inet_pton(AF_INET, "198.19.2.2", &dst.sin_addr);
    struct vr_udp_key k;
    vr_udp_key_make(&k, 0, (const struct sockaddr *)&src, (const struct sockaddr *)&dst);
    return k;
}

static struct vr_udp_owners owners;
static struct sockaddr_in6 l1;
enum { RACE_KEYS = 5000 };
static size_t won[2][RACE_KEYS];

static void *racer(void *arg)
{
    size_t me = (size_t)(uintptr_t)arg;
    for (uint16_t i = 0; i < RACE_KEYS; i++) {
        struct vr_udp_key k = key_of((uint16_t)(10000 + i));
        won[me][i] = vr_udp_owners_claim(&owners, (const struct sockaddr *)&l1, &k, me);
    }
    return NULL;
}

int main(void)
{
    CHECK(vr_udp_owners_init(&owners) == 0);
    l1 = listener(7893);
    struct sockaddr_in6 l2 = listener(7894);
    struct vr_udp_key a = key_of(40000), b = key_of(40001);

    CHECK(vr_udp_owners_claim(&owners, (const struct sockaddr *)&l1, &a, 1) == 1);
    CHECK(vr_udp_owners_claim(&owners, (const struct sockaddr *)&l1, &a, 0) == 1); /* still worker 1's */
    CHECK(vr_udp_owners_claim(&owners, (const struct sockaddr *)&l1, &b, 0) == 0); /* another key */
    CHECK(vr_udp_owners_claim(&owners, (const struct sockaddr *)&l2, &a, 0) == 0); /* another listener */
    vr_udp_owners_release(&owners, (const struct sockaddr *)&l1, &a, 0);           /* not worker 0's: no effect */
    CHECK(vr_udp_owners_claim(&owners, (const struct sockaddr *)&l1, &a, 0) == 1);
    vr_udp_owners_release(&owners, (const struct sockaddr *)&l1, &a, 1);
    CHECK(vr_udp_owners_claim(&owners, (const struct sockaddr *)&l1, &a, 0) == 0); /* free again: taken */
    vr_udp_owners_release(&owners, (const struct sockaddr *)&l1, &a, 0);
    vr_udp_owners_release(&owners, (const struct sockaddr *)&l1, &b, 0);
    vr_udp_owners_release(&owners, (const struct sockaddr *)&l2, &a, 0);
    CHECK(owners.n == 0);

    /* Two workers claim the same 5,000 keys at once (the map grows meanwhile):
     * for each key both get the same answer. */
    pthread_t t[2];
    for (size_t i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, racer, (void *)(uintptr_t)i);
    for (size_t i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    size_t agree = 0;
    for (size_t i = 0; i < RACE_KEYS; i++)
        agree += won[0][i] == won[1][i];
    CHECK(agree == RACE_KEYS);
    CHECK(owners.n == RACE_KEYS);
    vr_udp_owners_fini(&owners);

    struct vr_udp_inbox in;
    CHECK(vr_udp_inbox_init(&in) == 0);
    struct sockaddr_storage src, dst;
    memset(&src, 0, sizeof(src));
    memset(&dst, 0, sizeof(dst));
    uint8_t data[3] = {1, 2, 3};
    CHECK(vr_udp_inbox_put(&in, (const struct sockaddr *)&l1, &src, &dst, data, 3));
    data[0] = 9;
    CHECK(vr_udp_inbox_put(&in, (const struct sockaddr *)&l2, &src, &dst, data, 1));
    struct vr_udp_handed *h = vr_udp_inbox_take(&in);
    CHECK(h && h->len == 3 && h->data[0] == 1 && ((struct sockaddr_in6 *)&h->listener)->sin6_port == htons(7893));
    CHECK(h && h->next && h->next->len == 1 && h->next->data[0] == 9 && h->next->next == NULL);
    while (h) {
        struct vr_udp_handed *n = h->next;
        free(h);
        h = n;
    }
    CHECK(vr_udp_inbox_take(&in) == NULL);
    size_t taken = 0;
    for (size_t i = 0; i < VR_UDP_INBOX_MAX + 10; i++)
        taken += vr_udp_inbox_put(&in, (const struct sockaddr *)&l1, &src, &dst, data, 1);
    CHECK(taken == VR_UDP_INBOX_MAX);
    vr_udp_inbox_fini(&in);
    return vr_test_report();
}
