/* vr_domainset: exact/suffix/keyword matching, label boundaries, case and
 * trailing dots, hostname validation, and a large set with growth. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "vr_domainset.h"
#include "vr_test.h"

static void test_suffix(void)
{
    struct vr_domainset *s = vr_domainset_new();
    CHECK(s != NULL);
    CHECK(!vr_domainset_match(s, "example.com"));
    CHECK(vr_domainset_add(s, "example.com", VR_DOMAIN_SUFFIX) == 0);
    CHECK(vr_domainset_match(s, "example.com"));
    CHECK(vr_domainset_match(s, "a.example.com"));
    CHECK(vr_domainset_match(s, "a.b.c.example.com"));
    CHECK(vr_domainset_match(s, "EXAMPLE.Com"));
    CHECK(vr_domainset_match(s, "www.example.com."));
    CHECK(!vr_domainset_match(s, "badexample.com"));
    CHECK(!vr_domainset_match(s, "a.badexample.com"));
    CHECK(!vr_domainset_match(s, "xample.com"));
    CHECK(!vr_domainset_match(s, "com"));
    CHECK(!vr_domainset_match(s, "example.co"));
    CHECK(!vr_domainset_match(s, "example.com.evil"));
    CHECK(!vr_domainset_match(s, "example.comm"));
    CHECK(!vr_domainset_match(s, ".example.comx"));
    CHECK(!vr_domainset_match(s, ""));
    CHECK(!vr_domainset_match(s, "."));
    CHECK(vr_domainset_count(s) == 1);
    vr_domainset_free(s);
    vr_domainset_free(NULL);
}

static void test_exact(void)
{
    struct vr_domainset *s = vr_domainset_new();
    CHECK(vr_domainset_add(s, "api.example", VR_DOMAIN_EXACT) == 0);
    CHECK(vr_domainset_match(s, "api.example"));
    CHECK(vr_domainset_match(s, "API.Example."));
    CHECK(!vr_domainset_match(s, "x.api.example"));
    CHECK(!vr_domainset_match(s, "example"));
    CHECK(!vr_domainset_match(s, "api.example.net"));
    /* the same name as a suffix as well: one entry, both behaviours */
    CHECK(vr_domainset_add(s, "api.example", VR_DOMAIN_SUFFIX) == 0);
    CHECK(vr_domainset_match(s, "x.api.example"));
    CHECK(vr_domainset_count(s) == 1);
    CHECK(vr_domainset_add(s, "api.example", VR_DOMAIN_EXACT) == 0);
    CHECK(vr_domainset_match(s, "x.api.example"));
    /* an exact parent does not match children */
    CHECK(vr_domainset_add(s, "only.example", VR_DOMAIN_EXACT) == 0);
    CHECK(!vr_domainset_match(s, "a.only.example"));
    CHECK(vr_domainset_count(s) == 2);
    CHECK(vr_domainset_add(s, "x.example", (enum vr_domain_kind)7) == -EINVAL);
    vr_domainset_free(s);
}

static void test_normalised_on_add(void)
{
    struct vr_domainset *s = vr_domainset_new();
    CHECK(vr_domainset_add(s, "Video.EXAMPLE.", VR_DOMAIN_SUFFIX) == 0);
    CHECK(vr_domainset_add(s, "video.example", VR_DOMAIN_SUFFIX) == 0);
    CHECK(vr_domainset_count(s) == 1);
    CHECK(vr_domainset_match(s, "a.video.example"));
    CHECK(vr_domainset_match(s, "VIDEO.example"));
    /* a single-label name and a top-level suffix */
    CHECK(vr_domainset_add(s, "localhost", VR_DOMAIN_EXACT) == 0);
    CHECK(vr_domainset_match(s, "localhost"));
    CHECK(vr_domainset_add(s, "test", VR_DOMAIN_SUFFIX) == 0);
    CHECK(vr_domainset_match(s, "a.b.test"));
    CHECK(!vr_domainset_match(s, "atest"));
    vr_domainset_free(s);
}

static void test_invalid_names(void)
{
    struct vr_domainset *s = vr_domainset_new();
    char l63[64], l64[65], n253[254], n254[255];
    memset(l63, 'a', 63);
    l63[63] = '\0';
    memset(l64, 'a', 64);
    l64[64] = '\0';
    /* 253 = 63 + 1 + 63 + 1 + 63 + 1 + 61 */
    snprintf(n253, sizeof(n253), "%s.%s.%s.%.61s", l63, l63, l63, l63);
    snprintf(n254, sizeof(n254), "%s.%s.%s.%.62s", l63, l63, l63, l63);
    CHECK(strlen(n253) == 253 && strlen(n254) == 254);
    const char *bad[] = {"", ".", "..", "a..b", ".example.com", "-a.com", "a-.com", "a.-b.com", "a b.com",
                         "*.example.com", "exa%mple.com", "1.2.3.4", "example.123", "a/b.com", "a.com..",
                         "ex\xc3\xa4mple.com", l64, n254};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = vr_domainset_add(s, bad[i], VR_DOMAIN_SUFFIX);
        if (r != -EINVAL)
            fprintf(stderr, "accepted bad name \"%s\"\n", bad[i]);
        CHECK(r == -EINVAL);
    }
    CHECK(vr_domainset_count(s) == 0);
    const char *good[] = {l63, n253, "_dmarc.example.com", "xn--bcher-kva.example", "123.example", "a-b.c-d.e",
                          "example.123a", "a.b"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK(vr_domainset_add(s, good[i], VR_DOMAIN_EXACT) == 0);
        CHECK(vr_domainset_match(s, good[i]));
    }
    CHECK(vr_domainset_count(s) == sizeof(good) / sizeof(good[0]));
    /* a 253-character name with its trailing dot still matches */
    char dotted[256];
    snprintf(dotted, sizeof(dotted), "%s.", n253);
    CHECK(vr_domainset_match(s, dotted));
    /* too long to be a name: never matches, never overflows */
    char huge[1000];
    memset(huge, 'a', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    CHECK(!vr_domainset_match(s, huge));
    CHECK(!vr_domainset_match(s, n254));
    vr_domainset_free(s);
}

static void test_normalize_reasons(void)
{
    char out[VR_DOMAIN_MAX + 1];
    const char *why = NULL;
    CHECK(vr_domain_normalize("WWW.Example.COM.", 16, out, &why) == 15);
    CHECK(strcmp(out, "www.example.com") == 0);
    /* length-delimited: the rest of the buffer is not read */
    CHECK(vr_domain_normalize("abc.defXYZ", 7, out, &why) == 7);
    CHECK(strcmp(out, "abc.def") == 0);
    CHECK(vr_domain_normalize("a..b", 4, out, &why) == -EINVAL);
    CHECK_STR_CONTAINS(why, "empty label");
    CHECK(vr_domain_normalize("a\0b.com", 7, out, &why) == -EINVAL);
    CHECK_STR_CONTAINS(why, "NUL");
    CHECK(vr_domain_normalize("*.a.com", 7, out, &why) == -EINVAL);
    CHECK_STR_CONTAINS(why, "wildcard");
    CHECK(vr_domain_normalize("10.0.0.1", 8, out, &why) == -EINVAL);
    CHECK_STR_CONTAINS(why, "IP address");
    CHECK(vr_domain_normalize("a-.b", 4, out, &why) == -EINVAL);
    CHECK_STR_CONTAINS(why, "ends with '-'");
    CHECK(vr_domain_normalize("", 0, out, NULL) == -EINVAL);
}

static void test_keywords(void)
{
    struct vr_domainset *s = vr_domainset_new();
    CHECK(vr_domainset_add(s, "CDN", VR_DOMAIN_KEYWORD) == 0);
    CHECK(vr_domainset_add(s, "cdn", VR_DOMAIN_KEYWORD) == 0);
    CHECK(vr_domainset_add(s, "ads.", VR_DOMAIN_KEYWORD) == 0);
    CHECK(vr_domainset_add(s, "", VR_DOMAIN_KEYWORD) == -EINVAL);
    CHECK(vr_domainset_add(s, "a b", VR_DOMAIN_KEYWORD) == -EINVAL);
    CHECK(vr_domainset_count(s) == 2);
    CHECK(vr_domainset_match(s, "x.cdn.net"));
    CHECK(vr_domainset_match(s, "mycdnhost.com"));
    CHECK(vr_domainset_match(s, "Static.CDN.example."));
    CHECK(vr_domainset_match(s, "ads.example"));
    CHECK(vr_domainset_match(s, "x.loads.example"));
    CHECK(!vr_domainset_match(s, "ads"));
    CHECK(!vr_domainset_match(s, "cd-n.com"));
    CHECK(!vr_domainset_match(s, "example.com"));
    vr_domainset_free(s);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* "<label>.<label>.tld" from [a-m] when member, [n-z] when not, so members
 * and non-members never collide. */
static void random_name(char *out, bool member)
{
    static const char *tlds[] = {"com", "net", "org", "example"};
    int o = 0;
    for (int l = 0; l < 2; l++) {
        int n = 3 + (int)(rnd() % 10);
        for (int i = 0; i < n; i++)
            out[o++] = (char)((member ? 'a' : 'n') + rnd() % 13);
        out[o++] = '.';
    }
    strcpy(out + o, tlds[rnd() % 4]);
}

static void test_large(void)
{
    enum { N = 50000 };
    static char names[N][40];
    struct vr_domainset *s = vr_domainset_new();
    size_t mem0 = vr_domainset_memory(s);
    for (int i = 0; i < N; i++) {
        random_name(names[i], true);
        CHECK(vr_domainset_add(s, names[i], i % 2 ? VR_DOMAIN_EXACT : VR_DOMAIN_SUFFIX) == 0);
    }
    /* random names repeat a little; count is distinct names */
    CHECK(vr_domainset_count(s) > N - 100 && vr_domainset_count(s) <= N);
    CHECK(vr_domainset_memory(s) > mem0);
    int miss = 0, wrong = 0;
    char buf[64], other[40];
    for (int i = 0; i < N; i++) {
        if (!vr_domainset_match(s, names[i]))
            miss++;
        snprintf(buf, sizeof(buf), "www.%.39s", names[i]);
        /* children match suffix entries only (an exact twin may exist) */
        if (i % 2 == 0 && !vr_domainset_match(s, buf))
            miss++;
        random_name(other, false);
        if (vr_domainset_match(s, other))
            wrong++;
    }
    CHECK(miss == 0);
    CHECK(wrong == 0);
    vr_domainset_free(s);
}

int main(void)
{
    test_suffix();
    test_exact();
    test_normalised_on_add();
    test_invalid_names();
    test_normalize_reasons();
    test_keywords();
    test_large();
    return vr_test_report();
}
