/*
 * unit.sniff_dns: the DNS query parser on real queries sent by dig to
 * sockets this test binds on 127.0.0.1 (captured live on every run; dig is
 * required) and on the committed corpus, on hand-built malformed queries,
 * and the built dns.so through its ops table.
 *
 * usage: test_sniff_dns --module dns.so --corpus DIR [--save DIR]
 *   --save DIR  also write the live captures there as corpus files
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <vrouter/vr_plugin.h>

#include "test_dns_dig.h"
#include "vr_dns_parse.h"
#include "vr_sniff_name.h"
#include "vr_test.h"
#include "vr_test_corpus.h"

#define BUFSZ 70000

static const struct vr_sniffer_ops *dns_ops;
static const char *save_dir;

/* ---- helpers ------------------------------------------------------------ */

/* Every prefix of a TCP stream: MORE strictly before the end of the first
 * question, FOUND with domain from there on. Each prefix is an exact-size
 * heap copy so ASan sees any overread. Returns 0 when all held. */
static int check_stream_prefixes(const uint8_t *d, size_t n, const char *domain)
{
    struct vr_dns_query q;
    if (vr_dns_parse_stream(d, n, &q) != VR_SNIFF_FOUND)
        return -1;
    size_t end = VR_DNS_TCP_PREFIX + q.question_end;
    for (size_t i = 0; i <= n; i++) {
        uint8_t *heap = malloc(i ? i : 1);
        memcpy(heap, d, i);
        int st = vr_dns_parse_stream(heap, i, &q);
        free(heap);
        if (i < end && st != VR_SNIFF_MORE) {
            fprintf(stderr, "prefix %zu of %zu (question ends at %zu): status %d\n", i, n, end,
                    st);
            return -1;
        }
        if (i >= end && (st != VR_SNIFF_FOUND || strcmp(q.qname, domain) != 0)) {
            fprintf(stderr, "prefix %zu of %zu: status %d name '%s'\n", i, n, st, q.qname);
            return -1;
        }
    }
    return 0;
}

/* Through the module, as the host calls it. */
static int module_datagram(const uint8_t *d, size_t n, struct vr_sniff_out *out)
{
    struct iovec iov = {.iov_base = (void *)d, .iov_len = n};
    memset(out, 0, sizeof(*out));
    out->size = sizeof(*out);
    return dns_ops->sniff_datagrams(NULL, &iov, 1, out);
}

static int module_stream(const uint8_t *d, size_t n, struct vr_sniff_out *out)
{
    memset(out, 0, sizeof(*out));
    out->size = sizeof(*out);
    return dns_ops->sniff(NULL, d, n, out);
}

/* Checks one captured message (a datagram, or a TCP stream with its length
 * prefix) against the name expected. */
static void check_capture(const char *what, const uint8_t *d, size_t n, int tcp,
                          const char *domain)
{
    struct vr_dns_query q;
    struct vr_sniff_out out;
    int st = tcp ? vr_dns_parse_stream(d, n, &q) : vr_dns_parse_datagram(d, n, &q);
    if (st != VR_SNIFF_FOUND || strcmp(q.qname, domain) != 0)
        fprintf(stderr, "%s: status %d name '%s' (want '%s')\n", what, st, q.qname, domain);
    CHECK(st == VR_SNIFF_FOUND);
    CHECK(strcmp(q.qname, domain) == 0);
    int mst = tcp ? module_stream(d, n, &out) : module_datagram(d, n, &out);
    CHECK(mst == VR_SNIFF_FOUND && strcmp(out.domain, domain) == 0 &&
          strcmp(out.protocol, "dns") == 0 && out.alpn[0] == '\0');
    if (tcp) {
        CHECK(check_stream_prefixes(d, n, domain) == 0);
    } else {
        /* The same message over TCP: prefix it with its length. */
        static uint8_t s[BUFSZ];
        s[0] = (uint8_t)(n >> 8);
        s[1] = (uint8_t)n;
        memcpy(s + 2, d, n);
        CHECK(check_stream_prefixes(s, n + 2, domain) == 0);
    }
}

/* Checks one <name>.bin of a corpus against its .expect (domain=,
 * transport=udp|tcp, qtype=). */
static int check_corpus_file(const char *path, const char *expect, const char *name, void *arg)
{
    char domain[300], transport[16], qtype[16];
    size_t len;
    (void)name;
    (void)arg;
    CHECK(vr_test_read_expect(expect, "domain", domain, sizeof(domain)) == 0);
    vr_test_read_expect(expect, "transport", transport, sizeof(transport));
    vr_test_read_expect(expect, "qtype", qtype, sizeof(qtype));
    CHECK(strcmp(transport, "udp") == 0 || strcmp(transport, "tcp") == 0);
    /* check_capture prefixes a datagram with 2 length bytes in BUFSZ. */
    uint8_t *buf = vr_test_read_file(path, BUFSZ - 2, &len);
    CHECK(buf != NULL);
    if (buf == NULL)
        return -1;
    int tcp = strcmp(transport, "tcp") == 0;
    check_capture(path, buf, len, tcp, domain);
    struct vr_dns_query q;
    if (tcp)
        vr_dns_parse_stream(buf, len, &q);
    else
        vr_dns_parse_datagram(buf, len, &q);
    CHECK(q.qtype == (uint16_t)atoi(qtype));
    free(buf);
    return 0;
}

/* Checks every <name>.bin of dir against <name>.expect; returns how many. */
static int check_corpus(const char *dir)
{
    return vr_test_corpus_each(dir, check_corpus_file, NULL);
}

/* ---- live captures from dig --------------------------------------------- */

static void save_capture(const char *name, const uint8_t *d, size_t n, int tcp,
                         const char *domain, unsigned qtype)
{
    char path[4096];
    if (save_dir == NULL)
        return;
    snprintf(path, sizeof(path), "%s/%s.bin", save_dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    CHECK(fwrite(d, 1, n, f) == n);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.expect", save_dir, name);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fprintf(f, "domain=%s\ntransport=%s\nqtype=%u\n", domain, tcp ? "tcp" : "udp", qtype);
    fclose(f);
}

/* Finds the OPT record (root name, type 41) after the question and says
 * whether it carries a COOKIE option (code 10). -1: no OPT. */
static int opt_has_cookie(const uint8_t *m, size_t n, size_t qend)
{
    for (size_t i = qend; i + 11 <= n; i++) {
        if (m[i] != 0 || m[i + 1] != 0 || m[i + 2] != 41)
            continue;
        size_t rdlen = (size_t)(m[i + 9] << 8 | m[i + 10]), o = i + 11;
        if (o + rdlen > n)
            return -1;
        while (o + 4 <= i + 11 + rdlen) {
            unsigned code = (unsigned)(m[o] << 8 | m[o + 1]);
            size_t ol = (size_t)(m[o + 2] << 8 | m[o + 3]);
            if (code == 10)
                return 1;
            o += 4 + ol;
        }
        return 0;
    }
    return -1;
}

struct dig_case {
    const char *name;          /* corpus file name when saved */
    const char *args[8];
    int tcp;
    const char *domain;        /* expected normalised name */
    unsigned qtype;
    int edns;                  /* 1: OPT with a cookie, 0: no additional record */
};

static const struct dig_case dig_cases[] = {
    {"dig_a", {"www.example.com", "A", NULL}, 0, "www.example.com", 1, 1},
    {"dig_aaaa", {"v6.example.org", "AAAA", NULL}, 0, "v6.example.org", 28, 1},
    {"dig_noedns", {"+noedns", "plain.example.net", "A", NULL}, 0, "plain.example.net", 1, 0},
    {"dig_upper", {"MiXeD.Example.NET.", "MX", NULL}, 0, "mixed.example.net", 15, 1},
    {"dig_srv", {"_sip._udp.example.com", "SRV", NULL}, 0, "_sip._udp.example.com", 33, 1},
    {"dig_ptr", {"-x", "192.0.2.1", NULL}, 0, "1.2.0.192.in-addr.arpa", 12, 1},
    {"dig_root_ns", {".", "NS", NULL}, 0, "", 2, 1},
    {"dig_tcp", {"+tcp", "Tcp.Example.COM", "A", NULL}, 1, "tcp.example.com", 1, 1},
    {"dig_tcp_noedns", {"+tcp", "+noedns", "stream.example", "TXT", NULL}, 1, "stream.example",
     16, 0},
};

static void test_dig_live(void)
{
    int rc = system("dig -v >/dev/null 2>&1");
    if (!(WIFEXITED(rc) && WEXITSTATUS(rc) == 0)) {
        int dig_installed = 0;
        fprintf(stderr, "dig not found: install dnsutils\n");
        CHECK(dig_installed);
        return;
    }
    static uint8_t buf[BUFSZ];
    int got = 0;
    for (size_t i = 0; i < sizeof(dig_cases) / sizeof(dig_cases[0]); i++) {
        const struct dig_case *c = &dig_cases[i];
        ssize_t n = c->tcp ? vr_dns_dig_capture_tcp(c->args, buf, sizeof(buf))
                           : vr_dns_dig_capture_udp(c->args, buf, sizeof(buf));
        if (n <= 0)
            fprintf(stderr, "%s: nothing captured\n", c->name);
        CHECK(n > 0);
        if (n <= 0)
            continue;
        got++;
        check_capture(c->name, buf, (size_t)n, c->tcp, c->domain);
        const uint8_t *m = c->tcp ? buf + 2 : buf;
        size_t mn = c->tcp ? (size_t)n - 2 : (size_t)n;
        struct vr_dns_query q;
        vr_dns_parse_datagram(m, mn, &q);
        CHECK(q.qtype == c->qtype && q.qclass == 1 && q.opcode == VR_DNS_OPCODE_QUERY);
        /* What the case claims dig sent: EDNS with a cookie, or none. */
        if (c->edns) {
            CHECK(q.arcount == 1 && opt_has_cookie(m, mn, q.question_end) == 1);
        } else {
            CHECK(q.arcount == 0 && q.question_end == mn);
        }
        /* The upper-case name really is upper case on the wire. */
        if (strcmp(c->name, "dig_upper") == 0)
            CHECK(memcmp(m + VR_DNS_HEADER_LEN, "\x05MiXeD\x07" "Example\x03NET", 18) == 0);
        save_capture(c->name, buf, (size_t)n, c->tcp, c->domain, c->qtype);
    }
    printf("live dig captures: %d checked\n", got);
}

/* ---- a query builder ---------------------------------------------------- */

struct wbuf {
    uint8_t *b;
    size_t n;
};

static void put8(struct wbuf *w, unsigned v) { w->b[w->n++] = (uint8_t)v; }
static void put16(struct wbuf *w, unsigned v) { put8(w, v >> 8); put8(w, v); }
static void putn(struct wbuf *w, const void *p, size_t n) { memcpy(w->b + w->n, p, n); w->n += n; }

/* Encodes a dotted name ("" or "." is the root) as labels. */
static void put_name(struct wbuf *w, const char *name)
{
    while (*name != '\0') {
        size_t l = strcspn(name, ".");
        if (l > 0) {
            put8(w, (unsigned)l);
            putn(w, name, l);
        }
        name += l + (name[l] == '.');
    }
    put8(w, 0);
}

struct qspec {
    unsigned flags;            /* 16-bit flags word; 0x0100: RD */
    unsigned qd, an, ns, ar;
    const char *name;          /* dotted; NULL: use wire */
    const uint8_t *wire;       /* raw QNAME bytes */
    size_t wire_len;
    unsigned qtype;
    int opt;                   /* append an OPT record (ar counts it) */
};

static size_t build_query(uint8_t *out, const struct qspec *s)
{
    struct wbuf w = {out, 0};
    put16(&w, 0x1234);
    put16(&w, s->flags);
    put16(&w, s->qd); put16(&w, s->an); put16(&w, s->ns); put16(&w, s->ar);
    if (s->name != NULL)
        put_name(&w, s->name);
    else
        putn(&w, s->wire, s->wire_len);
    put16(&w, s->qtype ? s->qtype : 1);
    put16(&w, 1);
    if (s->opt) {
        put8(&w, 0); put16(&w, 41); put16(&w, 1232); put16(&w, 0); put16(&w, 0);
        put16(&w, 0);
    }
    return w.n;
}

/* ---- hand-built cases --------------------------------------------------- */

static uint8_t b[BUFSZ];
static struct vr_dns_query q;

static int dgram(const uint8_t *d, size_t n)
{
    /* an exact-size heap copy so ASan catches any overread */
    uint8_t *heap = malloc(n ? n : 1);
    memcpy(heap, d, n);
    int st = vr_dns_parse_datagram(heap, n, &q);
    free(heap);
    return st;
}

/* The same message over TCP, whole. */
static int stream(const uint8_t *d, size_t n)
{
    static uint8_t s[BUFSZ];
    s[0] = (uint8_t)(n >> 8);
    s[1] = (uint8_t)n;
    memcpy(s + 2, d, n);
    return vr_dns_parse_stream(s, n + 2, &q);
}

static void test_basic(void)
{
    struct qspec s = {.flags = 0x0100, .qd = 1, .name = "WWW.Example.COM.", .qtype = 28};
    size_t n = build_query(b, &s);
    CHECK(n == 12 + 17 + 4);
    CHECK(dgram(b, n) == VR_SNIFF_FOUND && strcmp(q.qname, "www.example.com") == 0);
    CHECK(q.qtype == 28 && q.qclass == 1 && q.id == 0x1234 && q.question_end == n);
    CHECK(stream(b, n) == VR_SNIFF_FOUND && strcmp(q.qname, "www.example.com") == 0);
    /* Bytes after the question (a datagram with trailing data, a second
     * pipelined query over TCP) change nothing. */
    memset(b + n, 0xee, 40);
    CHECK(dgram(b, n + 40) == VR_SNIFF_FOUND && strcmp(q.qname, "www.example.com") == 0);
    static uint8_t s2[200];
    s2[0] = 0; s2[1] = (uint8_t)n;
    memcpy(s2 + 2, b, n);
    memcpy(s2 + 2 + n, s2, n + 2);
    CHECK(check_stream_prefixes(s2, 2 * (n + 2), "www.example.com") == 0);
    /* With an OPT record. */
    s.ar = 1; s.opt = 1;
    n = build_query(b, &s);
    CHECK(dgram(b, n) == VR_SNIFF_FOUND && q.arcount == 1 && q.question_end == n - 11);
}

/* Truncation at every length, datagram and TCP. */
static void test_truncation(void)
{
    struct qspec s = {.qd = 1, .name = "trunc.example", .ar = 1, .opt = 1};
    size_t n = build_query(b, &s);
    size_t qend = n - 11;
    int bad = 0;
    for (size_t i = 0; i <= n; i++) {
        int st = dgram(b, i), want;
        if (i < VR_DNS_MIN_QUERY + VR_DNS_MIN_RR) /* 17 bytes + the claimed OPT */
            want = VR_SNIFF_NOT_MINE;
        else if (i < n) /* a DNS header, the question or the OPT cut short */
            want = VR_SNIFF_INVALID;
        else
            want = VR_SNIFF_FOUND;
        if (st != want) {
            fprintf(stderr, "datagram cut at %zu of %zu: status %d, want %d\n", i, n, st, want);
            bad++;
        }
    }
    CHECK(bad == 0);
    /* The same without the OPT: INVALID from 17 bytes up to the question. */
    struct qspec p = {.qd = 1, .name = "trunc.example"};
    size_t pn = build_query(b, &p);
    for (size_t i = 0; i <= pn; i++) {
        int st = dgram(b, i);
        int want = i < VR_DNS_MIN_QUERY ? VR_SNIFF_NOT_MINE
                   : i < pn            ? VR_SNIFF_INVALID
                                       : VR_SNIFF_FOUND;
        CHECK(st == want);
    }
    /* TCP: every prefix of the stream is MORE up to the question's end. */
    n = build_query(b, &s);
    static uint8_t t[BUFSZ];
    t[0] = 0; t[1] = (uint8_t)n;
    memcpy(t + 2, b, n);
    CHECK(check_stream_prefixes(t, n + 2, "trunc.example") == 0);
    CHECK(vr_dns_parse_stream(t, 2 + qend - 1, &q) == VR_SNIFF_MORE);
    CHECK(vr_dns_parse_stream(t, 2 + qend, &q) == VR_SNIFF_FOUND);
    /* A length prefix shorter than the question: INVALID once the name
     * runs past it, whatever follows. */
    n = build_query(b, &p);
    memcpy(t + 2, b, n);
    t[1] = (uint8_t)(12 + 5 + 3);
    CHECK(vr_dns_parse_stream(t, 2 + 12, &q) == VR_SNIFF_MORE);
    CHECK(vr_dns_parse_stream(t, 2 + 12 + 5, &q) == VR_SNIFF_MORE);
    CHECK(vr_dns_parse_stream(t, n + 2, &q) == VR_SNIFF_INVALID);
    /* A length prefix under 17: NOT_MINE from the 2 bytes. */
    t[1] = 16;
    CHECK(vr_dns_parse_stream(t, 2, &q) == VR_SNIFF_NOT_MINE);
    CHECK(vr_dns_parse_stream(t, 1, &q) == VR_SNIFF_MORE);
    CHECK(vr_dns_parse_stream(t, 0, &q) == VR_SNIFF_MORE);
}

static void expect_both(const char *what, const uint8_t *d, size_t n, int want)
{
    int s1 = dgram(d, n), s2 = stream(d, n);
    if (s1 != want || s2 != want)
        fprintf(stderr, "%s: datagram %d, stream %d, want %d\n", what, s1, s2, want);
    CHECK(s1 == want && s2 == want);
}

static void test_header(void)
{
    struct qspec s = {.flags = 0x0100, .qd = 1, .name = "h.example"};
    size_t n;
    s.flags = 0x8180; /* a response */
    n = build_query(b, &s);
    expect_both("QR=1", b, n, VR_SNIFF_NOT_MINE);
    s.flags = 0x8400; /* an authoritative response, no RD */
    n = build_query(b, &s);
    expect_both("QR=1 AA", b, n, VR_SNIFF_NOT_MINE);
    s.flags = 0x0100;
    s.qd = 0;
    n = build_query(b, &s);
    expect_both("QDCOUNT=0", b, n, VR_SNIFF_NOT_MINE);
    s.qd = 2;
    n = build_query(b, &s);
    expect_both("QDCOUNT=2", b, n, VR_SNIFF_NOT_MINE);
    s.qd = 0xffff;
    n = build_query(b, &s);
    expect_both("QDCOUNT=65535", b, n, VR_SNIFF_NOT_MINE);
    s.qd = 1;
    s.an = 0xffff;
    n = build_query(b, &s);
    expect_both("ANCOUNT=65535", b, n, VR_SNIFF_NOT_MINE);
    s.an = 0;
    s.ar = 3; /* claimed, not there: 33 bytes cannot fit in the 17 left */
    n = build_query(b, &s);
    expect_both("ARCOUNT=3, no records", b, n, VR_SNIFF_NOT_MINE);
    /* Claimed, fits the header's bound, but not after the name. */
    struct qspec one = {.qd = 1, .ar = 1, .name = "longer.example"};
    n = build_query(b, &one);
    CHECK(n >= VR_DNS_MIN_QUERY + VR_DNS_MIN_RR);
    expect_both("ARCOUNT=1, no record", b, n, VR_SNIFF_INVALID);
    s.ar = 0;
    /* RCODE in a query. */
    s.flags = 0x0101;
    n = build_query(b, &s);
    expect_both("RCODE=1", b, n, VR_SNIFF_NOT_MINE);
    /* Opcodes: QUERY, NOTIFY, UPDATE are read; the rest are not ours. */
    static const struct { unsigned op; int want; } ops[] = {
        {0, VR_SNIFF_FOUND}, {1, VR_SNIFF_NOT_MINE}, {2, VR_SNIFF_NOT_MINE},
        {3, VR_SNIFF_NOT_MINE}, {4, VR_SNIFF_FOUND}, {5, VR_SNIFF_FOUND},
        {6, VR_SNIFF_NOT_MINE}, {7, VR_SNIFF_NOT_MINE}, {15, VR_SNIFF_NOT_MINE},
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        s.flags = ops[i].op << 11;
        n = build_query(b, &s);
        expect_both("opcode", b, n, ops[i].want);
        if (ops[i].want == VR_SNIFF_FOUND)
            CHECK(q.opcode == ops[i].op && strcmp(q.qname, "h.example") == 0);
    }
    /* A NOTIFY for a zone, with the SOA in the answer section; an UPDATE
     * with a prerequisite and two updates: FOUND, domain = the zone. */
    struct qspec notify = {.flags = 0x2400, .qd = 1, .an = 1, .name = "Zone.Example", .qtype = 6};
    n = build_query(b, &notify);
    memset(b + n, 0, 11); /* a minimal RR */
    n += 11;
    expect_both("NOTIFY", b, n, VR_SNIFF_FOUND);
    CHECK(strcmp(q.qname, "zone.example") == 0 && q.opcode == VR_DNS_OPCODE_NOTIFY);
    struct qspec update = {.flags = 0x2800, .qd = 1, .an = 1, .ns = 2, .name = "zone.example",
                           .qtype = 6};
    n = build_query(b, &update);
    memset(b + n, 0, 33);
    n += 33;
    expect_both("UPDATE", b, n, VR_SNIFF_FOUND);
    CHECK(strcmp(q.qname, "zone.example") == 0 && q.opcode == VR_DNS_OPCODE_UPDATE);
    /* Z, AD, CD, TC bits in a query are accepted. */
    s.flags = 0x0370;
    n = build_query(b, &s);
    expect_both("flags", b, n, VR_SNIFF_FOUND);
}

static void test_qname(void)
{
    /* Compression pointers: alone, after a label, to the header. */
    static const uint8_t ptr[] = {0xc0, 0x0c};
    struct qspec s = {.qd = 1, .wire = ptr, .wire_len = sizeof(ptr)};
    size_t n = build_query(b, &s);
    expect_both("pointer", b, n, VR_SNIFF_INVALID);
    static const uint8_t ptr2[] = {3, 'w', 'w', 'w', 0xc0, 0x0c, 0, 0};
    s.wire = ptr2; s.wire_len = sizeof(ptr2);
    n = build_query(b, &s);
    expect_both("pointer after a label", b, n, VR_SNIFF_INVALID);
    /* Reserved label types 0x40 (and so a 64-byte label) and 0x80. */
    static uint8_t l64[70];
    l64[0] = 64;
    memset(l64 + 1, 'a', 64);
    l64[65] = 0;
    s.wire = l64; s.wire_len = 66;
    n = build_query(b, &s);
    expect_both("label of 64", b, n, VR_SNIFF_INVALID);
    static const uint8_t x80[] = {0x80, 'a', 0};
    s.wire = x80; s.wire_len = sizeof(x80);
    n = build_query(b, &s);
    expect_both("label type 0x80", b, n, VR_SNIFF_INVALID);
    /* A 63-byte label is fine. */
    l64[0] = 63;
    l64[64] = 0;
    s.wire = l64; s.wire_len = 65;
    n = build_query(b, &s);
    expect_both("label of 63", b, n, VR_SNIFF_FOUND);
    CHECK(strlen(q.qname) == 63);
    /* 255 bytes on the wire (a 253-character name) is the most. */
    char name[400];
    for (int i = 0; i < 252; i += 2) { name[i] = 'b'; name[i + 1] = '.'; }
    strcpy(name + 252, "c");
    struct qspec big = {.qd = 1, .name = name};
    n = build_query(b, &big);
    CHECK(n == 12 + 255 + 4);
    expect_both("name of 255", b, n, VR_SNIFF_FOUND);
    CHECK(strlen(q.qname) == 253);
    strcpy(name + 252, "cc");
    n = build_query(b, &big);
    expect_both("name of 256", b, n, VR_SNIFF_INVALID);
    /* A name with no end inside the message. */
    static const uint8_t open_name[] = {3, 'a', 'b', 'c', 5, 'd', 'e'};
    struct wbuf w = {b, 0};
    put16(&w, 1); put16(&w, 0); put16(&w, 1); put16(&w, 0); put16(&w, 0); put16(&w, 0);
    putn(&w, open_name, sizeof(open_name));
    expect_both("unterminated name", b, w.n, VR_SNIFF_INVALID);
    /* QTYPE/QCLASS missing or cut. */
    struct qspec ok = {.qd = 1, .name = "abcdefghijkl.example"};
    n = build_query(b, &ok);
    expect_both("no QCLASS", b, n - 2, VR_SNIFF_INVALID);
    expect_both("half QTYPE", b, n - 3, VR_SNIFF_INVALID);
}

static void test_names(void)
{
    static const struct { const char *name, *want; } cases[] = {
        {"Example.ORG.", "example.org"},
        {"_sip._udp.example.com", "_sip._udp.example.com"},
        {"_443._tcp.www.example.com", "_443._tcp.www.example.com"},
        {"1.2.0.192.in-addr.arpa", "1.2.0.192.in-addr.arpa"},
        {"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa",
         "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa"},
        {"xn--bcher-kva.example", "xn--bcher-kva.example"},
        {"localhost", "localhost"},
        {"", ""},                 /* the root */
        {"1.2.3.4", ""},          /* a search-list query for an address */
        {"bad name.example", ""},
        {"-lead.example", ""},
        {"ex\xc3\xa4mple.example", ""},
        {"a*.example", ""},
        {"*.example", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct qspec s = {.qd = 1, .name = cases[i].name};
        size_t n = build_query(b, &s);
        expect_both(cases[i].name, b, n, VR_SNIFF_FOUND);
        if (strcmp(q.qname, cases[i].want) != 0)
            fprintf(stderr, "qname '%s': got '%s', want '%s'\n", cases[i].name, q.qname,
                    cases[i].want);
        CHECK(strcmp(q.qname, cases[i].want) == 0);
        CHECK(q.name_is_host == (cases[i].want[0] != '\0'));
    }
    /* A label holding a '.' must not pass for two labels; nor a NUL. */
    static const uint8_t dotted[] = {3, 'a', '.', 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
    struct qspec s = {.qd = 1, .wire = dotted, .wire_len = sizeof(dotted)};
    size_t n = build_query(b, &s);
    expect_both("dotted label", b, n, VR_SNIFF_FOUND);
    CHECK(q.qname[0] == '\0');
    static const uint8_t nul[] = {3, 'a', 0, 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
    s.wire = nul;
    n = build_query(b, &s);
    expect_both("NUL in a label", b, n, VR_SNIFF_FOUND);
    CHECK(q.qname[0] == '\0');
}

/* Other protocols' first bytes are NOT_MINE, early. */
static void test_not_mine(void)
{
    /* A QUIC v1 Initial: 0xc3, version 1, DCID length 8 -> RCODE=1 and
     * QDCOUNT=0x0108. */
    static uint8_t quic[1200] = {0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0};
    CHECK(dgram(quic, sizeof(quic)) == VR_SNIFF_NOT_MINE);
    /* A TLS ClientHello and an HTTP request over TCP: from the header. */
    static const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03,
                                  0x03, 0xaa, 0xbb, 0xcc};
    CHECK(vr_dns_parse_stream(tls, sizeof(tls), &q) == VR_SNIFF_NOT_MINE);
    const char *http = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
    CHECK(vr_dns_parse_stream((const uint8_t *)http, strlen(http), &q) == VR_SNIFF_NOT_MINE);
    CHECK(vr_dns_parse_stream((const uint8_t *)http, 14, &q) == VR_SNIFF_NOT_MINE);
    const char *ssh = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
    CHECK(vr_dns_parse_stream((const uint8_t *)ssh, strlen(ssh), &q) == VR_SNIFF_NOT_MINE);
    /* Too short for a query. */
    static const uint8_t z[16];
    for (size_t i = 0; i <= sizeof(z); i++)
        CHECK(dgram(z, i) == VR_SNIFF_NOT_MINE);
}

/* Every single-byte change and every truncation of a query with EDNS: never
 * a crash (ASan watches), a FOUND name is normal or empty, and the stream
 * parser agrees with the datagram parser on whole messages. */
static void test_mutations(const uint8_t *base, size_t n)
{
    static uint8_t c[BUFSZ];
    int bad = 0, disagree = 0;
    for (size_t i = 0; i < n; i++) {
        static const uint8_t vals[] = {0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff};
        for (size_t v = 0; v < sizeof(vals); v++) {
            memcpy(c, base, n);
            c[i] = vals[v];
            int st = dgram(c, n);
            if (st < VR_SNIFF_NOT_MINE || st > VR_SNIFF_INVALID)
                bad++;
            if (st == VR_SNIFF_FOUND && q.qname[0] != '\0' && !vr_sniff_name_is_normal(q.qname))
                bad++;
            if (stream(c, n) != st)
                disagree++;
        }
    }
    CHECK(bad == 0);
    CHECK(disagree == 0);
    for (size_t i = 0; i < n; i++) {
        int st = dgram(base, i);
        CHECK(st == VR_SNIFF_NOT_MINE || st == VR_SNIFF_INVALID);
    }
}

/* The module as the host sees it: several datagrams, out->size. */
static void test_module(void)
{
    struct qspec s = {.qd = 1, .name = "Mod.Example"};
    size_t n = build_query(b, &s);
    struct vr_sniff_out out;
    memset(&out, 0x5a, sizeof(out));
    out.size = offsetof(struct vr_sniff_out, protocol); /* domain only */
    struct iovec iov[2] = {{.iov_base = b, .iov_len = n},
                           {.iov_base = (void *)"junk", .iov_len = 4}};
    CHECK(dns_ops->sniff_datagrams(NULL, iov, 2, &out) == VR_SNIFF_FOUND);
    CHECK(strcmp(out.domain, "mod.example") == 0);
    CHECK((uint8_t)out.protocol[0] == 0x5a && (uint8_t)out.alpn[0] == 0x5a);
    memset(&out, 0x5a, sizeof(out));
    out.size = offsetof(struct vr_sniff_out, alpn);
    CHECK(dns_ops->sniff_datagrams(NULL, iov, 1, &out) == VR_SNIFF_FOUND);
    CHECK(strcmp(out.protocol, "dns") == 0 && (uint8_t)out.alpn[0] == 0x5a);
    memset(&out, 0x5a, sizeof(out));
    out.size = sizeof(uint32_t);
    CHECK(dns_ops->sniff_datagrams(NULL, iov, 1, &out) == VR_SNIFF_FOUND);
    CHECK((uint8_t)out.domain[0] == 0x5a);
    out.size = sizeof(out);
    /* Only the first datagram counts: junk first is NOT_MINE even if a
     * query follows; no datagram yet is MORE. */
    struct iovec rev[2] = {iov[1], iov[0]};
    CHECK(dns_ops->sniff_datagrams(NULL, rev, 2, &out) == VR_SNIFF_NOT_MINE);
    CHECK(dns_ops->sniff_datagrams(NULL, iov, 0, &out) == VR_SNIFF_MORE);
    /* A response over UDP. */
    b[2] |= 0x80;
    CHECK(module_datagram(b, n, &out) == VR_SNIFF_NOT_MINE);
    b[2] &= 0x7f;
    /* A pointer in the name. */
    b[12] = 0xc0;
    CHECK(module_datagram(b, n, &out) == VR_SNIFF_INVALID);
    /* Over TCP through sniff(): MORE, then FOUND. */
    static uint8_t t[200];
    n = build_query(b, &s);
    t[0] = 0; t[1] = (uint8_t)n;
    memcpy(t + 2, b, n);
    CHECK(module_stream(t, 5, &out) == VR_SNIFF_MORE);
    CHECK(module_stream(t, n + 2, &out) == VR_SNIFF_FOUND && strcmp(out.domain, "mod.example") == 0);
}

static int load_module(const char *path)
{
    dns_ops = vr_test_load_sniffer(path, "dns");
    if (dns_ops == NULL)
        return -1;
    CHECK(dns_ops->networks == (VR_NET_TCP | VR_NET_UDP));
    CHECK(dns_ops->sniff != NULL && dns_ops->sniff_datagrams != NULL);
    CHECK(dns_ops->create == NULL && dns_ops->destroy == NULL);
    return dns_ops->sniff != NULL && dns_ops->sniff_datagrams != NULL ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *module, *corpus;
    if (vr_test_sniffer_args(argc, argv, "--save", &module, &corpus, &save_dir) < 0 || load_module(module) < 0) {
        fprintf(stderr, "usage: %s --module dns.so --corpus DIR [--save DIR]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int got = check_corpus(corpus);
    printf("committed corpus: %d queries checked\n", got);
    CHECK(got >= 5);
    test_dig_live();
    test_basic();
    test_truncation();
    test_header();
    test_qname();
    test_names();
    test_not_mine();
    struct qspec s = {.flags = 0x0120, .qd = 1, .name = "mut.example", .ar = 1, .opt = 1};
    size_t n = build_query(b, &s);
    static uint8_t base[200];
    memcpy(base, b, n);
    test_mutations(base, n);
    test_module();
    return vr_test_report();
}
