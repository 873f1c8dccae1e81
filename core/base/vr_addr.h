/* Socket addresses and CIDR prefixes: parse, format, compare. */
#ifndef VR_ADDR_H
#define VR_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A prefix in network byte order; addr holds 4 bytes for AF_INET and 16 for
 * AF_INET6; bits past prefix are zero. */
struct vr_cidr {
    int family;
    uint8_t prefix;
    uint8_t addr[16];
};

/* Longest textual form of an address with port: "[v6%scope]:65535". */
#define VR_ADDRSTRLEN (INET6_ADDRSTRLEN + 16)

/* "198.18.0.0/15", "2001:db8::/32", or a bare address (a /32 or /128).
 * Host bits set past the prefix are an error. Returns 0 or -EINVAL. */
int vr_cidr_parse(const char *text, struct vr_cidr *out);

/* Does addr (4 or 16 bytes of family) fall inside the prefix? */
bool vr_cidr_contains(const struct vr_cidr *c, int family, const uint8_t *addr);

/* A numeric address without port ("198.18.1.2", "2001:db8::1") with a port
 * into a sockaddr; returns 0 or -EINVAL. */
int vr_sockaddr_parse(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *len);

/* "198.18.1.2:40000" / "[2001:db8::1]:443"; IPv4-mapped IPv6 prints as IPv4. */
const char *vr_sockaddr_str(const struct sockaddr *sa, char *buf, size_t buflen);

/* The family and address bytes of sa, unwrapping IPv4-mapped IPv6.
 * Returns the family (AF_INET/AF_INET6) and points *bytes into sa. */
int vr_sockaddr_bytes(const struct sockaddr *sa, const uint8_t **bytes);
uint16_t vr_sockaddr_port(const struct sockaddr *sa);
socklen_t vr_sockaddr_len(const struct sockaddr *sa);

/* Same family, address and port (IPv4-mapped IPv6 equals its IPv4). */
bool vr_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);
/* Whether addr (its port ignored) is one of this host's own addresses: a
 * plain socket (not transparent, no freebind) can bind it. if_unknown is the
 * answer when no socket can be made to ask. With net.ipv4.ip_nonlocal_bind
 * = 1 every address passes. */
bool vr_sockaddr_is_local(const struct sockaddr *addr, bool if_unknown);
/* Whether a listener bound to laddr:lport receives what is sent to dst (a
 * wildcard listener takes every local address on its port). */
bool vr_sockaddr_listener_takes(const struct sockaddr *laddr, uint16_t lport, const struct sockaddr *dst);

/* Rewrite an IPv4-mapped IPv6 address as plain AF_INET in place. */
void vr_sockaddr_unmap(struct sockaddr_storage *ss);

#endif
