/* vr_ipset: prefix membership for IPv4 and IPv6, edge prefixes, nesting,
 * merging, and agreement with a linear scan on a large random set. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "vr_addr.h"
#include "vr_ipset.h"
#include "vr_test.h"

static void add(struct vr_ipset *s, const char *text)
{
    struct vr_cidr c;
    int r = vr_cidr_parse(text, &c);
    CHECK(r == 0);
    if (r == 0)
        CHECK(vr_ipset_add(s, &c) == 0);
}

static bool has(const struct vr_ipset *s, const char *ip)
{
    uint8_t a[16];
    if (inet_pton(AF_INET, ip, a) == 1)
        return vr_ipset_contains(s, AF_INET, a);
    if (inet_pton(AF_INET6, ip, a) == 1)
        return vr_ipset_contains(s, AF_INET6, a);
    fprintf(stderr, "bad test address %s\n", ip);
    abort();
}

static void test_empty(void)
{
    struct vr_ipset *s = vr_ipset_new();
    CHECK(s != NULL);
    CHECK(vr_ipset_build(s) == 0);
    CHECK(!has(s, "0.0.0.0"));
    CHECK(!has(s, "198.18.0.1"));
    CHECK(!has(s, "::"));
    CHECK(!has(s, "2001:db8::1"));
    CHECK(vr_ipset_count(s) == 0);
    CHECK(vr_ipset_intervals(s) == 0);
    uint8_t a[16] = {0};
    CHECK(!vr_ipset_contains(s, AF_UNIX, a));
    vr_ipset_free(s);
    vr_ipset_free(NULL);
}

static void test_default_routes(void)
{
    struct vr_ipset *s = vr_ipset_new();
    add(s, "0.0.0.0/0");
    vr_ipset_build(s);
    CHECK(has(s, "0.0.0.0"));
    CHECK(has(s, "255.255.255.255"));
    CHECK(has(s, "203.0.113.5"));
    CHECK(!has(s, "::"));
    CHECK(!has(s, "2001:db8::1"));
    add(s, "::/0");
    CHECK(!has(s, "2001:db8::1")); /* not visible before build */
    vr_ipset_build(s);
    CHECK(has(s, "::"));
    CHECK(has(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    CHECK(has(s, "2001:db8::1"));
    CHECK(vr_ipset_count(s) == 2);
    CHECK(vr_ipset_intervals(s) == 2);
    vr_ipset_free(s);
}

static void test_host_prefixes(void)
{
    struct vr_ipset *s = vr_ipset_new();
    add(s, "198.18.0.1/32");
    add(s, "203.0.113.7"); /* bare address = /32 */
    add(s, "0.0.0.0/32");
    add(s, "255.255.255.255/32");
    add(s, "2001:db8::1/128");
    add(s, "::/128");
    add(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
    vr_ipset_build(s);
    CHECK(has(s, "198.18.0.1"));
    CHECK(!has(s, "198.18.0.0"));
    CHECK(!has(s, "198.18.0.2"));
    CHECK(has(s, "203.0.113.7"));
    CHECK(!has(s, "203.0.113.6"));
    CHECK(!has(s, "203.0.113.8"));
    CHECK(has(s, "0.0.0.0"));
    CHECK(!has(s, "0.0.0.1"));
    CHECK(has(s, "255.255.255.255"));
    CHECK(!has(s, "255.255.255.254"));
    CHECK(has(s, "2001:db8::1"));
    CHECK(!has(s, "2001:db8::"));
    CHECK(!has(s, "2001:db8::2"));
    CHECK(has(s, "::"));
    CHECK(!has(s, "::1"));
    CHECK(has(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    CHECK(!has(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"));
    vr_ipset_free(s);
}

static void test_nested_and_overlapping(void)
{
    struct vr_ipset *s = vr_ipset_new();
    add(s, "198.18.5.0/24"); /* inside 198.18.0.0/15, added first */
    add(s, "198.18.0.0/15");
    add(s, "198.18.0.0/16"); /* inside too */
    add(s, "198.18.0.0/15"); /* duplicate */
    add(s, "192.0.2.128/25");
    add(s, "192.0.2.0/24");
    add(s, "2001:db8:1::/48");
    add(s, "2001:db8::/32");
    add(s, "2001:db8:1:2::/64");
    vr_ipset_build(s);
    CHECK(vr_ipset_count(s) == 9);
    CHECK(vr_ipset_intervals(s) == 3);
    CHECK(has(s, "198.18.0.0"));
    CHECK(has(s, "198.19.255.255"));
    CHECK(has(s, "198.18.5.77"));
    CHECK(has(s, "198.19.200.1")); /* only in the outer prefix */
    CHECK(!has(s, "198.17.255.255"));
    CHECK(!has(s, "198.20.0.0"));
    CHECK(has(s, "192.0.2.0"));
    CHECK(has(s, "192.0.2.255"));
    CHECK(!has(s, "192.0.3.0"));
    CHECK(has(s, "2001:db8:ffff::1"));
    CHECK(has(s, "2001:db8:1:2::5"));
    CHECK(!has(s, "2001:db9::"));
    CHECK(!has(s, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
    vr_ipset_free(s);
}

static void test_adjacent_merge(void)
{
    struct vr_ipset *s = vr_ipset_new();
    add(s, "198.19.0.0/16");
    add(s, "198.18.0.0/16");
    add(s, "203.0.113.0/25");
    add(s, "203.0.113.192/26"); /* gap: .128-.191 */
    add(s, "2001:db8:0:1::/64");
    add(s, "2001:db8::/64"); /* adjacent across the 64-bit halves */
    add(s, "2001:db8:0:2::/65");
    add(s, "2001:db8:0:2:8000::/65");
    add(s, "192.0.2.1"); /* one-address gap between these two */
    add(s, "192.0.2.3");
    add(s, "2001:db8:ff::1");
    add(s, "2001:db8:ff::3");
    vr_ipset_build(s);
    CHECK(vr_ipset_intervals(s) == 3 + 1 + 4);
    CHECK(has(s, "192.0.2.1"));
    CHECK(!has(s, "192.0.2.2"));
    CHECK(has(s, "192.0.2.3"));
    CHECK(has(s, "2001:db8:ff::1"));
    CHECK(!has(s, "2001:db8:ff::2"));
    CHECK(has(s, "2001:db8:ff::3"));
    CHECK(has(s, "198.18.255.255"));
    CHECK(has(s, "198.19.0.0"));
    CHECK(has(s, "203.0.113.127"));
    CHECK(!has(s, "203.0.113.128"));
    CHECK(!has(s, "203.0.113.191"));
    CHECK(has(s, "203.0.113.192"));
    CHECK(has(s, "203.0.113.255"));
    CHECK(has(s, "2001:db8::ffff:ffff:ffff:ffff"));
    CHECK(has(s, "2001:db8:0:1::"));
    CHECK(has(s, "2001:db8:0:2:7fff:ffff:ffff:ffff"));
    CHECK(has(s, "2001:db8:0:2:8000::"));
    CHECK(has(s, "2001:db8:0:2:ffff:ffff:ffff:ffff"));
    CHECK(!has(s, "2001:db8:0:3::"));
    vr_ipset_free(s);
}

static void test_odd_prefix_lengths(void)
{
    struct vr_ipset *s = vr_ipset_new();
    add(s, "198.18.0.0/17");
    add(s, "2001:db8::/63");
    add(s, "2001:db8:1::8000:0:0:0/65");
    add(s, "2001:db8:2::/127");
    vr_ipset_build(s);
    CHECK(has(s, "198.18.127.255"));
    CHECK(!has(s, "198.18.128.0"));
    CHECK(has(s, "2001:db8:0:1:ffff:ffff:ffff:ffff"));
    CHECK(!has(s, "2001:db8:0:2::"));
    CHECK(has(s, "2001:db8:1:0:8000::1"));
    CHECK(!has(s, "2001:db8:1:0:7fff:ffff:ffff:ffff"));
    CHECK(has(s, "2001:db8:2::1"));
    CHECK(!has(s, "2001:db8:2::2"));
    vr_ipset_free(s);
}

static void test_families_apart(void)
{
    struct vr_ipset *s = vr_ipset_new();
    add(s, "10.0.0.0/8");
    vr_ipset_build(s);
    /* the same leading bytes in IPv6 are another address */
    CHECK(!has(s, "a00::1"));
    /* IPv4-mapped is the caller's to unwrap; the _sa variant does */
    CHECK(!has(s, "::ffff:10.1.2.3"));
    struct sockaddr_storage ss;
    CHECK(vr_sockaddr_parse("::ffff:10.1.2.3", 443, &ss, NULL) == 0);
    CHECK(vr_ipset_contains_sa(s, (struct sockaddr *)&ss));
    CHECK(vr_sockaddr_parse("10.9.9.9", 443, &ss, NULL) == 0);
    CHECK(vr_ipset_contains_sa(s, (struct sockaddr *)&ss));
    CHECK(vr_sockaddr_parse("11.0.0.1", 443, &ss, NULL) == 0);
    CHECK(!vr_ipset_contains_sa(s, (struct sockaddr *)&ss));
    CHECK(vr_sockaddr_parse("2001:db8::1", 443, &ss, NULL) == 0);
    CHECK(!vr_ipset_contains_sa(s, (struct sockaddr *)&ss));
    struct vr_cidr bad = {.family = AF_UNIX};
    CHECK(vr_ipset_add(s, &bad) == -EAFNOSUPPORT);
    bad = (struct vr_cidr){.family = AF_INET, .prefix = 33};
    CHECK(vr_ipset_add(s, &bad) == -EINVAL);
    CHECK(vr_ipset_count(s) == 1);
    vr_ipset_free(s);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A random prefix, mostly long ones so the set stays sparse (thousands of
 * intervals, enough for the first-level index), with some short ones that
 * swallow others. */
static void random_cidr(struct vr_cidr *c, int family)
{
    memset(c, 0, sizeof(*c));
    c->family = family;
    int bytes = family == AF_INET ? 4 : 16;
    for (int i = 0; i < bytes; i++)
        c->addr[i] = (uint8_t)rnd();
    c->addr[0] = (uint8_t)(family == AF_INET ? 198 + rnd() % 32 : 0x20 + rnd() % 32);
    bool short_one = rnd() % 1000 == 0;
    if (family == AF_INET)
        c->prefix = (uint8_t)(short_one ? 12 + rnd() % 4 : 16 + rnd() % 17);
    else
        c->prefix = (uint8_t)(short_one ? 8 + rnd() % 8 : 16 + rnd() % 113);
    for (int i = 0; i < bytes; i++) {
        int keep = c->prefix - i * 8;
        c->addr[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
}

/* An address at or next to an edge of c (first, last, one before, one after). */
static void edge_addr(const struct vr_cidr *c, uint8_t *a)
{
    int bytes = c->family == AF_INET ? 4 : 16;
    memcpy(a, c->addr, 16);
    int which = (int)(rnd() % 5);
    if (which == 1 || which == 3) { /* last address */
        for (int i = 0; i < bytes; i++) {
            int keep = c->prefix - i * 8;
            a[i] |= keep >= 8 ? 0 : keep <= 0 ? 0xff : (uint8_t)(0xff >> keep);
        }
    }
    if (which == 2) { /* one before the first */
        for (int i = bytes - 1; i >= 0 && a[i]-- == 0; i--)
            ;
    } else if (which == 3) { /* one after the last */
        for (int i = bytes - 1; i >= 0 && ++a[i] == 0; i--)
            ;
    } else if (which == 4) { /* anywhere */
        for (int i = 1; i < bytes; i++)
            a[i] = (uint8_t)rnd();
    }
}

static void test_against_linear_scan(void)
{
    enum { N = 20000, PROBES = 5000 };
    static struct vr_cidr cidrs[N];
    struct vr_ipset *s = vr_ipset_new();
    for (int i = 0; i < N; i++) {
        random_cidr(&cidrs[i], i % 2 ? AF_INET6 : AF_INET);
        CHECK(vr_ipset_add(s, &cidrs[i]) == 0);
    }
    vr_ipset_build(s);
    CHECK(vr_ipset_count(s) == N);
    /* enough intervals per family that lookups go through the index */
    CHECK(vr_ipset_intervals(s) > 2 * 4096 && vr_ipset_intervals(s) < N);
    CHECK(vr_ipset_memory(s) > 2 * 65536 * sizeof(uint32_t));
    int mismatches = 0, hits = 0;
    for (int p = 0; p < PROBES; p++) {
        const struct vr_cidr *c = &cidrs[rnd() % N];
        uint8_t a[16];
        edge_addr(c, a);
        bool want = false;
        for (int i = 0; i < N && !want; i++)
            want = vr_cidr_contains(&cidrs[i], c->family, a);
        if (vr_ipset_contains(s, c->family, a) != want)
            mismatches++;
        hits += want;
    }
    CHECK(mismatches == 0);
    /* the probes are near edges: both outcomes must have been exercised */
    CHECK(hits > PROBES / 4 && hits < PROBES);
    vr_ipset_free(s);
}

int main(void)
{
    test_empty();
    test_default_routes();
    test_host_prefixes();
    test_nested_and_overlapping();
    test_adjacent_merge();
    test_odd_prefix_lengths();
    test_families_apart();
    test_against_linear_scan();
    return vr_test_report();
}
