/* The resolver's DNS codec (core/dns/vr_dns_msg.c): queries parsed with
 * EDNS0 and the DO bit; compression pointers followed backwards only (a
 * loop, a forward pointer, an overrun and an over-long name are FORMERR);
 * responses walked for TTLs, addresses through a CNAME and the SOA minimum;
 * answers, errors, truncation and TTL ageing built right. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "vr_dns_fake_answer.h"
#include "vr_dns_msg.h"
#include "vr_test.h"

static size_t put_name(uint8_t *p, const char *name)
{
    size_t n = 0;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        p[n++] = (uint8_t)l;
        memcpy(p + n, name, l);
        n += l;
        name += l + (dot ? 1 : 0);
    }
    p[n++] = 0;
    return n;
}

static void test_query(void)
{
    uint8_t m[512];
    size_t n = vr_dns_build_query("WWW.Example.COM", VR_DNS_T_AAAA, 0x4242, m, sizeof(m));
    CHECK(n > 0);
    struct vr_dns_query q;
    CHECK(vr_dns_parse_query(m, n, &q) == VR_DNS_PARSE_OK);
    CHECK(q.id == 0x4242);
    CHECK(strcmp(q.name, "www.example.com") == 0);
    CHECK(q.qtype == VR_DNS_T_AAAA && q.qclass == 1);
    CHECK(q.edns && !q.do_bit && q.udp_size == 1232);
    /* the DO bit */
    m[n - 11 + 7] = 0x80;
    CHECK(vr_dns_parse_query(m, n, &q) == VR_DNS_PARSE_OK && q.do_bit);
    /* without EDNS: 512 bytes over UDP */
    vr_dns_put16(m + 10, 0);
    CHECK(vr_dns_parse_query(m, n - 11, &q) == VR_DNS_PARSE_OK && !q.edns && q.udp_size == 512);
    /* trailing bytes, a response, an opcode, a short message */
    CHECK(vr_dns_parse_query(m, n - 10, &q) == VR_DNS_PARSE_FORMERR);
    m[2] |= 0x80;
    CHECK(vr_dns_parse_query(m, n - 11, &q) == VR_DNS_PARSE_DROP);
    m[2] = 0x28; /* opcode 5 (UPDATE) */
    CHECK(vr_dns_parse_query(m, n - 11, &q) == VR_DNS_PARSE_NOTIMP);
    CHECK(vr_dns_parse_query(m, 11, &q) == VR_DNS_PARSE_DROP);
}

static void test_pointers(void)
{
    uint8_t m[600] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    struct vr_dns_query q;
    /* a pointer to itself */
    memcpy(m + 12, "\xc0\x0c\x00\x01\x00\x01", 6);
    CHECK(vr_dns_parse_query(m, 18, &q) == VR_DNS_PARSE_FORMERR);
    /* a valid backward pointer in the question, into the header: refused
     * (the name is copied into answers, whose header differs) */
    memcpy(m + 12, "\xc0\x02\x00\x01\x00\x01", 6);
    m[2] = 0; /* offset 2: a root label */
    CHECK(vr_dns_parse_query(m, 18, &q) == VR_DNS_PARSE_FORMERR);
    m[2] = 0x01;
    /* a pointer forward */
    memcpy(m + 12, "\xc0\x0e\x00\x01\x00\x01", 6);
    CHECK(vr_dns_parse_query(m, 18, &q) == VR_DNS_PARSE_FORMERR);
    /* two pointers pointing at each other (a loop through a backward one) */
    char name[VR_DNS_NAME_MAX + 1];
    uint8_t loop[] = {0xc0, 0x02, 0xc0, 0x00};
    size_t off = 2;
    CHECK(vr_dns_name_read(loop, sizeof(loop), &off, name, sizeof(name)) == -1);
    /* a dot or a NUL inside a label: no unambiguous text form */
    memcpy(m + 12, "\x03" "a.b" "\x07" "example" "\x00\x00\x01\x00\x01", 17);
    CHECK(vr_dns_parse_query(m, 29, &q) == VR_DNS_PARSE_FORMERR);
    m[14] = 0;
    CHECK(vr_dns_parse_query(m, 29, &q) == VR_DNS_PARSE_FORMERR);
    m[14] = 'x';
    CHECK(vr_dns_parse_query(m, 29, &q) == VR_DNS_PARSE_OK && strcmp(q.name, "axb.example") == 0);
    /* a label past the end */
    memcpy(m + 12, "\x3f" "abc", 4);
    CHECK(vr_dns_parse_query(m, 16, &q) == VR_DNS_PARSE_FORMERR);
    /* a name of 256 octets on the wire */
    size_t at = 12;
    for (int i = 0; i < 4; i++) {
        m[at++] = 63;
        memset(m + at, 'a', 63);
        at += 63;
    }
    m[at++] = 0;
    memcpy(m + at, "\x00\x01\x00\x01", 4);
    CHECK(vr_dns_parse_query(m, at + 4, &q) == VR_DNS_PARSE_FORMERR);
    /* a valid backward pointer chain */
    uint8_t ok[64];
    size_t k = put_name(ok, "example.com");      /* at 0 */
    ok[k] = 3;
    memcpy(ok + k + 1, "www", 3);
    ok[k + 4] = 0xc0;
    ok[k + 5] = 0;                               /* www -> example.com */
    off = k;
    CHECK(vr_dns_name_read(ok, k + 6, &off, name, sizeof(name)) == 15 && strcmp(name, "www.example.com") == 0);
    CHECK(off == k + 6);
}

/* A response to q: CNAME www -> host, host A 192.0.2.1 (ttl 50) and AAAA,
 * plus an SOA in authority. */
static size_t build_response(const struct vr_dns_query *q, const uint8_t *qmsg, uint8_t *m)
{
    memcpy(m, qmsg, q->question_end);
    vr_dns_put16(m + 2, 0x8180);
    vr_dns_put16(m + 6, 3);
    vr_dns_put16(m + 8, 1);
    vr_dns_put16(m + 10, 0);
    size_t at = q->question_end;
    uint8_t rr[] = {0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 100, 0, 7, 4, 'h', 'o', 's', 't', 0xc0, 16};
    memcpy(m + at, rr, sizeof(rr));
    size_t host = at + 12;
    at += sizeof(rr);
    uint8_t a[] = {0xc0, 0, 0, 1, 0, 1, 0, 0, 0, 50, 0, 4, 192, 0, 2, 1};
    a[1] = (uint8_t)host;
    memcpy(m + at, a, sizeof(a));
    at += sizeof(a);
    uint8_t aaaa[28] = {0xc0, 0, 0, 28, 0, 1, 0, 0, 0, 200, 0, 16, 0x20, 0x01, 0x0d, 0xb8};
    aaaa[1] = (uint8_t)host;
    aaaa[27] = 1;
    memcpy(m + at, aaaa, sizeof(aaaa));
    at += sizeof(aaaa);
    uint8_t soa[] = {0xc0, 16, 0, 6, 0, 1, 0, 0, 0x0e, 0x10, 0, 24, 0xc0, 16, 0xc0, 16,
                     0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 30};
    memcpy(m + at, soa, sizeof(soa));
    return at + sizeof(soa);
}

static void test_response(void)
{
    uint8_t qm[512], m[1024];
    size_t qn = vr_dns_build_query("www.example.com", VR_DNS_T_A, 7, qm, sizeof(qm));
    struct vr_dns_query q;
    CHECK(vr_dns_parse_query(qm, qn, &q) == VR_DNS_PARSE_OK);
    size_t n = build_response(&q, qm, m);
    struct vr_dns_response_info info;
    CHECK(vr_dns_parse_response(m, n, &q, &info) == 0);
    CHECK(info.rcode == 0 && !info.truncated && info.ancount == 3);
    CHECK(info.min_ttl == 50);
    CHECK(info.n_addrs == 2); /* through the CNAME */
    CHECK(info.addrs[0].family == 2 && memcmp(info.addrs[0].bytes, "\xc0\x00\x02\x01", 4) == 0);
    CHECK(info.has_soa && info.negative_ttl == 30); /* min(SOA TTL 3600, MINIMUM 30) */
    /* another question is not an answer */
    struct vr_dns_query other = q;
    strcpy(other.name, "www.example.org");
    CHECK(vr_dns_parse_response(m, n, &other, &info) == -1);
    /* every cut of it is refused or parsed, never read past its end */
    for (size_t cut = 0; cut < n; cut++)
        (void)vr_dns_parse_response(m, cut, &q, &info);
    /* ageing: 20 s later TTLs are 80, 30, 180, 3580; never below 0 */
    CHECK(vr_dns_age_ttls(m, n, 20) == 0);
    CHECK(vr_dns_parse_response(m, n, &q, &info) == 0 && info.min_ttl == 30);
    CHECK(vr_dns_age_ttls(m, n, 1000) == 0);
    CHECK(vr_dns_parse_response(m, n, &q, &info) == 0 && info.min_ttl == 0);
    /* truncation keeps the question, sets TC */
    size_t t = vr_dns_truncate(m, n, &q);
    CHECK(t == q.question_end && (m[2] & 0x02));
    CHECK(vr_dns_parse_response(m, t, &q, &info) == 0 && info.truncated);
}

static void test_build(void)
{
    uint8_t qm[512], out[512];
    size_t qn = vr_dns_build_query("fixed.example", VR_DNS_T_A, 9, qm, sizeof(qm));
    struct vr_dns_query q;
    vr_dns_parse_query(qm, qn, &q);
    uint8_t addr[4] = {203, 0, 113, 7};
    size_t n = vr_dns_build_answer(qm, &q, VR_DNS_NOERROR, addr, 4, 1, 60, out, sizeof(out));
    CHECK(n > 0);
    struct vr_dns_response_info info;
    CHECK(vr_dns_parse_response(out, n, &q, &info) == 0);
    CHECK(info.n_addrs == 1 && memcmp(info.addrs[0].bytes, addr, 4) == 0 && info.min_ttl == 60);
    CHECK(vr_dns_get16(out) == 9 && (out[2] & 0x01)); /* id, RD kept */
    n = vr_dns_build_answer(qm, &q, VR_DNS_NXDOMAIN, NULL, 0, 0, 0, out, sizeof(out));
    CHECK(vr_dns_parse_response(out, n, &q, &info) == 0 && info.rcode == VR_DNS_NXDOMAIN && info.ancount == 0);
    CHECK(vr_dns_build_answer(qm, &q, VR_DNS_NOERROR, addr, 4, 1, 60, out, 20) == 0); /* too small */
    n = vr_dns_build_header_error(qm, qn, VR_DNS_FORMERR, out, sizeof(out));
    CHECK(n == 12 && (out[3] & 0xf) == VR_DNS_FORMERR && (out[2] & 0x80) && vr_dns_get16(out + 4) == 0);
    char buf[16];
    CHECK(strcmp(vr_dns_type_name(65, buf, sizeof(buf)), "HTTPS") == 0);
    CHECK(strcmp(vr_dns_type_name(99, buf, sizeof(buf)), "TYPE99") == 0);
    CHECK(vr_dns_type_parse("aaaa") == 28 && vr_dns_type_parse("TYPE64") == 64 && vr_dns_type_parse("x") == -1);
}

/* A fake name's HTTPS / SVCB (and, with no pool on this branch, A too): an
 * empty NOERROR answer, never real addresses. */
static void test_fake_answer(void)
{
    uint16_t types[] = {VR_DNS_T_HTTPS, VR_DNS_T_SVCB, VR_DNS_T_A, VR_DNS_T_MX};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        uint8_t qm[512], out[512];
        size_t qn = vr_dns_build_query("fake.example", types[i], 3, qm, sizeof(qm));
        struct vr_dns_query q;
        CHECK(vr_dns_parse_query(qm, qn, &q) == VR_DNS_PARSE_OK);
        size_t n = vr_dns_fake_answer(qm, &q, out, sizeof(out));
        struct vr_dns_response_info info;
        CHECK(n > 0 && vr_dns_parse_response(out, n, &q, &info) == 0);
        CHECK(info.rcode == VR_DNS_NOERROR && info.ancount == 0);
    }
}

int main(void)
{
    test_fake_answer();
    test_query();
    test_pointers();
    test_response();
    test_build();
    return vr_test_report();
}
