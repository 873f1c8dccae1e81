/* The FakeIP pool (core/dns/vr_fakeip.c): both families, the addresses it
 * never hands out, LRU recycling (a mapping used lately, or pinned by a
 * live flow, goes last), range changes on reload, persistence (round trip,
 * corrupt files), the dns.fakeip config, and threads assigning and looking
 * up at once (run under ASan here and under TSan by ./run.sh's tsan label). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr_config.h"
#include "vr_fakeip_config.h"
#include "vr_fakeip_pool.h"
#include "vr_offload.h"
#include "vr_test.h"

static char tmpdir[PATH_MAX];

static const char *tmp_path(const char *name)
{
    static char bufs[4][PATH_MAX + 64];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name);
    return b;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static struct vr_fakeip_range range_of(const char *cidr)
{
    struct vr_fakeip_range r = {0};
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", cidr);
    char *slash = strchr(buf, '/');
    *slash = '\0';
    r.family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    inet_pton(r.family, buf, r.base);
    r.prefix = atoi(slash + 1);
    return r;
}

static struct vr_fakeip_pool *pool_new(const char *v4, const char *v6, uint32_t max)
{
    struct vr_fakeip_pool *p = vr_fakeip_create();
    struct vr_fakeip_range r4 = v4 ? range_of(v4) : (struct vr_fakeip_range){0};
    struct vr_fakeip_range r6 = v6 ? range_of(v6) : (struct vr_fakeip_range){0};
    vr_fakeip_configure(p, &r4, &r6, 1, max);
    return p;
}

static struct sockaddr_storage sa(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &s->sin6_addr);
        s->sin6_port = htons(port);
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &s->sin_addr);
        s->sin_port = htons(port);
    }
    return ss;
}

/* The text of the address assign gives name. */
static const char *assign_str(struct vr_fakeip_pool *p, const char *name, int family)
{
    static char out[8][INET6_ADDRSTRLEN];
    static int next;
    char *b = out[next++ % 8];
    uint8_t a[16];
    if (vr_fakeip_assign(p, name, family, a) != 0)
        return "(none)";
    inet_ntop(family, a, b, INET6_ADDRSTRLEN);
    return b;
}

static int lookup_str(struct vr_fakeip_pool *p, const char *ip, char *name, size_t cap)
{
    struct sockaddr_storage ss = sa(ip, 22);
    return vr_fakeip_lookup(p, (const struct sockaddr *)&ss, name, cap);
}

static void test_assign_lookup(void)
{
    struct vr_fakeip_pool *p = pool_new("198.51.100.0/24", "2001:db8:fa::/64", VR_FAKEIP_DEFAULT_MAX);
    /* the network address is never handed out: the first is .1 */
    CHECK(strcmp(assign_str(p, "ssh.example", AF_INET), "198.51.100.1") == 0);
    CHECK(strcmp(assign_str(p, "mqtt.example", AF_INET), "198.51.100.2") == 0);
    CHECK(strcmp(assign_str(p, "ssh.example", AF_INET), "198.51.100.1") == 0); /* stable */
    CHECK(strcmp(assign_str(p, "ssh.example", AF_INET6), "2001:db8:fa::1") == 0);
    char name[256];
    CHECK(lookup_str(p, "198.51.100.2", name, sizeof(name)) == 1 && strcmp(name, "mqtt.example") == 0);
    CHECK(lookup_str(p, "2001:db8:fa::1", name, sizeof(name)) == 1 && strcmp(name, "ssh.example") == 0);
    /* an IPv4-mapped IPv6 destination is the IPv4 one */
    CHECK(lookup_str(p, "::ffff:198.51.100.1", name, sizeof(name)) == 1 && strcmp(name, "ssh.example") == 0);
    /* in range, nothing there: 0 (refuse); outside: -1 (not fake) */
    CHECK(lookup_str(p, "198.51.100.77", name, sizeof(name)) == 0);
    CHECK(lookup_str(p, "198.51.100.0", name, sizeof(name)) == 0);
    CHECK(lookup_str(p, "198.51.100.255", name, sizeof(name)) == 0);
    CHECK(lookup_str(p, "2001:db8:fa::99", name, sizeof(name)) == 0);
    CHECK(lookup_str(p, "2001:db8:fa:0:ffff::1", name, sizeof(name)) == 0);
    CHECK(lookup_str(p, "192.0.2.1", name, sizeof(name)) == -1);
    CHECK(lookup_str(p, "2001:db8::1", name, sizeof(name)) == -1);
    /* a short buffer gets a cut, terminated name */
    CHECK(lookup_str(p, "198.51.100.2", name, 5) == 1 && strcmp(name, "mqtt") == 0);
    CHECK(vr_fakeip_ttl(p) == 1);
    /* names the file could not hold back are refused */
    uint8_t bad[16];
    CHECK(vr_fakeip_assign(p, "Upper.Example", AF_INET, bad) == -EINVAL);
    CHECK(vr_fakeip_assign(p, "with space.example", AF_INET, bad) == -EINVAL);
    CHECK(vr_fakeip_assign(p, "", AF_INET, bad) == -EINVAL);
    CHECK(vr_fakeip_assign(p, "xn--bcher-kva.example", AF_INET, bad) == 0);
    struct vr_fakeip_stats st;
    vr_fakeip_get_stats(p, &st);
    CHECK(st.mappings4 == 3 && st.mappings6 == 1 && st.capacity4 == 254 && st.assigned == 4);
    vr_fakeip_destroy(p);

    /* a family without a range */
    p = pool_new("198.51.100.0/24", NULL, 100);
    uint8_t a[16];
    CHECK(vr_fakeip_assign(p, "x.example", AF_INET6, a) == -EAFNOSUPPORT);
    CHECK(lookup_str(p, "2001:db8:fa::1", name, sizeof(name)) == -1);
    vr_fakeip_destroy(p);
    CHECK(vr_fakeip_lookup(NULL, (const struct sockaddr *)&(struct sockaddr_storage){.ss_family = AF_INET}, name,
                           sizeof(name)) == -1);
}

/* Every address of a /28 (16 addresses, 14 usable): none is network or
 * broadcast, and a full pool recycles. */
static void test_small_range(void)
{
    struct vr_fakeip_pool *p = pool_new("198.51.100.16/28", NULL, VR_FAKEIP_DEFAULT_MAX);
    int bad = 0;
    for (int i = 0; i < 40; i++) {
        char n[32];
        snprintf(n, sizeof(n), "n%d.example", i);
        uint8_t a[4];
        CHECK(vr_fakeip_assign(p, n, AF_INET, a) == 0);
        if (a[3] == 16 || a[3] == 31 || a[3] < 16 || a[3] > 31)
            bad++;
    }
    CHECK(bad == 0);
    struct vr_fakeip_stats st;
    vr_fakeip_get_stats(p, &st);
    CHECK(st.mappings4 == 14 && st.recycled == 26);
    vr_fakeip_destroy(p);
}

/* The case: a pool of 16 addresses and 100 names. */
static void test_lru_recycling(void)
{
    struct vr_fakeip_pool *p = pool_new("198.51.100.0/24", NULL, 16);
    char names[100][32];
    char addrs[100][INET6_ADDRSTRLEN];
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof(names[i]), "host%d.example", i);
        snprintf(addrs[i], sizeof(addrs[i]), "%s", assign_str(p, names[i], AF_INET));
    }
    /* the last 16 names hold the 16 addresses; each address maps to the
     * last name that was given it */
    char name[256];
    int live = 0, wrong = 0;
    for (int i = 0; i < 100; i++) {
        int r = lookup_str(p, addrs[i], name, sizeof(name));
        if (i >= 84) {
            live += r == 1 && strcmp(name, names[i]) == 0;
        } else if (r == 1 && strcmp(name, names[i]) == 0) {
            wrong++; /* an old name still at its address: not recycled */
        }
    }
    CHECK(live == 16);
    CHECK(wrong == 0);
    /* recycled in order: host84's address went first to... host84 itself was
     * the 85th; the address of host0 (first handed out) went to host16 */
    CHECK(strcmp(addrs[0], addrs[16]) == 0);
    CHECK(strcmp(addrs[0], "198.51.100.1") == 0);

    /* a mapping used lately is recycled last: touch host84 (the least
     * recently used), then assign one more name: host85 goes, not host84 */
    CHECK(lookup_str(p, addrs[84], name, sizeof(name)) == 1);
    const char *fresh = assign_str(p, "fresh.example", AF_INET);
    CHECK(strcmp(fresh, addrs[85]) == 0);
    CHECK(lookup_str(p, addrs[84], name, sizeof(name)) == 1 && strcmp(name, names[84]) == 0);
    vr_fakeip_destroy(p);
}

/* A mapping a live flow pinned outlives 100 newer names; unpinned, it goes. */
static void test_pinned_recycled_last(void)
{
    struct vr_fakeip_pool *p = pool_new("198.51.100.0/24", NULL, 16);
    char held[INET6_ADDRSTRLEN];
    snprintf(held, sizeof(held), "%s", assign_str(p, "ssh.example", AF_INET));
    struct sockaddr_storage ss = sa(held, 22);
    char name[256];
    CHECK(vr_fakeip_lookup_pin(p, (const struct sockaddr *)&ss, name, sizeof(name)) == 1);
    for (int i = 0; i < 100; i++) {
        char n[32];
        snprintf(n, sizeof(n), "other%d.example", i);
        assign_str(p, n, AF_INET);
    }
    CHECK(lookup_str(p, held, name, sizeof(name)) == 1 && strcmp(name, "ssh.example") == 0);
    /* it is still the same mapping: assign gives the same address */
    CHECK(strcmp(assign_str(p, "ssh.example", AF_INET), held) == 0);
    vr_fakeip_unpin(p, (const struct sockaddr *)&ss, "ssh.example");
    for (int i = 0; i < 100; i++) {
        char n[32];
        snprintf(n, sizeof(n), "later%d.example", i);
        assign_str(p, n, AF_INET);
    }
    CHECK(!(lookup_str(p, held, name, sizeof(name)) == 1 && strcmp(name, "ssh.example") == 0));
    /* unpinning a recycled address is a no-op (no underflow, no crash) */
    vr_fakeip_unpin(p, (const struct sockaddr *)&ss, "ssh.example");

    /* every mapping pinned: the pool still answers (the least recently used
     * goes; the flows holding it keep the route they were given) */
    struct vr_fakeip_pool *q = pool_new("198.51.100.0/24", NULL, 16);
    for (int i = 0; i < 16; i++) {
        char n[32];
        snprintf(n, sizeof(n), "pin%d.example", i);
        struct sockaddr_storage s2 = sa(assign_str(q, n, AF_INET), 1);
        CHECK(vr_fakeip_lookup_pin(q, (const struct sockaddr *)&s2, name, sizeof(name)) == 1);
    }
    CHECK(strcmp(assign_str(q, "overflow.example", AF_INET), "(none)") != 0);
    vr_fakeip_destroy(q);
    vr_fakeip_destroy(p);
}

/* A reload that changes the range: the family's mappings go, and the old
 * range is refused (0), not routed to as an ordinary address. */
static void test_range_change(void)
{
    struct vr_fakeip_pool *p = pool_new("198.51.100.0/24", "2001:db8:fa::/64", 100);
    char old[INET6_ADDRSTRLEN];
    snprintf(old, sizeof(old), "%s", assign_str(p, "a.example", AF_INET));
    assign_str(p, "a.example", AF_INET6);
    /* same ranges, other TTL: mappings stay */
    struct vr_fakeip_range r4 = range_of("198.51.100.0/24"), r6 = range_of("2001:db8:fa::/64");
    vr_fakeip_configure(p, &r4, &r6, 30, 100);
    char name[256];
    CHECK(lookup_str(p, old, name, sizeof(name)) == 1);
    CHECK(vr_fakeip_ttl(p) == 30);
    /* IPv4 range changes, IPv6 stays */
    struct vr_fakeip_range n4 = range_of("203.0.113.0/24");
    vr_fakeip_configure(p, &n4, &r6, 1, 100);
    CHECK(lookup_str(p, old, name, sizeof(name)) == 0);
    CHECK(lookup_str(p, "2001:db8:fa::1", name, sizeof(name)) == 1);
    CHECK(strcmp(assign_str(p, "a.example", AF_INET), "203.0.113.1") == 0);
    /* no fakeip at all: nothing handed out, old ranges refused */
    vr_fakeip_configure(p, NULL, NULL, 1, 100);
    uint8_t a[16];
    CHECK(vr_fakeip_assign(p, "b.example", AF_INET, a) == -EAFNOSUPPORT);
    CHECK(lookup_str(p, "203.0.113.1", name, sizeof(name)) == 0);
    CHECK(lookup_str(p, "2001:db8:fa::1", name, sizeof(name)) == 0);
    /* the range given back is live again */
    vr_fakeip_configure(p, &r4, NULL, 1, 100);
    CHECK(strcmp(assign_str(p, "c.example", AF_INET), "198.51.100.1") == 0);
    /* a lower cap drops what lies above it */
    for (int i = 0; i < 40; i++) {
        char n[32];
        snprintf(n, sizeof(n), "cap%d.example", i);
        assign_str(p, n, AF_INET);
    }
    vr_fakeip_configure(p, &r4, NULL, 1, 16);
    struct vr_fakeip_stats st;
    vr_fakeip_get_stats(p, &st);
    CHECK(st.mappings4 == 16 && st.capacity4 == 16);
    CHECK(lookup_str(p, "198.51.100.20", name, sizeof(name)) == 0);
    for (int i = 0; i < 40; i++) {
        char n[32];
        snprintf(n, sizeof(n), "again%d.example", i);
        const char *s = assign_str(p, n, AF_INET);
        struct in_addr ia;
        inet_pton(AF_INET, s, &ia);
        CHECK(((const uint8_t *)&ia)[3] >= 1 && ((const uint8_t *)&ia)[3] <= 16);
    }
    vr_fakeip_destroy(p);
}

static void test_persist_round_trip(void)
{
    const char *path = tmp_path("fakeip.db");
    struct vr_fakeip_pool *p = pool_new("198.51.100.0/24", "2001:db8:fa::/64", 16);
    for (int i = 0; i < 20; i++) {
        char n[32];
        snprintf(n, sizeof(n), "h%d.example", i);
        assign_str(p, n, AF_INET);
    }
    assign_str(p, "v6.example", AF_INET6);
    char name[256];
    CHECK(lookup_str(p, "198.51.100.6", name, sizeof(name)) == 1); /* h5 -> recently used */
    uint64_t changes = 0;
    const char *why = "";
    CHECK(vr_fakeip_save(p, path, &changes, &why) == 0);
    CHECK(changes == vr_fakeip_changes(p));
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK(access(tmp_path("fakeip.db.tmp"), F_OK) != 0); /* renamed, nothing left beside it */

    struct vr_fakeip_pool *q = pool_new("198.51.100.0/24", "2001:db8:fa::/64", 16);
    size_t skipped = 99;
    char err[256] = "";
    CHECK(vr_fakeip_load(q, path, &skipped, err, sizeof(err)) == 17);
    CHECK(skipped == 0);
    int same = 0;
    for (int i = 1; i <= 16; i++) {
        char ip[32], n1[256], n2[256];
        snprintf(ip, sizeof(ip), "198.51.100.%d", i);
        int a = lookup_str(p, ip, n1, sizeof(n1)), b = lookup_str(q, ip, n2, sizeof(n2));
        same += a == 1 && b == 1 && strcmp(n1, n2) == 0;
    }
    CHECK(same == 16);
    CHECK(lookup_str(q, "2001:db8:fa::1", name, sizeof(name)) == 1 && strcmp(name, "v6.example") == 0);
    /* the LRU order came back too: a new name takes the least recently used
     * one in both pools */
    CHECK(strcmp(assign_str(p, "next.example", AF_INET), assign_str(q, "next.example", AF_INET)) == 0);
    /* a name assigned again keeps its loaded address */
    CHECK(strcmp(assign_str(q, "h19.example", AF_INET), assign_str(p, "h19.example", AF_INET)) == 0);
    vr_fakeip_destroy(q);

    /* loaded into another range: those mappings are skipped, counted */
    q = pool_new("203.0.113.0/24", "2001:db8:fa::/64", 16);
    CHECK(vr_fakeip_load(q, path, &skipped, err, sizeof(err)) == 1 && skipped == 16);
    vr_fakeip_destroy(q);

    /* a missing file is an empty pool, not an error */
    q = pool_new("198.51.100.0/24", NULL, 16);
    CHECK(vr_fakeip_load(q, tmp_path("absent.db"), &skipped, err, sizeof(err)) == 0);
    vr_fakeip_destroy(q);

    /* a save into a directory that does not exist fails with why */
    CHECK(vr_fakeip_save(p, tmp_path("no/such/dir.db"), &changes, &why) < 0 && strcmp(why, "create the temp file") == 0);
    vr_fakeip_destroy(p);
}

static void expect_corrupt(const char *file, const char *text, const char *line_and_why)
{
    const char *path = tmp_path(file);
    write_file(path, text);
    struct vr_fakeip_pool *p = pool_new("198.51.100.0/24", "2001:db8:fa::/64", 100);
    size_t skipped;
    char err[512] = "";
    CHECK(vr_fakeip_load(p, path, &skipped, err, sizeof(err)) == -EINVAL);
    CHECK_STR_CONTAINS(err, line_and_why);
    CHECK_STR_CONTAINS(err, path);
    struct vr_fakeip_stats st;
    vr_fakeip_get_stats(p, &st);
    CHECK(st.mappings4 == 0 && st.mappings6 == 0); /* nothing half-loaded */
    char aside[PATH_MAX + 80];
    snprintf(aside, sizeof(aside), "%s.corrupt", path);
    CHECK(access(aside, F_OK) == 0 && access(path, F_OK) != 0);
    /* the pool works after it */
    CHECK(strcmp(assign_str(p, "ok.example", AF_INET), "198.51.100.1") == 0);
    vr_fakeip_destroy(p);
}

static void test_corrupt(void)
{
    expect_corrupt("c1.db", "# vrouterd fakeip v1\n198.51.100.1 a.example\njust-one-word\n",
                   ":3: expected \"ADDRESS NAME\"");
    expect_corrupt("c2.db", "# vrouterd fakeip v1\n198.51.100.1 a.example\n198.51.1OO.2 b.example\n",
                   ":3: not an IPv4 or IPv6 address");
    expect_corrupt("c3.db", "# vrouterd fakeip v1\n198.51.100.1 A.Example\n", ":2: not a normalised domain name");
    expect_corrupt("c4.db", "# vrouterd fakeip v1\n198.51.100.1 a.example\n198.51.100.2 a.example\n",
                   ":3: the address or the name is mapped twice");
    expect_corrupt("c5.db", "# vrouterd fakeip v1\n198.51.100.1 a.example\n198.51.100.2 b.exa", ":3: the last line is cut short");
    expect_corrupt("c6.db", "\x7f" "ELF garbage\n", ":1: not a vrouterd FakeIP file");
    expect_corrupt("c7.db", "", "the file is empty");
}

static void test_config(void)
{
    const char *base = "listeners = ( { tag = \"tp\"; port = 7893; sniff_override = true; } );\n"
                       "outbounds = ( { tag = \"direct\"; module = \"direct\"; } );\n";
    char text[2048];
    snprintf(text, sizeof(text), "%sdns = {\n  upstreams = ( { tag = \"lan\"; address = \"udp://198.19.2.2:53\"; } );\n  fakeip = { range = \"198.51.100.0/24\"; range6 = \"2001:db8:fa::/64\";\n"
                                 "    ttl = 5; persist = \"fakeip.db\"; max_mappings = 1000; persist_interval_s = 2; };\n};\n",
             base);
    write_file(tmp_path("good.conf"), text);
    struct vr_config *c = vr_config_load(tmp_path("good.conf"));
    CHECK(c && c->errs.n == 0 && c->fakeip != NULL);
    if (c && c->fakeip) {
        CHECK(c->fakeip->range4.family == AF_INET && c->fakeip->range4.prefix == 24);
        CHECK(c->fakeip->range6.family == AF_INET6 && c->fakeip->range6.prefix == 64);
        CHECK(c->fakeip->ttl == 5 && c->fakeip->max_mappings == 1000 && c->fakeip->persist_interval_s == 2);
        CHECK(c->fakeip->persist && strcmp(c->fakeip->persist, tmp_path("fakeip.db")) == 0);
        CHECK(c->n_listeners == 1 && c->listeners[0].sniff_override);
    }
    vr_config_free(c);

    static const struct {
        const char *group, *needle;
    } bad[] = {
        {"fakeip = { range = \"198.51.100.5/24\"; };", "fakeip: range: \"198.51.100.5/24\" is not a CIDR"},
        {"fakeip = { range = \"2001:db8:fa::/64\"; };", "is not an IPv4 prefix (IPv6 goes into range6)"},
        {"fakeip = { range = \"198.51.100.0/30\"; };", "/30 is out of range (expected a prefix of /8 to /28"},
        {"fakeip = { range6 = \"2001:db8:fa::/126\"; };", "/126 is out of range"},
        {"fakeip = { ttl = 5; };", "neither 'range' nor 'range6' is set"},
        {"fakeip = { range = \"198.51.100.0/24\"; ttl = -1; };", "ttl: -1 is out of range"},
        {"fakeip = { range = \"198.51.100.0/24\"; max_mappings = 3; };", "max_mappings: 3 is out of range"},
        {"fakeip = { range = \"198.51.100.0/24\"; persist = \"\"; };", "persist: an empty path"},
        {"fakeip = { range = 7; };", "range"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "%sdns = { upstreams = ( { tag = \"lan\"; address = \"udp://198.19.2.2:53\"; } );\n  %s\n};\n", base, bad[i].group);
        write_file(tmp_path("bad.conf"), text);
        c = vr_config_load(tmp_path("bad.conf"));
        CHECK(c && c->errs.n >= 1);
        if (c && c->errs.n >= 1) {
            char where[PATH_MAX + 16];
            snprintf(where, sizeof(where), "bad.conf:4:");
            CHECK_STR_CONTAINS(c->errs.msgs[0], where);
            CHECK_STR_CONTAINS(c->errs.msgs[0], bad[i].needle);
        }
        vr_config_free(c);
    }
    /* the kernel fast path captures the fake ranges before any rule: an
     * address rule over them, or a direct final, must not decide in the kernel */
    snprintf(text, sizeof(text),
             "daemon = { offload = true; };\n%sdns = { upstreams = ( { tag = \"lan\"; address = \"udp://198.19.2.2:53\"; } ); fakeip = { range = \"198.51.100.0/24\"; range6 = \"2001:db8:fa::/64\"; }; };\n"
             "route = { rules = ( { ip_cidr = [\"198.51.100.0/24\"]; action = \"reject\"; } ); final = \"direct\"; };\n",
             base);
    write_file(tmp_path("offload.conf"), text);
    c = vr_config_load(tmp_path("offload.conf"));
    CHECK(c && c->errs.n == 0);
    char *plan = NULL;
    CHECK(c && vr_offload_nft(c, "tp", &plan) == 0 && plan != NULL);
    if (plan) {
        const char *v4 = strstr(plan, "ip daddr 198.51.100.0/24 counter return comment \"fakeip: captured\"");
        const char *v6 = strstr(plan, "ip6 daddr 2001:db8:fa::/64 counter return comment \"fakeip: captured\"");
        const char *rule1 = strstr(plan, "rule #1");
        CHECK(v4 != NULL && v6 != NULL && rule1 != NULL && v4 < rule1 && v6 < rule1);
        if (!(v4 && v6 && rule1))
            fprintf(stderr, "%s\n", plan);
    }
    free(plan);
    vr_config_free(c);

    /* no dns block: no pool config */
    write_file(tmp_path("none.conf"), base);
    c = vr_config_load(tmp_path("none.conf"));
    CHECK(c && c->errs.n == 0 && c->fakeip == NULL);
    vr_config_free(c);
}

/* Threads assign and look up over a small pool at once: every answer is
 * consistent (an address found maps to a name of the set), nothing races
 * (TSan), and the maps agree at the end. */
#define THREADS 4
#define NAMES 300
#define ROUNDS 20000

static struct vr_fakeip_pool *shared;

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    long bad = 0;
    for (int i = 0; i < ROUNDS; i++) {
        char n[32], got[256];
        int k = (int)(rand_r(&seed) % NAMES);
        snprintf(n, sizeof(n), "t%d.example", k);
        int family = (i & 1) ? AF_INET : AF_INET6;
        uint8_t a[16];
        if (vr_fakeip_assign(shared, n, family, a) != 0) {
            bad++;
            continue;
        }
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        if (family == AF_INET) {
            ss.ss_family = AF_INET;
            memcpy(&((struct sockaddr_in *)&ss)->sin_addr, a, 4);
        } else {
            ss.ss_family = AF_INET6;
            memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, a, 16);
        }
        int r = (i % 3 == 0) ? vr_fakeip_lookup_pin(shared, (struct sockaddr *)&ss, got, sizeof(got))
                             : vr_fakeip_lookup(shared, (struct sockaddr *)&ss, got, sizeof(got));
        if (r < 0 || (r == 1 && strncmp(got, "t", 1) != 0))
            bad++;
        if (i % 3 == 0 && r == 1)
            vr_fakeip_unpin(shared, (struct sockaddr *)&ss, got);
    }
    return (void *)bad;
}

static void test_threads(void)
{
    shared = pool_new("198.51.100.0/24", "2001:db8:fa::/64", 64);
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(i + 1));
    long bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    CHECK(bad == 0);
    /* consistent at rest: each live name's address maps back to it */
    struct vr_fakeip_stats st;
    vr_fakeip_get_stats(shared, &st);
    CHECK(st.mappings4 == 64 && st.mappings6 == 64);
    int agree = 0;
    for (int k = 0; k < NAMES; k++) {
        char n[32], got[256];
        snprintf(n, sizeof(n), "t%d.example", k);
        uint8_t a[4];
        vr_fakeip_assign(shared, n, AF_INET, a);
        struct sockaddr_in s = {.sin_family = AF_INET};
        memcpy(&s.sin_addr, a, 4);
        agree += vr_fakeip_lookup(shared, (struct sockaddr *)&s, got, sizeof(got)) == 1 && strcmp(got, n) == 0;
    }
    CHECK(agree == NAMES);
    vr_fakeip_destroy(shared);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vr-fakeip-unit.XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    test_assign_lookup();
    test_small_range();
    test_lru_recycling();
    test_pinned_recycled_last();
    test_range_change();
    test_persist_round_trip();
    test_corrupt();
    test_config();
    test_threads();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return vr_test_report();
}
