/*
 * libFuzzer harness for the socks5 outbound's wire format (socks5_proto.c):
 * what a SOCKS5 server sends (method and auth replies, the CONNECT / UDP
 * ASSOCIATE reply) and the header of every datagram its UDP relay sends.
 * Besides crashes (ASan, UBSan), it checks the parsers' contracts:
 *  - a status in range, S5_OK for the 2-byte replies only at exactly 2 bytes;
 *  - the request reply: on S5_OK need <= len, the reply alone (need bytes)
 *    parses the same, and every shorter prefix answers S5_MORE (what
 *    socks5_hs.c relies on to read exactly the reply and no byte of the
 *    destination's); on S5_MORE need > len;
 *  - the UDP header: hdrlen within the datagram, and an address header
 *    built from the parsed source is byte for byte the one parsed;
 *  - the source classifier answers a known class for any parsed source.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socks5_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_two_byte_replies(const uint8_t *data, size_t size)
{
    const char *why = NULL;
    uint8_t method = 0;
    for (int offered = 0; offered < 2; offered++) {
        int r = s5_method_parse(data, size, offered, &method, &why);
        if (r < S5_ERR || r > S5_OK || (r == S5_OK && size != 2) || (r == S5_ERR && why == NULL))
            abort();
    }
    why = NULL;
    int r = s5_auth_parse(data, size, &why);
    if (r < S5_ERR || r > S5_OK || (r == S5_OK && size != 2) || (r == S5_ERR && why == NULL))
        abort();
}

static void fuzz_request_reply(const uint8_t *data, size_t size)
{
    struct sockaddr_storage bound;
    size_t need = 0;
    int rep = -2;
    const char *why = NULL;
    int r = s5_reply_parse(data, size, &need, &bound, &rep, &why);
    if (r < S5_ERR || r > S5_OK || rep < -1 || rep > 255)
        abort();
    if (r == S5_MORE && need <= size)
        abort();
    if (r == S5_ERR && why == NULL)
        abort();
    if (r != S5_OK)
        return;
    if (need > size || need > S5_REPLY_MAX || need < 7)
        abort();
    if (bound.ss_family != AF_INET && bound.ss_family != AF_INET6 && bound.ss_family != AF_UNSPEC)
        abort();
    size_t need2 = 0;
    if (s5_reply_parse(data, need, &need2, &bound, &rep, &why) != S5_OK || need2 != need)
        abort();
    for (size_t cut = 0; cut < need; cut++) {
        size_t n = 0;
        if (s5_reply_parse(data, cut, &n, &bound, &rep, &why) != S5_MORE || n <= cut || n > need)
            abort();
    }
}

static void fuzz_udp_header(const uint8_t *data, size_t size)
{
    struct sockaddr_storage from;
    size_t hl = 0;
    const char *why = NULL;
    int r = s5_udp_header_parse(data, size, &hl, &from, &why);
    switch (r) {
    case S5_UDP_FRAGMENT:
        return;
    case S5_UDP_BAD:
        if (why == NULL)
            abort();
        return;
    case S5_UDP_DOMAIN:
        if (hl > size || hl < 3 + 1 + 1 + 2)
            abort();
        return;
    case S5_UDP_OK:
        break;
    default:
        abort();
    }
    if (hl > size || (from.ss_family != AF_INET && from.ss_family != AF_INET6))
        abort();
    uint8_t built[S5_REQUEST_MAX];
    int bl = s5_udp_header_build(built, (const struct sockaddr *)&from);
    if (bl < 0 || (size_t)bl != hl || memcmp(built + 3, data + 3, hl - 3) != 0)
        abort();
    int cls = s5_src_classify((const struct sockaddr *)&from);
    if (cls < S5_SRC_GLOBAL || cls > S5_SRC_PRIVATE || s5_src_class_str(cls)[0] == '?')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_two_byte_replies(data, size);
    fuzz_request_reply(data, size);
    fuzz_udp_header(data, size);
    return 0;
}
