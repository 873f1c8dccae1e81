/* The resolver's cache (vr_dns_cache.c) and rate limiter
 * (vr_dns_ratelimit.c): TTLs honoured and aged, the DO bit and the upstream
 * in the key, LRU eviction at the bound; token buckets per client with a
 * bounded client table. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "vr_dns_cache.h"
#include "vr_dns_ratelimit.h"
#include "vr_test.h"

static struct vr_dns_cache_key key(const char *name, int do_bit)
{
    struct vr_dns_cache_key k;
    memset(&k, 0, sizeof(k));
    snprintf(k.name, sizeof(k.name), "%s", name);
    k.qtype = 1;
    k.qclass = 1;
    k.do_bit = do_bit;
    return k;
}

/* An answer for name with one A record of ttl. */
static size_t answer(const char *name, uint32_t ttl, uint8_t *m)
{
    uint8_t q[300];
    size_t qn = vr_dns_build_query(name, 1, 1, q, sizeof(q));
    struct vr_dns_query pq;
    vr_dns_parse_query(q, qn, &pq);
    uint8_t a[4] = {192, 0, 2, 1};
    return vr_dns_build_answer(q, &pq, 0, a, 4, 1, ttl, m, 512);
}

static uint32_t ttl_of(const uint8_t *m, size_t n, const char *name)
{
    uint8_t q[300];
    size_t qn = vr_dns_build_query(name, 1, 1, q, sizeof(q));
    struct vr_dns_query pq;
    vr_dns_parse_query(q, qn, &pq);
    struct vr_dns_response_info info;
    return vr_dns_parse_response(m, n, &pq, &info) == 0 ? info.min_ttl : 0xdead;
}

static void test_ttl(void)
{
    struct vr_dns_cache *c = vr_dns_cache_new(10, 3600);
    uint8_t m[512], out[512];
    size_t n = answer("a.example", 60, m);
    struct vr_dns_cache_key k = key("a.example", 0);
    CHECK(vr_dns_cache_get(c, &k, 1000, out, sizeof(out)) == 0); /* miss */
    vr_dns_cache_put(c, &k, m, n, 60, 1000);
    CHECK(vr_dns_cache_get(c, &k, 1000, out, sizeof(out)) == n);
    CHECK(ttl_of(out, n, "a.example") == 60);
    CHECK(vr_dns_cache_get(c, &k, 21000, out, sizeof(out)) == n);
    CHECK(ttl_of(out, n, "a.example") == 40); /* aged by 20 s */
    CHECK(vr_dns_cache_get(c, &k, 61000, out, sizeof(out)) == 0); /* expired */
    /* the DO bit and the upstream are part of the key */
    vr_dns_cache_put(c, &k, m, n, 60, 1000);
    struct vr_dns_cache_key kd = key("a.example", 1);
    CHECK(vr_dns_cache_get(c, &kd, 1000, out, sizeof(out)) == 0);
    struct vr_dns_cache_key ku = key("a.example", 0);
    ku.upstream = 3;
    CHECK(vr_dns_cache_get(c, &ku, 1000, out, sizeof(out)) == 0);
    /* ttl 0 is not kept; max_ttl caps */
    struct vr_dns_cache_key k0 = key("zero.example", 0);
    vr_dns_cache_put(c, &k0, m, n, 0, 1000);
    CHECK(vr_dns_cache_get(c, &k0, 1000, out, sizeof(out)) == 0);
    struct vr_dns_cache *capped = vr_dns_cache_new(10, 5);
    vr_dns_cache_put(capped, &k, m, n, 60, 1000);
    CHECK(vr_dns_cache_get(capped, &k, 5999, out, sizeof(out)) == n);
    CHECK(vr_dns_cache_get(capped, &k, 6000, out, sizeof(out)) == 0);
    /* too small a buffer: a miss, not an overflow */
    vr_dns_cache_put(c, &k, m, n, 60, 1000);
    CHECK(vr_dns_cache_get(c, &k, 1000, out, n - 1) == 0);
    struct vr_dns_cache_stats st;
    vr_dns_cache_stats(c, &st);
    CHECK(st.hits == 2 && st.misses == 6 && st.expired == 1);
    vr_dns_cache_free(c);
    vr_dns_cache_free(capped);
}

static void test_lru(void)
{
    struct vr_dns_cache *c = vr_dns_cache_new(3, 3600);
    uint8_t m[512], out[512];
    const char *names[] = {"n1.example", "n2.example", "n3.example", "n4.example"};
    struct vr_dns_cache_key k[4];
    for (int i = 0; i < 3; i++) {
        k[i] = key(names[i], 0);
        vr_dns_cache_put(c, &k[i], m, answer(names[i], 60, m), 60, 0);
    }
    CHECK(vr_dns_cache_get(c, &k[0], 0, out, sizeof(out)) > 0); /* n1 used: n2 is now the oldest */
    k[3] = key(names[3], 0);
    vr_dns_cache_put(c, &k[3], m, answer(names[3], 60, m), 60, 0);
    CHECK(vr_dns_cache_get(c, &k[1], 0, out, sizeof(out)) == 0); /* n2 evicted */
    CHECK(vr_dns_cache_get(c, &k[0], 0, out, sizeof(out)) > 0);
    CHECK(vr_dns_cache_get(c, &k[2], 0, out, sizeof(out)) > 0);
    CHECK(vr_dns_cache_get(c, &k[3], 0, out, sizeof(out)) > 0);
    struct vr_dns_cache_stats st;
    vr_dns_cache_stats(c, &st);
    CHECK(st.entries == 3 && st.evictions == 1);
    /* many more inserts stay bounded */
    for (int i = 0; i < 1000; i++) {
        char nm[32];
        snprintf(nm, sizeof(nm), "x%d.example", i);
        struct vr_dns_cache_key kk = key(nm, 0);
        vr_dns_cache_put(c, &kk, m, answer(nm, 60, m), 60, 0);
    }
    vr_dns_cache_stats(c, &st);
    CHECK(st.entries == 3);
    vr_dns_cache_free(c);
}

static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
}

static void test_ratelimit(void)
{
    struct vr_dns_ratelimit *rl = vr_dns_ratelimit_new(10, 5, 16);
    struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.2");
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += vr_dns_ratelimit_allow(rl, (struct sockaddr *)&a, 1000);
    CHECK(ok == 5); /* the burst */
    CHECK(vr_dns_ratelimit_allow(rl, (struct sockaddr *)&b, 1000)); /* another client is not affected */
    CHECK(!vr_dns_ratelimit_allow(rl, (struct sockaddr *)&a, 1050));
    CHECK(vr_dns_ratelimit_allow(rl, (struct sockaddr *)&a, 1100)); /* 10 qps: one token per 100 ms */
    uint64_t clients;
    CHECK(vr_dns_ratelimit_refused(rl, &clients) == 16 && clients == 2);
    /* the table is bounded */
    for (int i = 0; i < 1000; i++) {
        struct sockaddr_in c = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc6120000u + (uint32_t)i)};
        vr_dns_ratelimit_allow(rl, (struct sockaddr *)&c, 2000);
    }
    vr_dns_ratelimit_refused(rl, &clients);
    CHECK(clients == 16);
    vr_dns_ratelimit_free(rl);
}

int main(void)
{
    test_ttl();
    test_lru();
    test_ratelimit();
    return vr_test_report();
}
