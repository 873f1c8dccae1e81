/* Weighted rendezvous hashing over a large sample of synthetic flows: the
 * share of each member matches its weight (the distribution error is
 * printed and bounded), and a member going down or coming back moves only
 * its own flows. */
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "ecmp_hash.h"
#include "vr_test.h"

#define NFLOWS 1000000

static uint64_t rng = 0x1234567887654321ull;
static uint32_t rnd32(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 32);
}

static void synth_flow(struct vr_flow *f, int v6)
{
    memset(f, 0, sizeof(*f));
    f->network = VR_NET_TCP;
    if (v6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&f->src, *d = (struct sockaddr_in6 *)&f->dst;
        s->sin6_family = d->sin6_family = AF_INET6;
        for (int i = 0; i < 4; i++) {
            uint32_t a = rnd32(), b = rnd32();
            memcpy(&s->sin6_addr.s6_addr[i * 4], &a, 4);
            memcpy(&d->sin6_addr.s6_addr[i * 4], &b, 4);
        }
        s->sin6_port = (uint16_t)rnd32();
        d->sin6_port = htons(443);
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)&f->src, *d = (struct sockaddr_in *)&f->dst;
        s->sin_family = d->sin_family = AF_INET;
        /* realistic: few clients (198.18.1.0/24), many ports, some servers */
        s->sin_addr.s_addr = htonl(0xc6120100u | (rnd32() & 0xff));
        s->sin_port = htons((uint16_t)(20000 + rnd32() % 45000));
        d->sin_addr.s_addr = htonl(0xcb007100u | (rnd32() & 0xff));
        d->sin_port = htons(rnd32() % 2 ? 443 : 80);
    }
}

static void seeds_for(int n, uint64_t *seeds)
{
    const char *tags[] = {"wg1", "wg2", "proxy", "direct", "wan-b", "x"};
    for (int i = 0; i < n; i++)
        seeds[i] = ecmp_hash_bytes(tags[i], strlen(tags[i]), 0x7a9);
}

/* Max relative error of the shares against the weights, in percent. */
static double share_error(const int *count, const double *w, const uint8_t *usable, int n,
                          int total)
{
    double sw = 0, worst = 0;
    for (int i = 0; i < n; i++)
        if (usable[i])
            sw += w[i];
    for (int i = 0; i < n; i++) {
        if (!usable[i])
            continue;
        double expect = w[i] / sw, got = (double)count[i] / total;
        double e = fabs(got - expect) / expect * 100.0;
        if (e > worst)
            worst = e;
    }
    return worst;
}

static int *assign(const uint64_t *keys, const uint64_t *seeds, const double *w,
                   const uint8_t *usable, int n, int *count)
{
    int *who = malloc(sizeof(int) * NFLOWS);
    memset(count, 0, sizeof(int) * (size_t)n);
    for (int k = 0; k < NFLOWS; k++) {
        who[k] = ecmp_rendezvous(keys[k], seeds, w, usable, n);
        count[who[k]]++;
    }
    return who;
}

static void test_weights(const double *w, int n, uint64_t *keys, const char *label)
{
    uint64_t seeds[8];
    uint8_t all[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    int count[8];
    seeds_for(n, seeds);
    int *who = assign(keys, seeds, w, all, n, count);
    double err = share_error(count, w, all, n, NFLOWS);
    printf("weights %s over %d flows: max relative share error %.3f%%\n", label, NFLOWS, err);
    CHECK(err < 1.0);

    /* Member 1 goes down: flows of the others stay put; its flows spread
     * over the rest by weight. */
    uint8_t down[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    down[1] = 0;
    int count2[8];
    int *who2 = assign(keys, seeds, w, down, n, count2);
    int moved_other = 0, moved_own = 0, to[8] = {0};
    for (int k = 0; k < NFLOWS; k++) {
        if (who[k] != 1 && who2[k] != who[k])
            moved_other++;
        if (who[k] == 1) {
            moved_own++;
            to[who2[k]]++;
        }
    }
    double err_moved = share_error(to, w, down, n, moved_own);
    printf("  member 1 down: %d flows moved (all its own), %d others moved; "
           "its flows spread with max error %.3f%%\n", moved_own, moved_other, err_moved);
    CHECK(moved_other == 0);
    CHECK(moved_own == count[1]);
    CHECK(err_moved < 3.0);

    /* It comes back: exactly the original assignment. */
    int count3[8];
    int *who3 = assign(keys, seeds, w, all, n, count3);
    CHECK(memcmp(who, who3, sizeof(int) * NFLOWS) == 0);
    free(who);
    free(who2);
    free(who3);
}

static void test_source_sticky(void)
{
    uint64_t seeds[3];
    seeds_for(3, seeds);
    double w[3] = {1, 1, 1};
    uint8_t all[3] = {1, 1, 1};
    int sticky = 1;
    for (int c = 0; c < 200; c++) {
        struct vr_flow f;
        synth_flow(&f, 0);
        int first = ecmp_rendezvous(ecmp_flow_key(&f, 1), seeds, w, all, 3);
        for (int p = 0; p < 20; p++) {
            ((struct sockaddr_in *)&f.src)->sin_port = htons((uint16_t)(30000 + p));
            ((struct sockaddr_in *)&f.dst)->sin_port = htons((uint16_t)(1000 + p));
            if (ecmp_rendezvous(ecmp_flow_key(&f, 1), seeds, w, all, 3) != first)
                sticky = 0;
        }
    }
    CHECK(sticky);
    /* while flow hashing spreads one client's connections */
    struct vr_flow f;
    synth_flow(&f, 0);
    int seen[3] = {0};
    for (int p = 0; p < 300; p++) {
        ((struct sockaddr_in *)&f.src)->sin_port = htons((uint16_t)(30000 + p));
        seen[ecmp_rendezvous(ecmp_flow_key(&f, 0), seeds, w, all, 3)]++;
    }
    CHECK(seen[0] > 50 && seen[1] > 50 && seen[2] > 50);
}

/* UDP: the key is the client endpoint; the remote (the session's first
 * one, which varies with what the client sent first) does not count. TCP
 * keeps the 5-tuple. Client ports still spread. */
static void test_udp_key(void)
{
    uint64_t seeds[3];
    seeds_for(3, seeds);
    double w[3] = {1, 1, 1};
    uint8_t all[3] = {1, 1, 1};
    struct vr_flow f;
    synth_flow(&f, 0);
    f.network = VR_NET_UDP;
    uint64_t k0 = ecmp_flow_key(&f, 0);
    int same = 1, tcp_differs = 0;
    for (int d = 0; d < 50; d++) {
        ((struct sockaddr_in *)&f.dst)->sin_addr.s_addr = htonl(0xc6130200u + (uint32_t)d);
        ((struct sockaddr_in *)&f.dst)->sin_port = htons((uint16_t)(7000 + d));
        f.network = VR_NET_UDP;
        same &= ecmp_flow_key(&f, 0) == k0;
        f.network = VR_NET_TCP;
        tcp_differs += ecmp_flow_key(&f, 0) != k0;
    }
    CHECK(same);
    CHECK(tcp_differs == 50);
    struct vr_flow g;
    synth_flow(&g, 1);
    g.network = VR_NET_UDP;
    uint64_t k6 = ecmp_flow_key(&g, 0);
    ((struct sockaddr_in6 *)&g.dst)->sin6_port = htons(9999);
    CHECK(ecmp_flow_key(&g, 0) == k6);
    int seen[3] = {0};
    f.network = VR_NET_UDP;
    for (int p = 0; p < 300; p++) {
        ((struct sockaddr_in *)&f.src)->sin_port = htons((uint16_t)(30000 + p));
        seen[ecmp_rendezvous(ecmp_flow_key(&f, 0), seeds, w, all, 3)]++;
    }
    CHECK(seen[0] > 50 && seen[1] > 50 && seen[2] > 50);
}

static void test_round_robin(void)
{
    int64_t cur[3] = {0}, w[3] = {2, 1, 1};
    uint8_t all[3] = {1, 1, 1};
    int count[3] = {0};
    for (int i = 0; i < 4000; i++)
        count[ecmp_round_robin(cur, w, all, 3)]++;
    CHECK(count[0] == 2000 && count[1] == 1000 && count[2] == 1000);
    uint8_t one_down[3] = {1, 0, 1};
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 3000; i++)
        count[ecmp_round_robin(cur, w, one_down, 3)]++;
    CHECK(count[1] == 0 && count[0] >= 1999 && count[0] <= 2001);
    uint8_t none[3] = {0, 0, 0};
    CHECK(ecmp_round_robin(cur, w, none, 3) == -1);
    double wd[3] = {1, 1, 1};
    uint64_t seeds[3] = {1, 2, 3};
    CHECK(ecmp_rendezvous(42, seeds, wd, none, 3) == -1);
}

int main(void)
{
    uint64_t *keys = malloc(sizeof(uint64_t) * NFLOWS);
    for (int k = 0; k < NFLOWS; k++) {
        struct vr_flow f;
        synth_flow(&f, k % 4 == 0);
        keys[k] = ecmp_flow_key(&f, 0);
    }
    const double w211[] = {2, 1, 1}, w5311[] = {5, 3, 1, 1}, w11[] = {1, 1};
    test_weights(w211, 3, keys, "[2,1,1]");
    test_weights(w5311, 4, keys, "[5,3,1,1]");
    test_weights(w11, 2, keys, "[1,1]");
    free(keys);
    test_source_sticky();
    test_udp_key();
    test_round_robin();
    return vr_test_report();
}
