#include "vr_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int addr_size(int family) { return family == AF_INET ? 4 : 16; }

int vr_cidr_parse(const char *text, struct vr_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    size_t n = strlen(text);
    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, text, n + 1);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash != NULL) {
        *slash = '\0';
        char *end;
        if (slash[1] < '0' || slash[1] > '9')
            return -EINVAL;
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0' || errno != 0)
            return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, out->addr) == 1)
        out->family = AF_INET6;
    else
        return -EINVAL;
    int bits = addr_size(out->family) * 8;
    if (prefix < 0)
        prefix = bits;
    if (prefix > bits)
        return -EINVAL;
    out->prefix = (uint8_t)prefix;
    /* host bits must be zero: "198.18.1.1/24" is almost always a typo */
    for (int i = 0; i < addr_size(out->family); i++) {
        int keep = (int)prefix - i * 8;
        uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
        if (out->addr[i] & ~mask)
            return -EINVAL;
    }
    return 0;
}

bool vr_cidr_contains(const struct vr_cidr *c, int family, const uint8_t *addr)
{
    if (c->family != family)
        return false;
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

int vr_sockaddr_parse(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *len)
{
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *sin = (struct sockaddr_in *)out;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        if (len)
            *len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        if (len)
            *len = sizeof(*sin6);
        return 0;
    }
    return -EINVAL;
}

int vr_sockaddr_bytes(const struct sockaddr *sa, const uint8_t **bytes)
{
    if (sa->sa_family == AF_INET) {
        *bytes = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        return AF_INET;
    }
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
        *bytes = a6->s6_addr + 12;
        return AF_INET;
    }
    *bytes = a6->s6_addr;
    return AF_INET6;
}

uint16_t vr_sockaddr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

socklen_t vr_sockaddr_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

const char *vr_sockaddr_str(const struct sockaddr *sa, char *buf, size_t buflen)
{
    char ip[INET6_ADDRSTRLEN];
    const uint8_t *bytes;
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
        snprintf(buf, buflen, "(family %d)", sa->sa_family);
        return buf;
    }
    int family = vr_sockaddr_bytes(sa, &bytes);
    inet_ntop(family, bytes, ip, sizeof(ip));
    if (family == AF_INET)
        snprintf(buf, buflen, "%s:%u", ip, vr_sockaddr_port(sa));
    else
        snprintf(buf, buflen, "[%s]:%u", ip, vr_sockaddr_port(sa));
    return buf;
}

bool vr_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
    const uint8_t *ba, *bb;
    int fa = vr_sockaddr_bytes(a, &ba), fb = vr_sockaddr_bytes(b, &bb);
    return fa == fb && memcmp(ba, bb, (size_t)addr_size(fa)) == 0 &&
           vr_sockaddr_port(a) == vr_sockaddr_port(b);
}

void vr_sockaddr_unmap(struct sockaddr_storage *ss)
{
    if (ss->ss_family != AF_INET6)
        return;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
        return;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = sin6->sin6_port};
    memcpy(&sin.sin_addr, sin6->sin6_addr.s6_addr + 12, 4);
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, &sin, sizeof(sin));
}

bool vr_sockaddr_is_local(const struct sockaddr *addr, bool if_unknown)
{
    struct sockaddr_storage any;
    memcpy(&any, addr, vr_sockaddr_len(addr));
    if (any.ss_family == AF_INET)
        ((struct sockaddr_in *)&any)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)&any)->sin6_port = 0;
    int fd = socket(any.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return if_unknown;
    bool local = bind(fd, (struct sockaddr *)&any, vr_sockaddr_len((struct sockaddr *)&any)) == 0;
    close(fd);
    return local;
}

bool vr_sockaddr_listener_takes(const struct sockaddr *laddr, uint16_t lport, const struct sockaddr *dst)
{
    if (lport != vr_sockaddr_port(dst))
        return false;
    const uint8_t *lb, *db;
    int lf = vr_sockaddr_bytes(laddr, &lb);
    int df = vr_sockaddr_bytes(dst, &db);
    bool wildcard = (lf == AF_INET6 && memcmp(lb, &in6addr_any, 16) == 0) ||
                    (lf == AF_INET && memcmp(lb, "\0\0\0\0", 4) == 0);
    if (wildcard)
        return vr_sockaddr_is_local(dst, false);
    return lf == df && memcmp(lb, db, lf == AF_INET ? 4 : 16) == 0;
}
