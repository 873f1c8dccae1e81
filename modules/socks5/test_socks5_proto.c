/* RFC 1928/1929 wire format: builders produce the exact bytes, parsers
 * accept good replies byte by byte and name every kind of lie. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "socks5_proto.h"
#include "vr_test.h"

static struct sockaddr_storage v4(const char *a, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, a, &in->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *a, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    inet_pton(AF_INET6, a, &in6->sin6_addr);
    return ss;
}

static void test_greeting_method(void)
{
    uint8_t b[4];
    const char *why = NULL;
    uint8_t m = 0xee;
    CHECK(s5_greeting_build(b, 0) == 3 && memcmp(b, "\x05\x01\x00", 3) == 0);
    CHECK(s5_greeting_build(b, 1) == 3 && memcmp(b, "\x05\x01\x02", 3) == 0);

    CHECK(s5_method_parse((const uint8_t *)"\x05", 1, 0, &m, &why) == S5_MORE);
    CHECK(s5_method_parse((const uint8_t *)"\x05\x00", 2, 0, &m, &why) == S5_OK && m == 0);
    CHECK(s5_method_parse((const uint8_t *)"\x05\x02", 2, 1, &m, &why) == S5_OK && m == 2);
    CHECK(s5_method_parse((const uint8_t *)"\x04", 1, 0, &m, &why) == S5_ERR);
    CHECK_STR_CONTAINS(why, "wrong version");
    CHECK(s5_method_parse((const uint8_t *)"\x05\xff", 2, 0, &m, &why) == S5_ERR);
    CHECK_STR_CONTAINS(why, "no acceptable");
    CHECK(s5_method_parse((const uint8_t *)"\x05\x02", 2, 0, &m, &why) == S5_ERR);
    CHECK_STR_CONTAINS(why, "did not offer");
    CHECK(s5_method_parse((const uint8_t *)"\x05\x00\x00", 3, 0, &m, &why) == S5_ERR);
    CHECK_STR_CONTAINS(why, "longer than expected");
}

static void test_auth(void)
{
    uint8_t b[S5_AUTH_MAX];
    const char *why = NULL;
    CHECK(s5_auth_build(b, "u", "pw") == 6 && memcmp(b, "\x01\x01u\x02pw", 6) == 0);
    CHECK(s5_auth_build(b, "", "pw") == -EINVAL);
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[299] = 0;
    CHECK(s5_auth_build(b, long_name, "pw") == -EINVAL);
    long_name[255] = 0;
    CHECK(s5_auth_build(b, long_name, "pw") == 3 + 255 + 2);

    CHECK(s5_auth_parse((const uint8_t *)"\x01", 1, &why) == S5_MORE);
    CHECK(s5_auth_parse((const uint8_t *)"\x01\x00", 2, &why) == S5_OK);
    CHECK(s5_auth_parse((const uint8_t *)"\x01\x01", 2, &why) == S5_ERR);
    CHECK_STR_CONTAINS(why, "authentication failed");
    CHECK(s5_auth_parse((const uint8_t *)"\x05\x00", 2, &why) == S5_ERR);
    CHECK_STR_CONTAINS(why, "wrong version");
    CHECK(s5_auth_parse((const uint8_t *)"\x01\x00\x00", 3, &why) == S5_ERR);
    CHECK_STR_CONTAINS(why, "longer than expected");
}

static void test_request(void)
{
    uint8_t b[S5_REQUEST_MAX];
    struct sockaddr_storage a4 = v4("198.19.2.2", 80), a6 = v6("2001:db8:2::2", 443);
    CHECK(s5_request_build(b, S5_CMD_CONNECT, (struct sockaddr *)&a4, NULL) == 10);
    CHECK(memcmp(b, "\x05\x01\x00\x01\xc6\x13\x02\x02\x00\x50", 10) == 0);
    CHECK(s5_request_build(b, S5_CMD_CONNECT, (struct sockaddr *)&a6, NULL) == 22);
    CHECK(memcmp(b, "\x05\x01\x00\x04\x20\x01\x0d\xb8\x00\x02", 10) == 0 && b[19] == 2 &&
          b[20] == 0x01 && b[21] == 0xbb);
    CHECK(s5_request_build(b, S5_CMD_CONNECT, (struct sockaddr *)&a4, "a.example") == 16);
    CHECK(memcmp(b, "\x05\x01\x00\x03\x09" "a.example" "\x00\x50", 16) == 0);
    CHECK(s5_request_build(b, S5_CMD_UDP_ASSOCIATE, (struct sockaddr *)&a4, NULL) == 10 &&
          b[1] == 3);
    CHECK(s5_request_build(b, S5_CMD_CONNECT, (struct sockaddr *)&a4, "") == -EINVAL);
    struct sockaddr_storage un;
    memset(&un, 0, sizeof(un));
    CHECK(s5_request_build(b, S5_CMD_CONNECT, (struct sockaddr *)&un, NULL) == -EINVAL);
}

/* Feeds a good reply one byte at a time: MORE until the exact end. */
static void check_reply_incremental(const uint8_t *r, size_t len, int family)
{
    size_t need = 0;
    int rep = 0;
    const char *why = NULL;
    struct sockaddr_storage bound;
    int more_ok = 1;
    for (size_t i = 0; i < len; i++) {
        if (s5_reply_parse(r, i, &need, &bound, &rep, &why) != S5_MORE || need > len)
            more_ok = 0;
    }
    CHECK(more_ok);
    CHECK(s5_reply_parse(r, len, &need, &bound, &rep, &why) == S5_OK && need == len);
    CHECK(bound.ss_family == family);
}

static void test_reply(void)
{
    size_t need = 0;
    int rep = 0;
    const char *why = NULL;
    struct sockaddr_storage bound;

    const uint8_t ok4[] = {5, 0, 0, 1, 198, 19, 2, 2, 0x1f, 0x90};
    check_reply_incremental(ok4, sizeof(ok4), AF_INET);
    CHECK(((struct sockaddr_in *)&bound)->sin_port == 0); /* not touched by the failed parse */
    s5_reply_parse(ok4, sizeof(ok4), &need, &bound, &rep, &why);
    CHECK(ntohs(((struct sockaddr_in *)&bound)->sin_port) == 8080);

    uint8_t ok6[22] = {5, 0, 0, 4, 0x20, 0x01, 0x0d, 0xb8};
    check_reply_incremental(ok6, sizeof(ok6), AF_INET6);

    const uint8_t okd[] = {5, 0, 0, 3, 3, 'a', '.', 'b', 0, 80};
    check_reply_incremental(okd, sizeof(okd), AF_UNSPEC);

    /* Bytes after the reply belong to the destination: still S5_OK, need
     * says where the reply ends. */
    uint8_t more[14];
    memcpy(more, ok4, sizeof(ok4));
    memcpy(more + sizeof(ok4), "HTTP", 4);
    CHECK(s5_reply_parse(more, sizeof(more), &need, &bound, &rep, &why) == S5_OK &&
          need == sizeof(ok4));

    /* Refusals: reported as soon as REP arrives, with its meaning. */
    const uint8_t refused[] = {5, 5};
    CHECK(s5_reply_parse(refused, 2, &need, &bound, &rep, &why) == S5_ERR && rep == 5);
    CHECK_STR_CONTAINS(why, "connection refused");
    const uint8_t ruleset[] = {5, 2, 0, 1, 0, 0, 0, 0, 0, 0};
    CHECK(s5_reply_parse(ruleset, sizeof(ruleset), &need, &bound, &rep, &why) == S5_ERR &&
          rep == 2);
    CHECK_STR_CONTAINS(why, "not allowed by ruleset");
    CHECK_STR_CONTAINS(s5_rep_str(0x42), "unassigned");

    /* Lies. */
    const uint8_t badver[] = {4, 0, 0, 1};
    CHECK(s5_reply_parse(badver, 1, &need, &bound, &rep, &why) == S5_ERR && rep == -1);
    CHECK_STR_CONTAINS(why, "wrong version");
    const uint8_t badatyp[] = {5, 0, 0, 7, 1, 2, 3};
    CHECK(s5_reply_parse(badatyp, 4, &need, &bound, &rep, &why) == S5_ERR);
    CHECK_STR_CONTAINS(why, "bad address type");
    const uint8_t emptyd[] = {5, 0, 0, 3, 0, 0, 80};
    CHECK(s5_reply_parse(emptyd, sizeof(emptyd), &need, &bound, &rep, &why) == S5_ERR);
    CHECK_STR_CONTAINS(why, "empty domain");
    /* A truncated reply is "more" here; the connection reports it at EOF. */
    CHECK(s5_reply_parse(ok4, 7, &need, &bound, &rep, &why) == S5_MORE && need == 10);
    /* The longest legal reply fits S5_REPLY_MAX exactly. */
    uint8_t longest[S5_REPLY_MAX] = {5, 0, 0, 3, 255};
    memset(longest + 5, 'x', 255);
    CHECK(s5_reply_parse(longest, sizeof(longest), &need, &bound, &rep, &why) == S5_OK &&
          need == S5_REPLY_MAX);
}

static void test_udp(void)
{
    uint8_t b[S5_REQUEST_MAX + 8];
    struct sockaddr_storage a4 = v4("198.19.2.2", 53), a6 = v6("2001:db8:2::2", 53), from;
    size_t hl = 0;
    const char *why = NULL;
    int n = s5_udp_header_build(b, (struct sockaddr *)&a4);
    CHECK(n == 10 && memcmp(b, "\x00\x00\x00\x01\xc6\x13\x02\x02\x00\x35", 10) == 0);
    memcpy(b + n, "data", 4);
    CHECK(s5_udp_header_parse(b, (size_t)n + 4, &hl, &from, &why) == S5_UDP_OK && hl == 10);
    CHECK(from.ss_family == AF_INET &&
          memcmp(&((struct sockaddr_in *)&from)->sin_addr, &((struct sockaddr_in *)&a4)->sin_addr,
                 4) == 0 &&
          ((struct sockaddr_in *)&from)->sin_port == htons(53));

    n = s5_udp_header_build(b, (struct sockaddr *)&a6);
    CHECK(n == 22);
    CHECK(s5_udp_header_parse(b, (size_t)n, &hl, &from, &why) == S5_UDP_OK && hl == 22 &&
          from.ss_family == AF_INET6);

    b[2] = 1; /* FRAG */
    CHECK(s5_udp_header_parse(b, (size_t)n, &hl, &from, &why) == S5_UDP_FRAGMENT);
    b[2] = 0;
    CHECK(s5_udp_header_parse(b, 21, &hl, &from, &why) == S5_UDP_BAD);
    CHECK_STR_CONTAINS(why, "truncated");
    CHECK(s5_udp_header_parse(b, 4, &hl, &from, &why) == S5_UDP_BAD);
    b[3] = 9;
    CHECK(s5_udp_header_parse(b, (size_t)n, &hl, &from, &why) == S5_UDP_BAD);
    CHECK_STR_CONTAINS(why, "bad address type");
    const uint8_t dom[] = {0, 0, 0, 3, 1, 'x', 0, 53, 'd'};
    CHECK(s5_udp_header_parse(dom, sizeof(dom), &hl, &from, &why) == S5_UDP_DOMAIN && hl == 8);
}

/* Reply sources the UDP relay must not hand on (or, private, only when
 * configured so), IPv4-mapped IPv6 judged as the IPv4 it carries. */
static void test_src_classify(void)
{
    static const struct {
        const char *a;
        int cls;
    } cases[] = {
        {"198.19.2.2", S5_SRC_GLOBAL},       {"8.8.8.8", S5_SRC_GLOBAL},
        {"0.0.0.0", S5_SRC_UNSPECIFIED},     {"0.1.2.3", S5_SRC_UNSPECIFIED},
        {"127.0.0.1", S5_SRC_LOOPBACK},      {"127.255.0.9", S5_SRC_LOOPBACK},
        {"224.0.0.251", S5_SRC_MULTICAST},   {"239.255.255.250", S5_SRC_MULTICAST},
        {"255.255.255.255", S5_SRC_BROADCAST}, {"240.0.0.1", S5_SRC_BROADCAST},
        {"10.1.2.3", S5_SRC_PRIVATE},        {"172.16.0.1", S5_SRC_PRIVATE},
        {"172.31.255.255", S5_SRC_PRIVATE},  {"172.32.0.1", S5_SRC_GLOBAL},
        {"192.168.1.1", S5_SRC_PRIVATE},     {"100.64.0.1", S5_SRC_PRIVATE},
        {"100.128.0.1", S5_SRC_GLOBAL},      {"169.254.1.1", S5_SRC_PRIVATE},
        {"2001:db8:2::2", S5_SRC_GLOBAL},    {"::", S5_SRC_UNSPECIFIED},
        {"::1", S5_SRC_LOOPBACK},            {"ff02::1", S5_SRC_MULTICAST},
        {"fd00::1", S5_SRC_PRIVATE},         {"fc00::1", S5_SRC_PRIVATE},
        {"fe80::1", S5_SRC_PRIVATE},         {"::ffff:127.0.0.1", S5_SRC_LOOPBACK},
        {"::ffff:10.0.0.1", S5_SRC_PRIVATE}, {"::ffff:198.19.2.2", S5_SRC_GLOBAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss = strchr(cases[i].a, ':') ? v6(cases[i].a, 53) : v4(cases[i].a, 53);
        int got = s5_src_classify((struct sockaddr *)&ss);
        if (got != cases[i].cls)
            fprintf(stderr, "  %s: %s, expected %s\n", cases[i].a, s5_src_class_str(got),
                    s5_src_class_str(cases[i].cls));
        CHECK(got == cases[i].cls);
    }
}

int main(void)
{
    test_greeting_method();
    test_auth();
    test_request();
    test_reply();
    test_udp();
    test_src_classify();
    return vr_test_report();
}
