#include "socks5_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

size_t s5_greeting_build(uint8_t *buf, int with_auth)
{
    buf[0] = S5_VERSION;
    if (with_auth) {
        /* Offer only user/pass: a server must not let us in without it. */
        buf[1] = 1;
        buf[2] = S5_METHOD_USERPASS;
        return 3;
    }
    buf[1] = 1;
    buf[2] = S5_METHOD_NONE;
    return 3;
}

int s5_method_parse(const uint8_t *b, size_t len, int offered_auth, uint8_t *method,
                    const char **why)
{
    if (len >= 1 && b[0] != S5_VERSION) {
        *why = "method reply: wrong version";
        return S5_ERR;
    }
    if (len < 2)
        return S5_MORE;
    if (len > 2) {
        *why = "method reply longer than expected";
        return S5_ERR;
    }
    if (b[1] == S5_METHOD_REFUSED) {
        *why = "no acceptable authentication method";
        return S5_ERR;
    }
    if (b[1] != (offered_auth ? S5_METHOD_USERPASS : S5_METHOD_NONE)) {
        *why = "server chose a method we did not offer";
        return S5_ERR;
    }
    *method = b[1];
    return S5_OK;
}

int s5_auth_build(uint8_t *buf, const char *user, const char *pass)
{
    size_t ul = strlen(user), pl = strlen(pass);
    if (ul == 0 || ul > 255 || pl == 0 || pl > 255)
        return -EINVAL;
    buf[0] = S5_AUTH_VERSION;
    buf[1] = (uint8_t)ul;
    memcpy(buf + 2, user, ul);
    buf[2 + ul] = (uint8_t)pl;
    memcpy(buf + 3 + ul, pass, pl);
    return (int)(3 + ul + pl);
}

int s5_auth_parse(const uint8_t *b, size_t len, const char **why)
{
    if (len >= 1 && b[0] != S5_AUTH_VERSION) {
        *why = "auth reply: wrong version";
        return S5_ERR;
    }
    if (len < 2)
        return S5_MORE;
    if (len > 2) {
        *why = "auth reply longer than expected";
        return S5_ERR;
    }
    if (b[1] != 0) {
        *why = "authentication failed (bad username or password)";
        return S5_ERR;
    }
    return S5_OK;
}

static size_t s5_addr_put(uint8_t *p, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        p[0] = S5_ATYP_IPV4;
        memcpy(p + 1, &in->sin_addr, 4);
        memcpy(p + 5, &in->sin_port, 2);
        return 7;
    }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    p[0] = S5_ATYP_IPV6;
    memcpy(p + 1, &in6->sin6_addr, 16);
    memcpy(p + 17, &in6->sin6_port, 2);
    return 19;
}

static uint16_t s5_port_of(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_port;
    return ((const struct sockaddr_in6 *)sa)->sin6_port;
}

int s5_request_build(uint8_t *buf, uint8_t cmd, const struct sockaddr *dst, const char *domain)
{
    if (dst->sa_family != AF_INET && dst->sa_family != AF_INET6)
        return -EINVAL;
    buf[0] = S5_VERSION;
    buf[1] = cmd;
    buf[2] = 0;
    if (domain != NULL) {
        size_t dl = strlen(domain);
        if (dl == 0 || dl > 255)
            return -EINVAL;
        uint16_t port = s5_port_of(dst);
        buf[3] = S5_ATYP_DOMAIN;
        buf[4] = (uint8_t)dl;
        memcpy(buf + 5, domain, dl);
        memcpy(buf + 5 + dl, &port, 2);
        return (int)(7 + dl);
    }
    return (int)(3 + s5_addr_put(buf + 3, dst));
}

/* Length of ATYP+ADDR+PORT starting at p[0] = ATYP, given at least 2 bytes;
 * 0 for an unknown type. */
static size_t s5_addr_len(const uint8_t *p)
{
    switch (p[0]) {
    case S5_ATYP_IPV4:
        return 1 + 4 + 2;
    case S5_ATYP_IPV6:
        return 1 + 16 + 2;
    case S5_ATYP_DOMAIN:
        return 1 + 1 + (size_t)p[1] + 2;
    default:
        return 0;
    }
}

static void s5_addr_get(const uint8_t *p, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (p[0] == S5_ATYP_IPV4) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, p + 1, 4);
        memcpy(&in->sin_port, p + 5, 2);
    } else if (p[0] == S5_ATYP_IPV6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, p + 1, 16);
        memcpy(&in6->sin6_port, p + 17, 2);
    } else {
        ss->ss_family = AF_UNSPEC;
    }
}

int s5_reply_parse(const uint8_t *b, size_t len, size_t *need, struct sockaddr_storage *bound,
                   int *rep, const char **why)
{
    *rep = -1;
    *need = 5;
    if (len >= 1 && b[0] != S5_VERSION) {
        *why = "reply: wrong version";
        return S5_ERR;
    }
    if (len >= 2 && b[1] != 0) {
        /* A refusal is final whatever follows it. */
        *rep = b[1];
        *why = s5_rep_str(b[1]);
        return S5_ERR;
    }
    if (len >= 4 && b[3] != S5_ATYP_IPV4 && b[3] != S5_ATYP_IPV6 && b[3] != S5_ATYP_DOMAIN) {
        *why = "reply: bad address type";
        return S5_ERR;
    }
    if (len < 5)
        return S5_MORE;
    if (b[3] == S5_ATYP_DOMAIN && b[4] == 0) {
        *why = "reply: empty domain";
        return S5_ERR;
    }
    *need = 3 + s5_addr_len(b + 3);
    if (len < *need)
        return S5_MORE;
    s5_addr_get(b + 3, bound);
    return S5_OK;
}

const char *s5_rep_str(int rep)
{
    switch (rep) {
    case 0x00: return "succeeded";
    case 0x01: return "general SOCKS server failure (0x01)";
    case 0x02: return "connection not allowed by ruleset (0x02)";
    case 0x03: return "network unreachable (0x03)";
    case 0x04: return "host unreachable (0x04)";
    case 0x05: return "connection refused (0x05)";
    case 0x06: return "TTL expired (0x06)";
    case 0x07: return "command not supported (0x07)";
    case 0x08: return "address type not supported (0x08)";
    default: return "unassigned reply code";
    }
}

int s5_udp_header_build(uint8_t *buf, const struct sockaddr *dst)
{
    if (dst->sa_family != AF_INET && dst->sa_family != AF_INET6)
        return -EINVAL;
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = 0; /* FRAG: standalone datagram */
    return (int)(3 + s5_addr_put(buf + 3, dst));
}

int s5_udp_header_build_name(uint8_t *buf, const struct sockaddr *dst, const char *domain)
{
    /* RSV RSV FRAG, then the same ATYP 3 ADDR PORT as a request's */
    uint8_t req[S5_REQUEST_MAX];
    int n = s5_request_build(req, 0, dst, domain);
    if (n < 0)
        return n;
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = 0;
    memcpy(buf + 3, req + 3, (size_t)n - 3);
    return n;
}

int s5_udp_header_parse(const uint8_t *b, size_t len, size_t *hdrlen,
                        struct sockaddr_storage *from, const char **why)
{
    if (len < 5) {
        *why = "UDP header truncated";
        return S5_UDP_BAD;
    }
    if (b[2] != 0)
        return S5_UDP_FRAGMENT;
    size_t al = s5_addr_len(b + 3);
    if (al == 0) {
        *why = "UDP header: bad address type";
        return S5_UDP_BAD;
    }
    if (len < 3 + al) {
        *why = "UDP header truncated";
        return S5_UDP_BAD;
    }
    *hdrlen = 3 + al;
    if (b[3] == S5_ATYP_DOMAIN)
        return S5_UDP_DOMAIN;
    s5_addr_get(b + 3, from);
    return S5_UDP_OK;
}

/* The IPv4 address (host order) sa stands for, IPv4-mapped included;
 * 0 when it is a plain IPv6 address. */
static int s5_v4_of(const struct sockaddr *sa, uint32_t *out)
{
    if (sa->sa_family == AF_INET) {
        *out = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return 1;
    }
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!IN6_IS_ADDR_V4MAPPED(a))
        return 0;
    uint32_t v;
    memcpy(&v, a->s6_addr + 12, 4);
    *out = ntohl(v);
    return 1;
}

static int s5_v4_in(uint32_t a, uint32_t net, int bits)
{
    return (a & (0xffffffffu << (32 - bits))) == net;
}

int s5_src_classify(const struct sockaddr *sa)
{
    uint32_t a;
    if (s5_v4_of(sa, &a)) {
        if (s5_v4_in(a, 0x00000000u, 8))
            return S5_SRC_UNSPECIFIED;
        if (s5_v4_in(a, 0x7f000000u, 8))
            return S5_SRC_LOOPBACK;
        if (s5_v4_in(a, 0xe0000000u, 4))
            return S5_SRC_MULTICAST;
        if (s5_v4_in(a, 0xf0000000u, 4))
            return S5_SRC_BROADCAST;
        if (s5_v4_in(a, 0x0a000000u, 8) || s5_v4_in(a, 0xac100000u, 12) ||
            s5_v4_in(a, 0xc0a80000u, 16) || s5_v4_in(a, 0x64400000u, 10) ||
            s5_v4_in(a, 0xa9fe0000u, 16))
            return S5_SRC_PRIVATE;
        return S5_SRC_GLOBAL;
    }
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_UNSPECIFIED(a6))
        return S5_SRC_UNSPECIFIED;
    if (IN6_IS_ADDR_LOOPBACK(a6))
        return S5_SRC_LOOPBACK;
    if (IN6_IS_ADDR_MULTICAST(a6))
        return S5_SRC_MULTICAST;
    if ((a6->s6_addr[0] & 0xfe) == 0xfc || IN6_IS_ADDR_LINKLOCAL(a6))
        return S5_SRC_PRIVATE;
    return S5_SRC_GLOBAL;
}

const char *s5_src_class_str(int cls)
{
    switch (cls) {
    case S5_SRC_GLOBAL: return "global";
    case S5_SRC_UNSPECIFIED: return "unspecified";
    case S5_SRC_LOOPBACK: return "loopback";
    case S5_SRC_MULTICAST: return "multicast";
    case S5_SRC_BROADCAST: return "broadcast";
    case S5_SRC_PRIVATE: return "private";
    default: return "?";
    }
}
