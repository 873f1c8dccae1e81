/*
 * wireguard-bind outbound: sends flows out through an existing interface
 * (a WireGuard tunnel) with SO_BINDTODEVICE and a source address, and
 * watches the interface through netlink so connects fail fast, and the
 * instance reports itself unhealthy, while it is missing, down or has no
 * address.
 *   wg_bind.c        descriptor, config, create/destroy
 *   wg_bind_watch.c  interface state from libnl-route-3 caches
 *   wg_bind_sock.c   a socket bound to the interface and source address
 *   wg_bind_tcp.c    tcp_connect/tcp_cancel
 *   wg_bind_udp.c    udp_open/udp_send/udp_close
 */
#ifndef VR_WG_BIND_H
#define VR_WG_BIND_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>

#include <vrouter/vr_plugin.h>

struct nl_cache_mngr;
struct nl_cache;

struct wgb_link {
    struct wgb_link *prev, *next;
};

struct wgb_state {
    struct vr_instance *inst;
    const struct vr_host *host;
    char ifname[IFNAMSIZ];
    struct sockaddr_storage src_cfg; /* source_address, AF_UNSPEC when unset */
    uint32_t mark;
    uint32_t connect_timeout_ms;

    /* interface state, kept current by wg_bind_watch.c */
    struct nl_cache_mngr *mngr;
    struct nl_cache *links, *addrs;
    struct vr_watch *nl_watch;
    int ifindex;          /* 0: missing */
    int up;
    int has4, has6;
    struct in_addr addr4;
    struct in6_addr addr6;
    int usable;
    char reason[128];     /* why not usable */

    struct wgb_link pending, assocs;
    struct wgb_link by_name; /* connects by name (wg_bind_tcp.c), each holding one of pending */
    struct vr_counter *c_connects, *c_fail_fast, *c_connect_fail, *c_udp;
    uint8_t udp_buf[65536];
};

void wgb_link_add(struct wgb_link *head, struct wgb_link *l);
void wgb_link_del(struct wgb_link *l);

int wgb_watch_start(struct wgb_state *st);
void wgb_watch_stop(struct wgb_state *st);

/* A socket of type bound to the interface and to the source address for
 * family; fills src. Returns the fd, or a negative errno with why set. */
int wgb_socket(struct wgb_state *st, int family, int type, struct sockaddr_storage *src,
               const char **why);

int wgb_tcp_connect(void *state, const struct vr_flow *flow, vr_connect_cb cb, void *arg,
                    void **pending);
void wgb_tcp_cancel(void *state, void *pending);
void wgb_tcp_free_all(struct wgb_state *st);
int wgb_udp_open(void *state, const struct vr_flow *flow, vr_udp_recv_cb cb, void *arg,
                 void **assoc);
int wgb_udp_send(void *state, void *assoc, const struct sockaddr *dst, socklen_t dstlen,
                 const uint8_t *data, size_t len);
void wgb_udp_close(void *state, void *assoc);
void wgb_udp_free_all(struct wgb_state *st);
/* Ends (through the receive callback, err -ENETDOWN) every association
 * whose socket no longer leads anywhere: the interface is unusable, or it
 * was deleted and created again (a socket stays bound to the old ifindex).
 * The host then opens a new association for the client's next datagrams. */
void wgb_udp_end_stale(struct wgb_state *st);

#endif
