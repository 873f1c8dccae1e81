/*
 * unit.sniff_tls: the TLS ClientHello parser on real hellos captured from
 * the clients on this machine (the committed corpus, and a fresh capture
 * when the clients are installed) and on synthetic hellos, plus the built
 * tls.so through its ops table.
 *
 * usage: test_sniff_tls --module tls.so --corpus DIR [--capture SCRIPT]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_plugin.h>

#include "vr_sniff_name.h"
#include "vr_test.h"
#include "vr_test_corpus.h"
#include "vr_tls_parse.h"

#define BIG (VR_TLS_WIRE_MAX * 8)

static const struct vr_sniffer_ops *tls_ops;

/* ---- helpers ------------------------------------------------------------ */

static int parse(const uint8_t *d, size_t n, struct vr_tls_hello *h)
{
    return vr_tls_parse_client_hello(d, n, h);
}

/* Feeds every prefix: MORE strictly before the end of the hello, FOUND from
 * there on, the same name each time. Returns 0 when all held. */
static int check_prefixes(const uint8_t *d, size_t n, const char *domain)
{
    struct vr_tls_hello h;
    int st = parse(d, n, &h);
    if (st != VR_SNIFF_FOUND)
        return -1;
    size_t end = h.wire_len;
    for (size_t i = 0; i < n; i++) {
        st = parse(d, i, &h);
        if (i < end && st != VR_SNIFF_MORE) {
            fprintf(stderr, "prefix %zu of %zu (hello ends at %zu): status %d\n", i, n, end, st);
            return -1;
        }
        if (i >= end && (st != VR_SNIFF_FOUND || strcmp(h.sni, domain) != 0))
            return -1;
    }
    return 0;
}

/* Checks one <name>.bin of a corpus against its .expect (domain=, alpn=,
 * records=). */
static int check_corpus_file(const char *path, const char *expect, const char *name, void *arg)
{
    char domain[300], alpn[100], records[32];
    size_t len;
    (void)name;
    (void)arg;
    CHECK(vr_test_read_expect(expect, "domain", domain, sizeof(domain)) == 0);
    vr_test_read_expect(expect, "alpn", alpn, sizeof(alpn));
    vr_test_read_expect(expect, "records", records, sizeof(records));
    uint8_t *buf = vr_test_read_file(path, BIG, &len);
    CHECK(buf != NULL);
    if (buf == NULL)
        return -1;
    struct vr_tls_hello h;
    int st = parse(buf, len, &h);
    CHECK(st == VR_SNIFF_FOUND);
    if (st != VR_SNIFF_FOUND || strcmp(h.sni, domain) != 0 || strcmp(h.alpn, alpn) != 0)
        fprintf(stderr, "%s: status %d sni '%s' (want '%s') alpn '%s' (want '%s')\n", path, st,
                h.sni, domain, h.alpn, alpn);
    CHECK(strcmp(h.sni, domain) == 0);
    CHECK(strcmp(h.alpn, alpn) == 0);
    CHECK(h.records >= (size_t)atoi(records));
    CHECK(h.wire_len <= len);
    CHECK(check_prefixes(buf, len, domain) == 0);
    /* Through the module, as the host calls it. */
    struct vr_sniff_out out = {.size = sizeof(out)};
    CHECK(tls_ops->sniff(NULL, buf, len, &out) == VR_SNIFF_FOUND);
    CHECK(strcmp(out.domain, domain) == 0 && strcmp(out.protocol, "tls") == 0 &&
          strcmp(out.alpn, alpn) == 0);
    free(buf);
    return 0;
}

/* Checks every <name>.bin of dir against <name>.expect; returns how many. */
static int check_corpus(const char *dir)
{
    return vr_test_corpus_each(dir, check_corpus_file, NULL);
}

/* ---- a ClientHello builder --------------------------------------------- */

struct spec {
    const char *sni;     /* NULL: no server_name extension */
    const char *alpn;    /* comma-separated; NULL: no ALPN */
    size_t pad;          /* a padding extension with this many bytes, 0: none */
    size_t key_share;    /* a key_share with one share of this size, 0: none */
    int ech;             /* an encrypted_client_hello extension */
    int no_ext;          /* no extensions block at all */
    size_t frag;         /* record payload size; 0: one record */
};

struct wbuf {
    uint8_t *b;
    size_t n;
};

static void put8(struct wbuf *w, unsigned v) { w->b[w->n++] = (uint8_t)v; }
static void put16(struct wbuf *w, unsigned v) { put8(w, v >> 8); put8(w, v); }
static void put24(struct wbuf *w, size_t v) { put8(w, (unsigned)(v >> 16)); put16(w, (unsigned)v); }
static void putn(struct wbuf *w, const void *p, size_t n) { memcpy(w->b + w->n, p, n); w->n += n; }
static void putfill(struct wbuf *w, uint8_t c, size_t n) { memset(w->b + w->n, c, n); w->n += n; }
/* Back-patches a 16-bit length at mark for everything written after it. */
static void patch16(struct wbuf *w, size_t mark) {
    size_t l = w->n - mark - 2;
    w->b[mark] = (uint8_t)(l >> 8);
    w->b[mark + 1] = (uint8_t)l;
}

/* Builds the handshake message (header included) into m. */
static size_t build_msg(uint8_t *m, const struct spec *s)
{
    struct wbuf w = {m, 0};
    put8(&w, 1);
    put24(&w, 0);
    put16(&w, 0x0303);
    putfill(&w, 0xab, 32);
    put8(&w, 32);
    putfill(&w, 0xcd, 32);
    put16(&w, 6);
    put16(&w, 0x1301); put16(&w, 0x1302); put16(&w, 0xc02f);
    put8(&w, 1); put8(&w, 0);
    if (!s->no_ext) {
        size_t exts = w.n;
        put16(&w, 0);
        put16(&w, 0x0a0a); put16(&w, 0); /* GREASE */
        if (s->sni != NULL) {
            size_t l = strlen(s->sni);
            put16(&w, 0); put16(&w, (unsigned)l + 5);
            put16(&w, (unsigned)l + 3); put8(&w, 0); put16(&w, (unsigned)l);
            putn(&w, s->sni, l);
        }
        put16(&w, 0x002b); put16(&w, 5); put8(&w, 4); put16(&w, 0x0304); put16(&w, 0x0303);
        if (s->key_share) {
            put16(&w, 0x0033); put16(&w, (unsigned)s->key_share + 6);
            put16(&w, (unsigned)s->key_share + 4); put16(&w, 0x11ec);
            put16(&w, (unsigned)s->key_share); putfill(&w, 0x5a, s->key_share);
        }
        if (s->alpn != NULL) {
            put16(&w, 0x0010);
            size_t mark = w.n;
            put16(&w, 0);
            size_t list = w.n;
            put16(&w, 0);
            const char *p = s->alpn;
            while (*p) {
                size_t l = strcspn(p, ",");
                put8(&w, (unsigned)l);
                putn(&w, p, l);
                p += l + (p[l] == ',');
            }
            patch16(&w, list);
            patch16(&w, mark);
        }
        if (s->ech) {
            /* outer ECH: type 0, cipher suite, config id, enc, payload */
            put16(&w, VR_TLS_EXT_ECH);
            size_t mark = w.n;
            put16(&w, 0);
            put8(&w, 0); put16(&w, 1); put16(&w, 1); put8(&w, 0x42);
            put16(&w, 32); putfill(&w, 0x11, 32);
            put16(&w, 200); putfill(&w, 0x22, 200);
            patch16(&w, mark);
        }
        if (s->pad) {
            put16(&w, 0x0015); put16(&w, (unsigned)s->pad); putfill(&w, 0, s->pad);
        }
        patch16(&w, exts);
    }
    size_t body = w.n - 4;
    m[1] = (uint8_t)(body >> 16); m[2] = (uint8_t)(body >> 8); m[3] = (uint8_t)body;
    return w.n;
}

/* Wraps msg[0..n) in records of at most frag bytes (0: one record, if it
 * fits). Returns the stream length. */
static size_t wrap_records(uint8_t *out, const uint8_t *msg, size_t n, size_t frag)
{
    struct wbuf w = {out, 0};
    if (frag == 0)
        frag = 16384;
    for (size_t off = 0; off < n; off += frag) {
        size_t l = n - off < frag ? n - off : frag;
        put8(&w, 0x16); put16(&w, 0x0301); put16(&w, (unsigned)l);
        putn(&w, msg + off, l);
    }
    return w.n;
}

static size_t build(uint8_t *out, const struct spec *s)
{
    static uint8_t msg[BIG];
    size_t n = build_msg(msg, s);
    return wrap_records(out, msg, n, s->frag);
}

/* ---- synthetic cases ---------------------------------------------------- */

static uint8_t b[BIG];
static struct vr_tls_hello h;

static void test_basic(void)
{
    struct spec s = {.sni = "WWW.Example.COM.", .alpn = "h2,http/1.1"};
    size_t n = build(b, &s);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND);
    CHECK(strcmp(h.sni, "www.example.com") == 0);
    CHECK(strcmp(h.alpn, "h2") == 0);
    CHECK(h.offers_tls13 && !h.has_ech && h.records == 1 && h.wire_len == n);
    CHECK(check_prefixes(b, n, "www.example.com") == 0);
    /* Bytes after the hello (early data, a second flight) change nothing. */
    memset(b + n, 0x17, 100);
    CHECK(parse(b, n + 100, &h) == VR_SNIFF_FOUND && strcmp(h.sni, "www.example.com") == 0);
}

static void test_records(void)
{
    static const size_t frags[] = {1, 2, 3, 4, 5, 7, 31, 64, 100, 255, 512};
    struct spec s = {.sni = "split.example", .alpn = "http/1.1", .key_share = 1216};
    for (size_t i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
        s.frag = frags[i];
        size_t n = build(b, &s);
        int st = parse(b, n, &h);
        if (n <= VR_TLS_WIRE_MAX) {
            CHECK(st == VR_SNIFF_FOUND && strcmp(h.sni, "split.example") == 0);
            CHECK(strcmp(h.alpn, "http/1.1") == 0);
            CHECK(h.records > 1 && h.wire_len == n);
            if (frags[i] >= 64) /* the 1-byte feed over every prefix is quadratic */
                CHECK(check_prefixes(b, n, "split.example") == 0);
        } else {
            /* A 1.4 KB hello in 1..3-byte records is more record headers
             * than we accept. */
            CHECK(st == VR_SNIFF_INVALID);
        }
    }
    /* A small hello in 1-byte records still fits the budget. */
    struct spec small = {.sni = "a.example", .frag = 1};
    size_t n = build(b, &small);
    CHECK(n < VR_TLS_WIRE_MAX);
    CHECK(check_prefixes(b, n, "a.example") == 0);
    /* Another content type in the middle of the hello. */
    struct spec two = {.sni = "a.example", .frag = 40};
    n = build(b, &two);
    b[45] = 0x15;
    CHECK(parse(b, n, &h) == VR_SNIFF_INVALID);
    CHECK(parse(b, 45, &h) == VR_SNIFF_MORE);
}

static void test_sizes(void)
{
    /* Chromium-like: a 1216-byte post-quantum key share, ~1.7 KB. */
    struct spec s = {.sni = "pq.example", .alpn = "h2", .key_share = 1216, .pad = 300};
    size_t n = build(b, &s);
    CHECK(n > 1500 && parse(b, n, &h) == VR_SNIFF_FOUND && strcmp(h.sni, "pq.example") == 0);
    /* The biggest hello we accept: exactly VR_TLS_HELLO_MAX, two records. */
    static uint8_t m[BIG];
    struct spec big = {.sni = "big.example", .pad = 0};
    size_t base = build_msg(m, &big);
    big.pad = VR_TLS_HELLO_MAX - base - 4;
    size_t mlen = build_msg(m, &big);
    CHECK(mlen == VR_TLS_HELLO_MAX);
    n = wrap_records(b, m, mlen, 0);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND && strcmp(h.sni, "big.example") == 0);
    CHECK(h.records == 1 + (mlen > 16384));
    CHECK(check_prefixes(b, n, "big.example") == 0);
    /* One byte more: INVALID, decided from the handshake header alone. */
    big.pad++;
    mlen = build_msg(m, &big);
    n = wrap_records(b, m, mlen, 0);
    CHECK(parse(b, n, &h) == VR_SNIFF_INVALID);
    CHECK(parse(b, 9, &h) == VR_SNIFF_INVALID);
    CHECK(parse(b, 8, &h) == VR_SNIFF_MORE);
    /* A huge extension (60 KB claimed) inside a normal hello: INVALID. */
    big.pad = 60000;
    mlen = build_msg(m, &big);
    n = wrap_records(b, m, mlen, 0);
    CHECK(parse(b, n, &h) == VR_SNIFF_INVALID);
}

static void test_ech(void)
{
    struct spec s = {.sni = "public.example", .alpn = "h2", .ech = 1};
    size_t n = build(b, &s);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND);
    CHECK(h.has_ech && strcmp(h.sni, "public.example") == 0);
    CHECK(check_prefixes(b, n, "public.example") == 0);
}

static void test_not_mine(void)
{
    /* SSLv2-compatible ClientHello (2-byte header with the high bit set). */
    static const uint8_t v2[] = {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10};
    CHECK(parse(v2, sizeof(v2), &h) == VR_SNIFF_NOT_MINE);
    CHECK(parse(v2, 1, &h) == VR_SNIFF_NOT_MINE);
    CHECK(parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &h) == VR_SNIFF_NOT_MINE);
    CHECK(parse((const uint8_t *)"G", 1, &h) == VR_SNIFF_NOT_MINE);
    CHECK(parse((const uint8_t *)"SSH-2.0-OpenSSH_9.2\r\n", 21, &h) == VR_SNIFF_NOT_MINE);
    static const uint8_t wrong_major[] = {0x16, 0x02, 0x00};
    CHECK(parse(wrong_major, 2, &h) == VR_SNIFF_NOT_MINE);
    static const uint8_t wrong_minor[] = {0x16, 0x03, 0x05};
    CHECK(parse(wrong_minor, 3, &h) == VR_SNIFF_NOT_MINE);
    CHECK(parse(b, 0, &h) == VR_SNIFF_MORE);
    static const uint8_t one[] = {0x16};
    CHECK(parse(one, 1, &h) == VR_SNIFF_MORE);
}

/* Builds the basic hello and lets fn damage it; expects INVALID. */
static void expect_invalid(const char *what, void (*fn)(uint8_t *msg, size_t *n))
{
    static uint8_t m[BIG];
    struct spec s = {.sni = "x.example", .alpn = "h2"};
    size_t mlen = build_msg(m, &s);
    fn(m, &mlen);
    size_t n = wrap_records(b, m, mlen, 0);
    int st = parse(b, n, &h);
    if (st != VR_SNIFF_INVALID)
        fprintf(stderr, "%s: status %d\n", what, st);
    CHECK(st == VR_SNIFF_INVALID);
}

/* Offsets in the basic hello built by build_msg (header 4, version 2,
 * random 32, sid 1+32, suites 2+6, compression 2): extensions at 81. */
#define EXT_AT 81
static void damage_type(uint8_t *m, size_t *n) { (void)n; m[0] = 2; }
static void damage_sid(uint8_t *m, size_t *n) { (void)n; m[38] = 33; }
static void damage_suites(uint8_t *m, size_t *n) { (void)n; m[72] = 5; }
static void damage_ext_total(uint8_t *m, size_t *n) { (void)n; m[EXT_AT + 1]++; }
static void damage_ext_short(uint8_t *m, size_t *n) { (void)n; m[EXT_AT + 1]--; }
static void damage_trailing(uint8_t *m, size_t *n)
{
    m[*n] = 0; (*n)++;
    size_t body = *n - 4;
    m[1] = (uint8_t)(body >> 16); m[2] = (uint8_t)(body >> 8); m[3] = (uint8_t)body;
}
/* The SNI extension follows the 4-byte GREASE one. */
static void damage_sni_list(uint8_t *m, size_t *n) { (void)n; m[EXT_AT + 2 + 4 + 5]++; }
static void damage_sni_name(uint8_t *m, size_t *n) { (void)n; m[EXT_AT + 2 + 4 + 8]++; }
static void damage_sni_ext(uint8_t *m, size_t *n) { (void)n; m[EXT_AT + 2 + 4 + 3] += 50; }
static void damage_version(uint8_t *m, size_t *n) { (void)n; m[4] = 2; }
static void damage_dup_sni(uint8_t *m, size_t *n)
{
    /* Append a second server_name extension. */
    static const uint8_t ext[] = {0, 0, 0, 8, 0, 6, 0, 0, 3, 'a', '.', 'b'};
    memcpy(m + *n, ext, sizeof(ext));
    *n += sizeof(ext);
    size_t body = *n - 4, exts = *n - EXT_AT - 2;
    m[1] = (uint8_t)(body >> 16); m[2] = (uint8_t)(body >> 8); m[3] = (uint8_t)body;
    m[EXT_AT] = (uint8_t)(exts >> 8); m[EXT_AT + 1] = (uint8_t)exts;
}

static void test_wrong_lengths(void)
{
    expect_invalid("handshake type", damage_type);
    expect_invalid("session id length", damage_sid);
    expect_invalid("odd cipher suites", damage_suites);
    expect_invalid("extensions length too long", damage_ext_total);
    expect_invalid("extensions length too short", damage_ext_short);
    expect_invalid("trailing byte", damage_trailing);
    expect_invalid("sni list length", damage_sni_list);
    expect_invalid("sni name length", damage_sni_name);
    expect_invalid("sni extension length", damage_sni_ext);
    expect_invalid("client version", damage_version);
    expect_invalid("duplicate sni", damage_dup_sni);

    /* Record layer: zero length, over 2^14. */
    struct spec s = {.sni = "x.example"};
    size_t n = build(b, &s);
    b[3] = 0; b[4] = 0;
    CHECK(parse(b, n, &h) == VR_SNIFF_INVALID);
    b[3] = 0x40; b[4] = 0x01;
    CHECK(parse(b, n, &h) == VR_SNIFF_INVALID);
    /* Handshake length shorter than the record: parsed up to its end and
     * the body is then malformed. */
    n = build(b, &s);
    b[8] -= 10;
    CHECK(parse(b, n, &h) == VR_SNIFF_INVALID);
}

static void test_names(void)
{
    static const struct { const char *sni, *want; } cases[] = {
        {"Example.ORG", "example.org"},
        {"a_b.example.", "a_b.example"},
        {"xn--bcher-kva.example", "xn--bcher-kva.example"},
        {"1.2.3.4", ""},
        {"198.51.100.7.", ""},
        {"::1", ""},
        {"[2001:db8::1]", ""},
        {"bad name.example", ""},
        {"-lead.example", ""},
        {"trail-.example", ""},
        {"a..b", ""},
        {".", ""},
        {"ex\xc3\xa4mple.example", ""},
        {"a.b\x01", ""},
        {"localhost", "localhost"},
        {"123.example", "123.example"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct spec s = {.sni = cases[i].sni};
        size_t n = build(b, &s);
        CHECK(parse(b, n, &h) == VR_SNIFF_FOUND);
        if (strcmp(h.sni, cases[i].want) != 0)
            fprintf(stderr, "sni '%s': got '%s', want '%s'\n", cases[i].sni, h.sni, cases[i].want);
        CHECK(strcmp(h.sni, cases[i].want) == 0);
        CHECK(h.has_sni);
    }
    /* 63-character label is fine, 64 is not; 253 characters fine, 254 not. */
    char name[400];
    memset(name, 'a', 63); strcpy(name + 63, ".example");
    struct spec s = {.sni = name};
    size_t n = build(b, &s);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND && strcmp(h.sni, name) == 0);
    memset(name, 'a', 64); strcpy(name + 64, ".example");
    n = build(b, &s);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND && h.sni[0] == '\0');
    for (int i = 0; i < 252; i += 2) { name[i] = 'b'; name[i + 1] = '.'; }
    strcpy(name + 252, "c");
    n = build(b, &s);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND && strlen(h.sni) == 253);
    strcpy(name + 252, "cc");
    n = build(b, &s);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND && h.sni[0] == '\0');
    /* No SNI, no extensions at all. */
    struct spec none = {.alpn = "h2"};
    n = build(b, &none);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND && !h.has_sni && h.sni[0] == '\0');
    struct spec bare = {.no_ext = 1};
    n = build(b, &bare);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND && h.sni[0] == '\0' && h.alpn[0] == '\0');
}

static void test_alpn(void)
{
    char longp[80];
    memset(longp, 'p', 70); longp[70] = '\0';
    struct spec s = {.sni = "a.example", .alpn = longp};
    size_t n = build(b, &s);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND && h.alpn[0] == '\0');
    s.alpn = "h\x01x,h2";
    n = build(b, &s);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND && h.alpn[0] == '\0');
    s.alpn = "http/1.1,h2";
    n = build(b, &s);
    CHECK(parse(b, n, &h) == VR_SNIFF_FOUND && strcmp(h.alpn, "http/1.1") == 0);
    s.alpn = "";
    n = build(b, &s);
    CHECK(parse(b, n, &h) == VR_SNIFF_INVALID); /* an empty protocol list */
}

/* Every single-byte change and every truncation of a real-sized hello:
 * never a crash (ASan watches), and a FOUND domain is always normal. */
static void test_mutations(void)
{
    struct spec s = {.sni = "mut.example", .alpn = "h2", .ech = 1, .frag = 97};
    size_t n = build(b, &s);
    static uint8_t c[BIG];
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
        for (size_t v = 0; v < sizeof(vals); v++) {
            memcpy(c, b, n);
            c[i] = vals[v];
            /* an exact-size heap copy so ASan catches any overread */
            uint8_t *heap = malloc(n);
            memcpy(heap, c, n);
            int st = parse(heap, n, &h);
            if (st == VR_SNIFF_FOUND && h.sni[0] != '\0' && !vr_sniff_name_is_normal(h.sni))
                bad++;
            free(heap);
        }
    }
    CHECK(bad == 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t *heap = malloc(i ? i : 1);
        memcpy(heap, b, i);
        CHECK(parse(heap, i, &h) == VR_SNIFF_MORE);
        free(heap);
    }
}

/* The module as the host sees it: descriptor, ops, and out->size. */
/* ---- the bare handshake message (QUIC CRYPTO frames) ---------------------- */

/* Gathers the handshake message out of the records of a stream hello;
 * returns its length. */
static size_t unwrap_records(const uint8_t *d, size_t n, uint8_t *msg)
{
    size_t off = 0, have = 0;
    while (off + 5 <= n) {
        size_t rlen = ((size_t)d[off + 3] << 8) | d[off + 4];
        if (off + 5 + rlen > n)
            rlen = n - off - 5;
        memcpy(msg + have, d + off + 5, rlen);
        have += rlen;
        off += 5 + rlen;
        if (have >= 4 && have >= 4 + (((size_t)msg[1] << 16) | ((size_t)msg[2] << 8) | msg[3]))
            break;
    }
    return have >= 4 ? 4 + (((size_t)msg[1] << 16) | ((size_t)msg[2] << 8) | msg[3]) : 0;
}

/* vr_tls_parse_handshake on the hellos of the corpus without their record
 * layer: FOUND with the same name and ALPN as the stream parser, MORE on
 * every prefix, bytes after the message ignored. */
static void test_handshake_corpus(const char *dir, const char *file)
{
    char path[4096];
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    uint8_t *buf = vr_test_read_file(path, BIG, &len);
    CHECK(buf != NULL);
    if (buf == NULL)
        return;
    static uint8_t msg[BIG];
    struct vr_tls_hello rec, hs;
    CHECK(parse(buf, len, &rec) == VR_SNIFF_FOUND);
    size_t mlen = unwrap_records(buf, len, msg);
    CHECK(mlen > 40 && mlen <= len);
    CHECK(vr_tls_parse_handshake(msg, mlen, &hs) == VR_SNIFF_FOUND);
    CHECK(strcmp(hs.sni, rec.sni) == 0 && strcmp(hs.alpn, rec.alpn) == 0);
    CHECK(hs.wire_len == mlen && hs.records == 0 && hs.record_version == 0);
    CHECK(hs.legacy_version == rec.legacy_version && hs.offers_tls13 == rec.offers_tls13);
    CHECK(hs.has_alpn == rec.has_alpn && hs.has_quic_tp == 0);
    int bad = 0;
    for (size_t i = 0; i < mlen; i++) {
        uint8_t *heap = malloc(i ? i : 1);
        memcpy(heap, msg, i);
        if (vr_tls_parse_handshake(heap, i, &hs) != VR_SNIFF_MORE)
            bad++;
        free(heap);
    }
    CHECK(bad == 0);
    memset(msg + mlen, 0x17, 100); /* what follows in the CRYPTO stream */
    CHECK(vr_tls_parse_handshake(msg, mlen + 100, &hs) == VR_SNIFF_FOUND &&
          strcmp(hs.sni, rec.sni) == 0 && hs.wire_len == mlen);
    free(buf);
}

static void test_handshake(const char *corpus)
{
    test_handshake_corpus(corpus, "curl_h2.bin");
    test_handshake_corpus(corpus, "openssl_split_records.bin");
    test_handshake_corpus(corpus, "openssl_tls13.bin");

    struct spec s = {.sni = "Bare.Example", .alpn = "h3"};
    static uint8_t m[BIG];
    size_t n = build_msg(m, &s);
    CHECK(vr_tls_parse_handshake(m, n, &h) == VR_SNIFF_FOUND);
    CHECK(strcmp(h.sni, "bare.example") == 0 && strcmp(h.alpn, "h3") == 0 && h.has_alpn &&
          h.offers_tls13 && !h.has_quic_tp);
    /* Nothing yet; not a ClientHello from the first byte (a ServerHello, a
     * record header). */
    CHECK(vr_tls_parse_handshake(m, 0, &h) == VR_SNIFF_MORE);
    m[0] = 2;
    CHECK(vr_tls_parse_handshake(m, 1, &h) == VR_SNIFF_NOT_MINE);
    CHECK(vr_tls_parse_handshake(m, n, &h) == VR_SNIFF_NOT_MINE);
    m[0] = 0x16;
    CHECK(vr_tls_parse_handshake(m, n, &h) == VR_SNIFF_NOT_MINE);
    m[0] = 1;
    /* Over 16 KiB: INVALID from the 4-byte header on. */
    static const uint8_t big[] = {0x01, 0x00, 0x40, 0x00};
    CHECK(vr_tls_parse_handshake(big, 3, &h) == VR_SNIFF_MORE);
    CHECK(vr_tls_parse_handshake(big, 4, &h) == VR_SNIFF_INVALID);
    static const uint8_t fits[] = {0x01, 0x00, 0x3f, 0xfc};
    CHECK(vr_tls_parse_handshake(fits, 4, &h) == VR_SNIFF_MORE);
    /* Malformed body: a session id over 32. */
    m[38] = 33;
    CHECK(vr_tls_parse_handshake(m, n, &h) == VR_SNIFF_INVALID && h.sni[0] == '\0');
    /* Without ALPN; with quic_transport_parameters. */
    struct spec s2 = {.sni = "x.example"};
    n = build_msg(m, &s2);
    CHECK(vr_tls_parse_handshake(m, n, &h) == VR_SNIFF_FOUND && !h.has_alpn && h.alpn[0] == '\0');
    struct spec s3 = {.sni = "x.example", .alpn = "h3", .pad = 1};
    n = build_msg(m, &s3);
    /* turn the padding extension (0x0015) into quic_transport_parameters */
    CHECK(m[n - 5] == 0x00 && m[n - 4] == 0x15);
    m[n - 4] = 0x39;
    CHECK(vr_tls_parse_handshake(m, n, &h) == VR_SNIFF_FOUND && h.has_quic_tp && h.has_alpn);
    /* The stream parser reports the same flags. */
    size_t sn = wrap_records(b, m, n, 0);
    CHECK(parse(b, sn, &h) == VR_SNIFF_FOUND && h.has_quic_tp);
}

static void test_module_out_size(void)
{
    struct spec s = {.sni = "size.example", .alpn = "h2"};
    size_t n = build(b, &s);
    struct vr_sniff_out out;
    memset(&out, 0x5a, sizeof(out));
    out.size = offsetof(struct vr_sniff_out, protocol); /* domain only */
    CHECK(tls_ops->sniff(NULL, b, n, &out) == VR_SNIFF_FOUND);
    CHECK(strcmp(out.domain, "size.example") == 0);
    CHECK((uint8_t)out.protocol[0] == 0x5a && (uint8_t)out.alpn[0] == 0x5a);
    memset(&out, 0x5a, sizeof(out));
    out.size = offsetof(struct vr_sniff_out, alpn);
    CHECK(tls_ops->sniff(NULL, b, n, &out) == VR_SNIFF_FOUND);
    CHECK(strcmp(out.protocol, "tls") == 0 && (uint8_t)out.alpn[0] == 0x5a);
    memset(&out, 0x5a, sizeof(out));
    out.size = sizeof(uint32_t);
    CHECK(tls_ops->sniff(NULL, b, n, &out) == VR_SNIFF_FOUND);
    CHECK((uint8_t)out.domain[0] == 0x5a);
    out.size = sizeof(out);
    CHECK(tls_ops->sniff(NULL, b, 10, &out) == VR_SNIFF_MORE);
    CHECK(tls_ops->sniff(NULL, (const uint8_t *)"EHLO", 4, &out) == VR_SNIFF_NOT_MINE);
}

static int load_module(const char *path)
{
    tls_ops = vr_test_load_sniffer(path, "tls");
    if (tls_ops == NULL)
        return -1;
    CHECK(tls_ops->networks == VR_NET_TCP && tls_ops->sniff != NULL);
    return 0;
}

int main(int argc, char **argv)
{
    const char *module, *corpus, *capture;
    if (vr_test_sniffer_args(argc, argv, "--capture", &module, &corpus, &capture) < 0 || load_module(module) < 0) {
        fprintf(stderr, "usage: %s --module tls.so --corpus DIR [--capture SCRIPT]\n", argv[0]);
        return 2;
    }
    int got = check_corpus(corpus);
    printf("committed corpus: %d hellos checked\n", got);
    CHECK(got >= 5);
    test_basic();
    test_records();
    test_sizes();
    test_ech();
    test_not_mine();
    test_wrong_lengths();
    test_names();
    test_alpn();
    test_mutations();
    test_module_out_size();
    test_handshake(corpus);
    if (capture != NULL)
        vr_test_fresh_capture(capture, "tls", "hellos", check_corpus);
    return vr_test_report();
}
