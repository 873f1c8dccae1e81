/* A socket that leaves through the interface: SO_BINDTODEVICE, then bound
 * to source_address (when it has the right family) or to the interface's
 * own address of that family. */
#include "wg_bind.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void wgb_link_add(struct wgb_link *head, struct wgb_link *l)
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

void wgb_link_del(struct wgb_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

int wgb_socket(struct wgb_state *st, int family, int type, struct sockaddr_storage *src,
               const char **why)
{
    if (!st->usable) {
        *why = st->reason;
        return -ENETDOWN;
    }
    memset(src, 0, sizeof(*src));
    socklen_t sl;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)src;
        in->sin_family = AF_INET;
        if (st->src_cfg.ss_family == AF_INET) {
            in->sin_addr = ((struct sockaddr_in *)&st->src_cfg)->sin_addr;
        } else if (st->has4) {
            in->sin_addr = st->addr4;
        } else {
            *why = "the interface has no IPv4 address";
            return -EADDRNOTAVAIL;
        }
        sl = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)src;
        in6->sin6_family = AF_INET6;
        if (st->src_cfg.ss_family == AF_INET6) {
            in6->sin6_addr = ((struct sockaddr_in6 *)&st->src_cfg)->sin6_addr;
        } else if (st->has6) {
            in6->sin6_addr = st->addr6;
        } else {
            *why = "the interface has no IPv6 address";
            return -EADDRNOTAVAIL;
        }
        sl = sizeof(*in6);
    }
    int fd = st->host->socket_open(st->inst, family, type, st->mark);
    if (fd < 0) {
        *why = "socket";
        return fd;
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, st->ifname, (socklen_t)strlen(st->ifname)) <
        0) {
        *why = "SO_BINDTODEVICE";
        goto fail;
    }
    /* TCP: let connect() pick the port, so many flows share the address. */
    if (type == SOCK_STREAM && family == AF_INET)
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)src, sl) < 0) {
        *why = "bind to the source address";
        goto fail;
    }
    return fd;
fail:;
    int err = -errno;
    close(fd);
    return err;
}
