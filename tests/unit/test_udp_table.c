/* The UDP session table: keys per NAT mode, find/insert/remove, activity
 * order for expiry and LRU eviction, per-client accounting, growth. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "vr_config.h"
#include "vr_test.h"
#include "vr_udp_table.h"

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, ip, &in->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;
    in->sin6_family = AF_INET6;
    in->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &in->sin6_addr);
    return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void test_keys(void)
{
    struct sockaddr_storage c = v4("198.18.1.2", 5000), c2 = v4("198.18.1.2", 5001);
    struct sockaddr_storage a = v4("198.19.2.2", 53), a2 = v4("198.19.2.2", 54), b = v4("198.19.2.9", 53);
    struct vr_udp_key k1, k2;
    /* endpoint-independent: the remote does not matter */
    vr_udp_key_make(&k1, VR_UDP_NAT_ENDPOINT_INDEPENDENT, SA(c), SA(a));
    vr_udp_key_make(&k2, VR_UDP_NAT_ENDPOINT_INDEPENDENT, SA(c), SA(b));
    CHECK(memcmp(&k1, &k2, sizeof(k1)) == 0);
    vr_udp_key_make(&k2, VR_UDP_NAT_ENDPOINT_INDEPENDENT, SA(c2), SA(a));
    CHECK(memcmp(&k1, &k2, sizeof(k1)) != 0);
    /* address-dependent: the remote's address matters, not its port */
    vr_udp_key_make(&k1, VR_UDP_NAT_ADDRESS_DEPENDENT, SA(c), SA(a));
    vr_udp_key_make(&k2, VR_UDP_NAT_ADDRESS_DEPENDENT, SA(c), SA(a2));
    CHECK(memcmp(&k1, &k2, sizeof(k1)) == 0);
    vr_udp_key_make(&k2, VR_UDP_NAT_ADDRESS_DEPENDENT, SA(c), SA(b));
    CHECK(memcmp(&k1, &k2, sizeof(k1)) != 0);
    /* address-and-port-dependent: both */
    vr_udp_key_make(&k1, VR_UDP_NAT_PORT_DEPENDENT, SA(c), SA(a));
    vr_udp_key_make(&k2, VR_UDP_NAT_PORT_DEPENDENT, SA(c), SA(a2));
    CHECK(memcmp(&k1, &k2, sizeof(k1)) != 0);
    vr_udp_key_make(&k2, VR_UDP_NAT_PORT_DEPENDENT, SA(c), SA(a));
    CHECK(memcmp(&k1, &k2, sizeof(k1)) == 0);
    /* families never collide */
    struct sockaddr_storage c6 = v6("::", 5000), z4 = v4("0.0.0.0", 5000);
    vr_udp_key_make(&k1, VR_UDP_NAT_ENDPOINT_INDEPENDENT, SA(c6), SA(c6));
    vr_udp_key_make(&k2, VR_UDP_NAT_ENDPOINT_INDEPENDENT, SA(z4), SA(z4));
    CHECK(memcmp(&k1, &k2, sizeof(k1)) != 0);
}

struct item {
    struct vr_udp_entry e;
    int id;
};

static void test_table(void)
{
    struct vr_udp_table t;
    CHECK(vr_udp_table_init(&t) == 0);
    CHECK(vr_udp_table_lru(&t) == NULL);
    enum { N = 3000 }; /* past several doublings of the 256 buckets */
    struct item *items = calloc(N, sizeof(*items));
    struct sockaddr_storage dst = v4("198.19.2.2", 443);
    for (int i = 0; i < N; i++) {
        /* clients 198.18.0.x, ten ports each */
        char ip[32];
        snprintf(ip, sizeof(ip), "198.18.%d.%d", (i / 10) / 250, (i / 10) % 250 + 1);
        struct sockaddr_storage c = v4(ip, (uint16_t)(10000 + i % 10));
        items[i].id = i;
        vr_udp_key_make(&items[i].e.key, VR_UDP_NAT_ENDPOINT_INDEPENDENT, SA(c), SA(dst));
        CHECK(vr_udp_table_insert(&t, &items[i].e, (i % 7) == 0, (uint64_t)i) == 0);
    }
    CHECK(t.n == N);
    CHECK(t.n_clients == N / 10);
    CHECK(t.n_buckets >= N);
    int found = 0;
    for (int i = 0; i < N; i++)
        found += vr_udp_table_find(&t, &items[i].e.key) == &items[i].e;
    CHECK(found == N);
    /* activity order: the oldest of each class, and overall */
    CHECK(vr_udp_table_oldest(&t, VR_UDP_CLASS_SHORT) == &items[0].e);
    CHECK(vr_udp_table_oldest(&t, VR_UDP_CLASS_NORMAL) == &items[1].e);
    CHECK(vr_udp_table_lru(&t) == &items[0].e);
    vr_udp_table_touch(&t, &items[0].e, 100000);
    CHECK(vr_udp_table_oldest(&t, VR_UDP_CLASS_SHORT) == &items[7].e);
    CHECK(vr_udp_table_lru(&t) == &items[1].e);
    /* per client: items 0..9 share 198.18.0.1 */
    CHECK(vr_udp_table_client_count(&t, &items[3].e.key) == 10);
    CHECK(vr_udp_table_client_oldest(&t, &items[3].e.key) == &items[1].e);
    vr_udp_table_touch(&t, &items[1].e, 100001);
    CHECK(vr_udp_table_client_oldest(&t, &items[3].e.key) == &items[2].e);
    /* reclass moves between the expiry lists */
    vr_udp_table_reclass(&t, &items[2].e, VR_UDP_CLASS_SHORT);
    CHECK(items[2].e.klass == VR_UDP_CLASS_SHORT);
    CHECK(vr_udp_table_oldest(&t, VR_UDP_CLASS_NORMAL) == &items[3].e);
    /* remove everything of client 198.18.0.1: its record goes */
    for (int i = 0; i < 10; i++)
        vr_udp_table_remove(&t, &items[i].e);
    CHECK(vr_udp_table_client_count(&t, &items[3].e.key) == 0);
    CHECK(vr_udp_table_client_oldest(&t, &items[3].e.key) == NULL);
    CHECK(vr_udp_table_find(&t, &items[5].e.key) == NULL);
    CHECK(t.n_clients == N / 10 - 1);
    CHECK(vr_udp_table_find(&t, &items[10].e.key) == &items[10].e);
    for (int i = 10; i < N; i++)
        vr_udp_table_remove(&t, &items[i].e);
    CHECK(t.n == 0 && t.n_clients == 0);
    CHECK(vr_udp_table_lru(&t) == NULL);
    vr_udp_table_fini(&t);
    free(items);
}

int main(void)
{
    test_keys();
    test_table();
    return vr_test_report();
}
