/*
 * unit.sniff_http: the HTTP/1.x request parser on real request heads
 * captured from the clients on this machine (the committed corpus, and a
 * fresh capture when the clients are installed) and on synthetic requests,
 * plus the built http.so through its ops table.
 *
 * usage: test_sniff_http --module http.so --corpus DIR [--capture SCRIPT]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_plugin.h>

#include "vr_http_parse.h"
#include "vr_sniff_name.h"
#include "vr_test.h"
#include "vr_test_corpus.h"

static const struct vr_sniffer_ops *http_ops;
static struct vr_http_request req;

/* Parses an exact-size heap copy, so ASan sees any read past the end. */
static int parse(const void *d, size_t n, struct vr_http_request *r)
{
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, d, n);
    int st = vr_http_parse_request(copy, n, r);
    free(copy);
    return st;
}

static int parse_s(const char *s)
{
    return parse(s, strlen(s), &req);
}

/* Every prefix shorter than the decision point is MORE; from there on the
 * answer is FOUND with the same domain. */
static int check_prefixes(const uint8_t *d, size_t n, const char *domain)
{
    struct vr_http_request r;
    if (parse(d, n, &r) != VR_SNIFF_FOUND)
        return -1;
    size_t used = r.used;
    for (size_t i = 0; i <= n; i++) {
        int st = parse(d, i, &r);
        if (i < used && st != VR_SNIFF_MORE) {
            fprintf(stderr, "prefix %zu of %zu (decided at %zu): status %d\n", i, n, used, st);
            return -1;
        }
        if (i >= used && (st != VR_SNIFF_FOUND || strcmp(r.domain, domain) != 0)) {
            fprintf(stderr, "prefix %zu of %zu: status %d domain '%s'\n", i, n, st, r.domain);
            return -1;
        }
    }
    return 0;
}

static int check_prefixes_s(const char *s, const char *domain)
{
    return check_prefixes((const uint8_t *)s, strlen(s), domain);
}

/* Checks one <name>.bin of a corpus against its .expect (domain=,
 * source=target|header). */
static int check_corpus_file(const char *path, const char *expect, const char *name, void *arg)
{
    char domain[300], source[32];
    size_t len;
    (void)name;
    (void)arg;
    CHECK(vr_test_read_expect(expect, "domain", domain, sizeof(domain)) == 0);
    vr_test_read_expect(expect, "source", source, sizeof(source));
    uint8_t *buf = vr_test_read_file(path, 65536, &len);
    CHECK(buf != NULL);
    if (buf == NULL)
        return -1;
    int st = parse(buf, len, &req);
    int want_src = strcmp(source, "target") == 0   ? VR_HTTP_HOST_TARGET
                   : strcmp(source, "header") == 0 ? VR_HTTP_HOST_HEADER
                                                   : VR_HTTP_HOST_NONE;
    if (st != VR_SNIFF_FOUND || strcmp(req.domain, domain) != 0 || req.host_source != want_src)
        fprintf(stderr, "%s: status %d domain '%s' (want '%s') source %d (want %s)\n", path, st,
                req.domain, domain, req.host_source, source);
    CHECK(st == VR_SNIFF_FOUND);
    CHECK(strcmp(req.domain, domain) == 0);
    CHECK(req.host_source == want_src);
    CHECK(check_prefixes(buf, len, domain) == 0);
    struct vr_sniff_out out = {.size = sizeof(out)};
    CHECK(http_ops->sniff(NULL, buf, len, &out) == VR_SNIFF_FOUND);
    CHECK(strcmp(out.domain, domain) == 0 && strcmp(out.protocol, "http") == 0 &&
          out.alpn[0] == '\0');
    free(buf);
    return 0;
}

static int check_corpus(const char *dir)
{
    return vr_test_corpus_each(dir, check_corpus_file, NULL);
}

/* ---- synthetic ------------------------------------------------------------ */

struct found_case {
    const char *req;
    const char *domain;
    int source;
    int is_ip;
};

static void test_found(void)
{
    static const struct found_case cases[] = {
        {"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", "a.example", VR_HTTP_HOST_HEADER, 0},
        {"GET / HTTP/1.1\r\nhOsT: A.Example\r\n\r\n", "a.example", VR_HTTP_HOST_HEADER, 0},
        {"GET / HTTP/1.1\r\nHOST:WWW.EXAMPLE.COM.:80\r\n\r\n", "www.example.com",
         VR_HTTP_HOST_HEADER, 0},
        {"GET / HTTP/1.1\r\nHost:\t a.example:8080 \t\r\n\r\n", "a.example",
         VR_HTTP_HOST_HEADER, 0},
        {"GET / HTTP/1.1\r\nHost: a.example:\r\n\r\n", "a.example", VR_HTTP_HOST_HEADER, 0},
        {"GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", "", VR_HTTP_HOST_HEADER, 1},
        {"GET / HTTP/1.1\r\nHost: [2001:DB8::192.0.2.1]\r\n\r\n", "", VR_HTTP_HOST_HEADER, 1},
        {"GET / HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n", "", VR_HTTP_HOST_HEADER, 1},
        {"GET / HTTP/1.1\r\nHost: exa%41mple.com\r\n\r\n", "", VR_HTTP_HOST_HEADER, 0},
        {"GET / HTTP/1.1\r\nHost: -bad.example\r\n\r\n", "", VR_HTTP_HOST_HEADER, 0},
        {"GET / HTTP/1.1\r\nHost: 1.2.3.4.5\r\n\r\n", "", VR_HTTP_HOST_HEADER, 0},
        {"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "localhost", VR_HTTP_HOST_HEADER, 0},
        {"GET / HTTP/1.1\r\nHost:\r\n\r\n", "", VR_HTTP_HOST_HEADER, 0},
        {"GET / HTTP/1.1\nHost: lf.example\n\n", "lf.example", VR_HTTP_HOST_HEADER, 0},
        {"POST /x HTTP/1.1\r\nContent-Length: 3\r\nX-A: b\r\nHost: late.example\r\n\r\nabc",
         "late.example", VR_HTTP_HOST_HEADER, 0},
        {"GET http://Abs.Example:81/x HTTP/1.1\r\nHost: other.example\r\n\r\n", "abs.example",
         VR_HTTP_HOST_TARGET, 0},
        {"GET HTTP://u:p@User.Example?x=1 HTTP/1.1\r\n\r\n", "user.example",
         VR_HTTP_HOST_TARGET, 0},
        {"GET http://[2001:db8::5]:8080/ HTTP/1.1\r\n\r\n", "", VR_HTTP_HOST_TARGET, 1},
        {"GET file:///etc HTTP/1.1\r\nHost: f.example\r\n\r\n", "f.example",
         VR_HTTP_HOST_HEADER, 0},
        {"CONNECT tunnel.example:443 HTTP/1.1\r\nHost: tunnel.example:443\r\n\r\n",
         "tunnel.example", VR_HTTP_HOST_TARGET, 0},
        {"OPTIONS * HTTP/1.1\r\nHost: star.example\r\n\r\n", "star.example",
         VR_HTTP_HOST_HEADER, 0},
        {"GET / HTTP/1.0\r\nUser-Agent: x\r\n\r\n", "", VR_HTTP_HOST_NONE, 0},
        {"PROPFIND /dav HTTP/1.1\r\nHost: dav.example\r\n\r\n", "dav.example",
         VR_HTTP_HOST_HEADER, 0},
        {"DELETE /r HTTP/1.1\r\nHost: del.example\r\n\r\n", "del.example", VR_HTTP_HOST_HEADER, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct found_case *c = &cases[i];
        int st = parse_s(c->req);
        if (st != VR_SNIFF_FOUND || strcmp(req.domain, c->domain) != 0 ||
            req.host_source != c->source || req.host_is_ip != c->is_ip)
            fprintf(stderr, "case %zu: status %d domain '%s' source %d ip %d\n", i, st,
                    req.domain, req.host_source, req.host_is_ip);
        CHECK(st == VR_SNIFF_FOUND);
        CHECK(strcmp(req.domain, c->domain) == 0);
        CHECK(req.host_source == c->source && req.host_is_ip == c->is_ip);
        /* Split at any byte: MORE until the decision, FOUND after it. */
        CHECK(check_prefixes_s(c->req, c->domain) == 0);
    }
    /* The decision comes at the first byte after the Host line, not at the
     * end of the head; an absolute-form target decides at the request line. */
    const char *r = "GET / HTTP/1.1\r\nHost: early.example\r\nX";
    CHECK(parse_s(r) == VR_SNIFF_FOUND && req.used == strlen(r));
    r = "GET http://abs.example/ HTTP/1.1\r\n";
    CHECK(parse_s(r) == VR_SNIFF_FOUND && req.used == strlen(r));
    CHECK(strcmp(req.method, "GET") == 0 && req.version_minor == 1);
}

static void test_invalid(void)
{
    static const char *const cases[] = {
        "GET / HTTP/1.1\r\nHost : a.example\r\n\r\n",      /* space before colon */
        "GET / HTTP/1.1\r\nHost: a b.example\r\n\r\n",     /* space in the host */
        "GET / HTTP/1.1\r\nHost: a.example:80x\r\n\r\n",   /* bad port */
        "GET / HTTP/1.1\r\nHost: a.example:123456\r\n\r\n", /* port too long */
        "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",            /* unclosed bracket */
        "GET / HTTP/1.1\r\nHost: []\r\n\r\n",              /* empty literal */
        "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n",          /* junk after literal */
        "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n",             /* unbracketed IPv6 */
        "GET / HTTP/1.1\r\nHost: u@a.example\r\n\r\n",     /* userinfo in Host */
        "GET / HTTP/1.1\r\nHost: a\r\n .example\r\n\r\n",  /* obs-fold of Host */
        "GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",     /* obs-fold */
        "GET / HTTP/1.1\r\nHost: a\x01.example\r\n\r\n",   /* control in the value */
        "GET / HTTP/1.1\r\nHost: a.ex\rample\r\n\r\n",     /* bare CR */
        "GET / HTTP/1.1\r\nX: 1\r\nHost: a\x7f\r\n\r\n",       /* DEL in the Host */
        "GET / HTTP/1.1\r\nNoColonHere\r\n\r\n",           /* no colon */
        "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",          /* empty name */
        "GET / HTTP/1.1\r\n\r\n",                          /* 1.1 without Host */
        "GET /\r\n",                                       /* HTTP/0.9 */
        "GET / HTTP/2.0\r\n\r\n",                          /* not 1.x */
        "GET / HTTP/1.x\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",                         /* junk after version */
        "GET  / HTTP/1.1\r\n\r\n",                         /* empty target */
        "GET example.com HTTP/1.1\r\n\r\n",                /* authority form, not CONNECT */
        "GET http://a.example:x/ HTTP/1.1\r\n\r\n",        /* bad port in target */
        "CONNECT a.example:443:1 HTTP/1.1\r\n\r\n",
        "GET /\x7f HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int st = parse_s(cases[i]);
        if (st != VR_SNIFF_INVALID)
            fprintf(stderr, "invalid case %zu: status %d\n", i, st);
        CHECK(st == VR_SNIFF_INVALID);
        /* A prefix is MORE or INVALID, never FOUND or NOT_MINE. */
        size_t n = strlen(cases[i]);
        int bad = 0;
        for (size_t k = 0; k < n; k++) {
            int s = parse(cases[i], k, &req);
            if (s != VR_SNIFF_MORE && s != VR_SNIFF_INVALID)
                bad++;
        }
        CHECK(bad == 0);
    }
}

static void test_not_mine(void)
{
    CHECK(parse_s("") == VR_SNIFF_MORE);
    CHECK(parse_s("G") == VR_SNIFF_MORE);
    CHECK(parse_s("GET") == VR_SNIFF_MORE);
    CHECK(parse_s("GETX") == VR_SNIFF_NOT_MINE);
    CHECK(parse_s("get / HTTP/1.1\r\n") == VR_SNIFF_NOT_MINE);
    CHECK(parse_s("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == VR_SNIFF_NOT_MINE);
    CHECK(parse_s("SSH-2.0-OpenSSH_9.2p1\r\n") == VR_SNIFF_NOT_MINE);
    CHECK(parse_s("EHLO mail.example\r\n") == VR_SNIFF_NOT_MINE);
    CHECK(parse("\x16\x03\x01\x02\x00", 5, &req) == VR_SNIFF_NOT_MINE);
    CHECK(parse("\x16", 1, &req) == VR_SNIFF_NOT_MINE);
    /* Any first byte that starts no method is NOT_MINE at once, and any
     * stream is decided by its 10th byte unless it starts with a method. */
    const char *starts = "GHPDCOTML U";
    int slow = 0;
    for (int c = 0; c < 256; c++) {
        uint8_t one = (uint8_t)c;
        if (strchr(starts, c) == NULL || c == 0 || c == ' ')
            if (parse(&one, 1, &req) != VR_SNIFF_NOT_MINE)
                slow++;
        uint8_t ten[10];
        memset(ten, 'Z', sizeof(ten));
        ten[0] = one;
        if (parse(ten, sizeof(ten), &req) == VR_SNIFF_MORE)
            slow++;
    }
    CHECK(slow == 0);
    /* "PROPPATCH " is the longest method: 10 bytes decide every stream. */
    CHECK(parse_s("PROPPATCH") == VR_SNIFF_MORE);
    CHECK(parse_s("PROPPATCHX") == VR_SNIFF_NOT_MINE);
}

static void test_bounds(void)
{
    static char big[70000];
    /* Headers before the Host running past VR_HTTP_HEAD_MAX: INVALID. */
    strcpy(big, "GET / HTTP/1.1\r\nX-Pad: ");
    size_t n = strlen(big);
    memset(big + n, 'a', 20000);
    strcpy(big + n + 20000, "\r\nHost: far.example\r\n\r\n");
    CHECK(parse_s(big) == VR_SNIFF_INVALID);
    CHECK(parse(big, VR_HTTP_HEAD_MAX - 1, &req) == VR_SNIFF_MORE);
    CHECK(parse(big, VR_HTTP_HEAD_MAX, &req) == VR_SNIFF_INVALID);
    /* Many short headers, the Host just inside the bound: FOUND. */
    strcpy(big, "GET / HTTP/1.1\r\n");
    n = strlen(big);
    while (n < VR_HTTP_HEAD_MAX - 200) {
        memcpy(big + n, "X-A: 0123456789\r\n", 17);
        n += 17;
    }
    strcpy(big + n, "Host: near.example\r\n\r\n");
    CHECK(parse_s(big) == VR_SNIFF_FOUND && strcmp(req.domain, "near.example") == 0);
    /* Request line over VR_HTTP_LINE_MAX: INVALID. */
    strcpy(big, "GET /");
    memset(big + 5, 'p', 9000);
    strcpy(big + 9005, " HTTP/1.1\r\nHost: a.example\r\n\r\n");
    CHECK(parse_s(big) == VR_SNIFF_INVALID);
    CHECK(parse(big, VR_HTTP_LINE_MAX - 1, &req) == VR_SNIFF_MORE);
    /* A long host name: 253 fine, 254 not passed on. */
    char host[300];
    for (int i = 0; i < 252; i += 2) { host[i] = 'h'; host[i + 1] = '.'; }
    strcpy(host + 252, "x");
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host);
    CHECK(parse_s(big) == VR_SNIFF_FOUND && strcmp(req.domain, host) == 0);
    strcpy(host + 252, "xx");
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host);
    CHECK(parse_s(big) == VR_SNIFF_FOUND && req.domain[0] == '\0');
}

static void test_mutations(void)
{
    static const char base[] = "POST http://m.example:8080/p?q HTTP/1.1\r\n"
                               "Host: m.example\r\nContent-Length: 0\r\n\r\n";
    static const char base2[] = "GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: [2001:db8::1]:80\r\n\r\n";
    const char *bases[] = {base, base2};
    int bad = 0;
    for (size_t b = 0; b < 2; b++) {
        size_t n = strlen(bases[b]);
        char c[256];
        for (size_t i = 0; i < n; i++) {
            static const char vals[] = {0, ' ', ':', '[', ']', '\n', '\r', '.', '@', '/', 'A', '\x80'};
            for (size_t v = 0; v < sizeof(vals); v++) {
                memcpy(c, bases[b], n);
                c[i] = vals[v];
                int st = parse(c, n, &req);
                if (st == VR_SNIFF_FOUND && req.domain[0] && !vr_sniff_name_is_normal(req.domain))
                    bad++;
            }
        }
    }
    CHECK(bad == 0);
}

static void test_module_out_size(void)
{
    const char *r = "GET / HTTP/1.1\r\nHost: Size.Example\r\n\r\n";
    struct vr_sniff_out out;
    memset(&out, 0x5a, sizeof(out));
    out.size = offsetof(struct vr_sniff_out, protocol);
    CHECK(http_ops->sniff(NULL, (const uint8_t *)r, strlen(r), &out) == VR_SNIFF_FOUND);
    CHECK(strcmp(out.domain, "size.example") == 0 && (uint8_t)out.protocol[0] == 0x5a);
    memset(&out, 0x5a, sizeof(out));
    out.size = sizeof(uint32_t);
    CHECK(http_ops->sniff(NULL, (const uint8_t *)r, strlen(r), &out) == VR_SNIFF_FOUND);
    CHECK((uint8_t)out.domain[0] == 0x5a);
    memset(&out, 0x5a, sizeof(out));
    out.size = sizeof(out);
    CHECK(http_ops->sniff(NULL, (const uint8_t *)r, strlen(r), &out) == VR_SNIFF_FOUND);
    CHECK(strcmp(out.protocol, "http") == 0 && out.alpn[0] == '\0');
    CHECK(http_ops->sniff(NULL, (const uint8_t *)r, 10, &out) == VR_SNIFF_MORE);
    CHECK(http_ops->sniff(NULL, (const uint8_t *)"\x16\x03", 2, &out) == VR_SNIFF_NOT_MINE);
}

static int load_module(const char *path)
{
    http_ops = vr_test_load_sniffer(path, "http");
    if (http_ops == NULL)
        return -1;
    CHECK(http_ops->networks == VR_NET_TCP && http_ops->sniff != NULL);
    return 0;
}

int main(int argc, char **argv)
{
    const char *module, *corpus, *capture;
    if (vr_test_sniffer_args(argc, argv, "--capture", &module, &corpus, &capture) < 0 || load_module(module) < 0) {
        fprintf(stderr, "usage: %s --module http.so --corpus DIR [--capture SCRIPT]\n", argv[0]);
        return 2;
    }
    int got = check_corpus(corpus);
    printf("committed corpus: %d requests checked\n", got);
    CHECK(got >= 5);
    test_found();
    test_invalid();
    test_not_mine();
    test_bounds();
    test_mutations();
    test_module_out_size();
    if (capture != NULL)
        vr_test_fresh_capture(capture, "http", "requests", check_corpus);
    return vr_test_report();
}
