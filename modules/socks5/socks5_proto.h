/*
 * socks5: the wire format of RFC 1928 (SOCKS5) and RFC 1929
 * (username/password), as pure functions over bytes. No I/O, no state:
 * the connection state machine (socks5_conn.c, socks5_udp.c) feeds them
 * what it received and sends what they build.
 *
 * Parsers return S5_MORE (need more bytes; *need says how many in total
 * when known), S5_OK, or S5_ERR with *why set to a static, human-readable
 * description ("wrong version 0x04", "reply longer than expected").
 */
#ifndef VR_SOCKS5_PROTO_H
#define VR_SOCKS5_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum s5_status { S5_ERR = -1, S5_MORE = 0, S5_OK = 1 };

#define S5_VERSION 0x05
#define S5_AUTH_VERSION 0x01
#define S5_METHOD_NONE 0x00
#define S5_METHOD_USERPASS 0x02
#define S5_METHOD_REFUSED 0xff
#define S5_CMD_CONNECT 0x01
#define S5_CMD_UDP_ASSOCIATE 0x03
#define S5_ATYP_IPV4 0x01
#define S5_ATYP_DOMAIN 0x03
#define S5_ATYP_IPV6 0x04

/* The largest CONNECT/UDP ASSOCIATE reply: VER REP RSV ATYP LEN 255 PORT. */
#define S5_REPLY_MAX (4 + 1 + 255 + 2)
/* The largest request we build (same shape). */
#define S5_REQUEST_MAX S5_REPLY_MAX
/* The largest RFC 1929 request: VER ULEN 255 PLEN 255. */
#define S5_AUTH_MAX (1 + 1 + 255 + 1 + 255)

/* Greeting: VER NMETHODS METHODS. Offers user/pass only when with_auth. */
size_t s5_greeting_build(uint8_t *buf, int with_auth);

/* Method selection reply (exactly 2 bytes). *method is set on S5_OK. */
int s5_method_parse(const uint8_t *b, size_t len, int offered_auth, uint8_t *method,
                    const char **why);

/* RFC 1929 request; returns its length, or -EINVAL if a field is empty or
 * longer than 255 bytes. buf must hold S5_AUTH_MAX. */
int s5_auth_build(uint8_t *buf, const char *user, const char *pass);

/* RFC 1929 reply (exactly 2 bytes, STATUS 0 = success). */
int s5_auth_parse(const uint8_t *b, size_t len, const char **why);

/* CONNECT / UDP ASSOCIATE request for dst (its port is used), or for
 * domain:port of dst when domain is not NULL. Returns the length, or
 * -EINVAL (bad family, domain empty or longer than 255). buf must hold
 * S5_REQUEST_MAX. */
int s5_request_build(uint8_t *buf, uint8_t cmd, const struct sockaddr *dst, const char *domain);

/* Reply to CONNECT / UDP ASSOCIATE. Returns S5_MORE with *need = the total
 * length needed so far (5 until the address type is known, then the exact
 * reply length); S5_OK when b holds the whole reply (*need = its length;
 * bytes after it belong to the destination); S5_ERR otherwise, with *rep
 * set to the server's REP code when it refused (else -1). On S5_OK, bound
 * receives BND.ADDR:BND.PORT when it is an IP address (family AF_UNSPEC for
 * a domain). */
int s5_reply_parse(const uint8_t *b, size_t len, size_t *need, struct sockaddr_storage *bound,
                   int *rep, const char **why);

/* The meaning of a REP code (RFC 1928 section 6). */
const char *s5_rep_str(int rep);

/* UDP request header (RSV RSV FRAG ATYP ADDR PORT) for dst; returns its
 * length, or -EINVAL. buf must hold S5_REQUEST_MAX. */
int s5_udp_header_build(uint8_t *buf, const struct sockaddr *dst);
/* The same with the destination named by domain (ATYP 3) on dst's port:
 * for a flow that connects by name. -EINVAL for a name of 0 or > 255 bytes. */
int s5_udp_header_build_name(uint8_t *buf, const struct sockaddr *dst, const char *domain);

enum s5_udp_status { S5_UDP_OK = 0, S5_UDP_FRAGMENT = 1, S5_UDP_BAD = 2, S5_UDP_DOMAIN = 3 };

/* Parses a datagram from the relay. On S5_UDP_OK, *hdrlen is where the
 * payload starts and from holds the remote it came from. S5_UDP_FRAGMENT
 * for FRAG != 0 (we do not reassemble), S5_UDP_DOMAIN for a domain source
 * address (no sockaddr to hand on), S5_UDP_BAD with *why otherwise. */
int s5_udp_header_parse(const uint8_t *b, size_t len, size_t *hdrlen,
                        struct sockaddr_storage *from, const char **why);

/* What kind of address a UDP reply header claims as its source, judged
 * from the address alone (whether it is one of the gateway's own addresses
 * needs the host: see socks5_local.c). An IPv4-mapped IPv6 address is
 * judged as the IPv4 address it carries, as the core will unmap it. */
enum s5_src_class {
    S5_SRC_GLOBAL = 0,      /* an ordinary remote address */
    S5_SRC_UNSPECIFIED,     /* 0.0.0.0/8, :: */
    S5_SRC_LOOPBACK,        /* 127.0.0.0/8, ::1 */
    S5_SRC_MULTICAST,       /* 224.0.0.0/4, ff00::/8 */
    S5_SRC_BROADCAST,       /* 255.255.255.255 and the rest of 240.0.0.0/4 */
    S5_SRC_PRIVATE,         /* RFC 1918, 100.64/10, 169.254/16, fc00::/7, fe80::/10 */
};
int s5_src_classify(const struct sockaddr *sa);
/* "loopback", "multicast", ... for log lines. */
const char *s5_src_class_str(int cls);

#endif
