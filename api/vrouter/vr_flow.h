/*
 * vrouterd plugin ABI: the flow handed to an outbound.
 * The host fills it in and sets size; a module reads only fields below size
 * (use VR_HAS(flow, field) for fields appended after 1.0).
 */
#ifndef VROUTER_VR_FLOW_H
#define VROUTER_VR_FLOW_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include <vrouter/vr_abi.h>

enum vr_network {
    VR_NET_TCP = 1u << 0,
    VR_NET_UDP = 1u << 1,
};

struct vr_flow {
    uint32_t size;
    uint32_t network;                  /* VR_NET_TCP or VR_NET_UDP */
    uint64_t id;                       /* unique per daemon run, for log lines */
    struct sockaddr_storage src;       /* the client, as it sent the packet */
    struct sockaddr_storage dst;       /* original destination (IPv4 or IPv6) */
    const char *domain;                /* sniffed domain, normalised; NULL if unknown */
    const char *protocol;              /* sniffed protocol ("tls", "http"); NULL if unknown */
    const char *inbound;               /* tag of the listener the flow arrived on */
    const char *rule;                  /* name of the matching rule ("rule #3", "final") */
    /* ---- 1.1: test VR_HAS(flow, flags) before use. */
    uint32_t flags;                    /* VR_FLOW_* */
};

/* flags (1.1) */
enum vr_flow_flags {
    /* dst must not be connected to: it is a FakeIP address handed out by
     * vrouterd's resolver, or the listener asked for sniff_override. The
     * outbound connects to `domain` (never NULL then) on dst's port: a proxy
     * sends the name (socks5 ATYP 3), a direct path resolves it with
     * host->resolve first. */
    VR_FLOW_CONNECT_BY_NAME = 1u << 0,
};

#endif
