/* The cgroup capture's loader: see vr_cgroup_capture.h. */
#include "vr_cgroup_capture.h"

#include <errno.h>

#ifndef VR_HAVE_BPF

#include "vr_config.h"

int vr_cgroup_capture_apply(const struct vr_config *cfg)
{
    /* The config parser refuses capture_cgroup in such a build already. */
    return cfg && cfg->capture.cgroup ? -EOPNOTSUPP : 0;
}

int vr_cgroup_capture_origdst(const struct sockaddr_storage *peer, struct sockaddr_storage *dst)
{
    (void)peer;
    (void)dst;
    return -ENOENT;
}

int vr_cgroup_capture_udp_dest(struct sockaddr_storage *dst)
{
    (void)dst;
    return -ENOENT;
}

int vr_cgroup_capture_udp_reply(int fd, int fd_family, const struct sockaddr_storage *client,
                                const struct sockaddr_storage *src, const void *data, size_t len)
{
    (void)fd;
    (void)fd_family;
    (void)client;
    (void)src;
    (void)data;
    (void)len;
    return -ENOENT;
}

#else

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/types.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vrouter/vr_flow.h>

#include "cgroup_capture.h"
#include "cgroup_capture.skel.h"
#include "vr_addr.h"
#include "vr_config.h"
#include "vr_libbpf_print.h"
#include "vr_log.h"
#include "vr_standin_route.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static struct cgroup_capture_bpf *skel;
#define N_PROGS 9
static struct bpf_link *links[N_PROGS];
static char *attached_path;
/* Maps the workers read, -1 when off: dest_of_peer (TCP), udp_slot_dest
 * and udp_dest_slot (UDP); and the UDP listener's port (host order, 0: UDP
 * not captured). */
static atomic_int peer_map_fd = -1;
static atomic_int udp_slot_fd = -1;
static atomic_int udp_back_fd = -1;
static atomic_int udp_port;
/* IPv6 UDP: the stand-ins' /112 (bytes 0-7, 8-15 as stored; 0, 0: not
 * captured) and the local_v6 map, which tells a local program's client
 * address from a LAN client's. */
static _Atomic uint64_t udp6_hi, udp6_lo;
static atomic_int local6_fd = -1;

/* Takes the programs off the cgroup. The maps stay until the exit (unload):
 * a worker may be looking a peer up with the fd it just read. */
static void detach(bool unload)
{
    atomic_store(&peer_map_fd, -1);
    atomic_store(&udp_slot_fd, -1);
    atomic_store(&udp_back_fd, -1);
    atomic_store(&udp_port, 0);
    atomic_store(&udp6_hi, 0);
    atomic_store(&udp6_lo, 0);
    atomic_store(&local6_fd, -1);
    vr_standin_route_clear();
    for (int i = 0; i < N_PROGS; i++) {
        bpf_link__destroy(links[i]);
        links[i] = NULL;
    }
    if (attached_path)
        vr_info("capture_cgroup: detached from %s", attached_path);
    free(attached_path);
    attached_path = NULL;
    if (unload) {
        cgroup_capture_bpf__destroy(skel);
        skel = NULL;
    }
}

/* Where captured connects go: the first TCP listener, as a local address. */
static int listener_target(const struct vr_config *cfg, struct cgcap_settings *s)
{
    const struct vr_listener_cfg *l = NULL;
    for (size_t i = 0; i < cfg->n_listeners && l == NULL; i++)
        if (cfg->listeners[i].networks & VR_NET_TCP)
            l = &cfg->listeners[i];
    if (l == NULL)
        return -ENOENT;
    struct sockaddr_storage a = l->addr;
    vr_sockaddr_unmap(&a);
    if (a.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a;
        s->listen4 = in->sin_addr.s_addr ? in->sin_addr.s_addr : htonl(INADDR_LOOPBACK);
        s->port4 = in->sin_port;
        return 0;
    }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a;
    s->port4 = s->port6 = in6->sin6_port;
    if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) {
        s->listen4 = htonl(INADDR_LOOPBACK); /* a dual-stack wildcard listener takes both */
        memcpy(s->listen6, &in6addr_loopback, 16);
    } else {
        memcpy(s->listen6, &in6->sin6_addr, 16);
    }
    return 0;
}

/* UDP is captured to the first UDP listener when it takes every local
 * address (the stand-ins are 127.128.0.0/16 addresses, and for IPv6 ones
 * in daemon.capture_cgroup_udp_prefix_v6, which needs "::"). */
static void udp_target(const struct vr_config *cfg, struct cgcap_settings *s)
{
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct vr_listener_cfg *l = &cfg->listeners[i];
        if (!(l->networks & VR_NET_UDP))
            continue;
        struct sockaddr_storage a = l->addr;
        vr_sockaddr_unmap(&a);
        bool wildcard = a.ss_family == AF_INET ? ((struct sockaddr_in *)&a)->sin_addr.s_addr == 0
                                               : IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&a)->sin6_addr);
        if (wildcard) {
            s->udp_port = htons(l->port);
            const struct vr_cidr *p6 = &cfg->capture.udp_prefix_v6;
            if (a.ss_family == AF_INET6 && p6->prefix > 0)
                memcpy(s->udp6_net, p6->addr, 16);
            else if (p6->prefix > 0)
                vr_warn("capture_cgroup: UDP to IPv6 destinations not captured: the first UDP listener, %s, is "
                        "bound to \"0.0.0.0\" (the IPv6 stand-ins need \"::\")", l->tag);
        } else
            vr_warn("capture_cgroup: UDP not captured: the first UDP listener, %s, is bound to one address (the "
                    "capture needs it on \"::\" or \"0.0.0.0\")", l->tag);
        return;
    }
}

static int add4(const char *text, int prefix)
{
    struct cgcap_prefix4 k = {.prefixlen = (__u32)prefix};
    uint8_t one = 1;
    inet_pton(AF_INET, text, &k.addr);
    return bpf_map_update_elem(bpf_map__fd(skel->maps.local_v4), &k, &one, BPF_ANY);
}

static int add6(const char *text, int prefix)
{
    struct cgcap_prefix6 k = {.prefixlen = (__u32)prefix};
    uint8_t one = 1;
    inet_pton(AF_INET6, text, k.addr);
    return bpf_map_update_elem(bpf_map__fd(skel->maps.local_v6), &k, &one, BPF_ANY);
}

/* Destinations never captured: loopback, unspecified, multicast and this
 * host's addresses now (an address added later is proxied by vrouterd to
 * itself until the next reload: it still works, through one more hop; one
 * removed stays in the map, so a connect to it is not captured). */
static void fill_local(void)
{
    add4("127.0.0.0", 8);
    add4("0.0.0.0", 8);
    add4("224.0.0.0", 4);
    add4("255.255.255.255", 32);
    add6("::1", 128);
    add6("::", 128);
    add6("ff00::", 8);
    add6("fe80::", 10); /* link-local needs its scope, which the redirect would lose */
    add6("::ffff:127.0.0.0", 104);
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) < 0)
        return;
    char text[INET6_ADDRSTRLEN];
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (i->ifa_addr == NULL)
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, text, sizeof(text));
            add4(text, 32);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, text, sizeof(text));
            add6(text, 128);
        }
    }
    freeifaddrs(ifa);
}

static uint64_t netns_cookie(void)
{
    uint64_t cookie = 0;
    socklen_t len = sizeof(cookie);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) < 0)
            cookie = 0;
        close(fd);
    }
    return cookie;
}

static int load(const struct vr_capture_cfg *c)
{
    vr_libbpf_print_init();
    skel = cgroup_capture_bpf__open();
    int r = skel ? cgroup_capture_bpf__load(skel) : -errno;
    if (r < 0) {
        vr_err("%s:%d: daemon.capture_cgroup: cannot load the capture programs: %s%s", c->file, c->line,
               strerror(-r), r == -EPERM ? " (vrouterd needs CAP_BPF and CAP_NET_ADMIN, or root)" : "");
        cgroup_capture_bpf__destroy(skel);
        skel = NULL;
    }
    return r;
}

static int attach(const struct vr_capture_cfg *c)
{
    int cg = open(c->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) {
        int e = errno;
        vr_err("%s:%d: daemon.capture_cgroup: cannot open %s: %s", c->file, c->line, c->cgroup, strerror(e));
        return -e;
    }
    struct bpf_program *progs[N_PROGS] = {skel->progs.vrouterd_conn4, skel->progs.vrouterd_conn6,
                                          skel->progs.vrouterd_sockops, skel->progs.vrouterd_send4,
                                          skel->progs.vrouterd_recv4, skel->progs.vrouterd_peer4,
                                          skel->progs.vrouterd_peer6, skel->progs.vrouterd_send6,
                                          skel->progs.vrouterd_recv6};
    struct bpf_link *nl[N_PROGS] = {NULL};
    int r = 0;
    for (int i = 0; i < N_PROGS && r == 0; i++) {
        nl[i] = bpf_program__attach_cgroup(progs[i], cg);
        if (nl[i] == NULL) {
            r = -errno;
            vr_err("%s:%d: daemon.capture_cgroup: cannot attach %s to %s: %s", c->file, c->line,
                   bpf_program__name(progs[i]), c->cgroup, strerror(-r));
        }
    }
    close(cg);
    if (r < 0) {
        for (int i = 0; i < N_PROGS; i++)
            bpf_link__destroy(nl[i]);
        return r;
    }
    /* The new attachment is in place: the old one (another directory) goes. */
    for (int i = 0; i < N_PROGS; i++) {
        bpf_link__destroy(links[i]);
        links[i] = nl[i];
    }
    free(attached_path);
    attached_path = strdup(c->cgroup);
    return 0;
}

static bool udp6_wanted(const struct cgcap_settings *s)
{
    static const uint8_t none[16];
    return s->udp_port != 0 && memcmp(s->udp6_net, none, 16) != 0;
}

/* IPv6 UDP stand-ins need their prefix routed as local: set (or replace)
 * the route, and keep the prefix itself from being captured; without the
 * route (not wanted, or it failed) IPv6 UDP is left alone. */
static void udp6_route(const struct vr_capture_cfg *c, struct cgcap_settings *s)
{
    if (!udp6_wanted(s)) {
        memset(s->udp6_net, 0, 16);
        vr_standin_route_clear();
        return;
    }
    char err[300];
    if (vr_standin_route_set(&c->udp_prefix_v6, err, sizeof(err)) < 0) {
        vr_warn("%s:%d: daemon.capture_cgroup: UDP to IPv6 destinations not captured: %s", c->file, c->line, err);
        memset(s->udp6_net, 0, 16);
        vr_standin_route_clear();
        return;
    }
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, c->udp_prefix_v6.addr, text, sizeof(text));
    add6(text, c->udp_prefix_v6.prefix);
}

int vr_cgroup_capture_apply(const struct vr_config *cfg)
{
    if (cfg == NULL || cfg->capture.cgroup == NULL) {
        if (skel)
            detach(cfg == NULL);
        else if (cfg)
            vr_standin_route_clear(); /* the first time: a killed run's route goes */
        return 0;
    }
    const struct vr_capture_cfg *c = &cfg->capture;
    struct cgcap_settings s;
    memset(&s, 0, sizeof(s));
    if (listener_target(cfg, &s) < 0) {
        vr_err("%s:%d: daemon.capture_cgroup: no listener takes TCP: captured connects need one (add network = "
               "[\"tcp\"] to a listener)", c->file, c->line);
        return -ENOENT;
    }
    udp_target(cfg, &s);
    int ncpu = libbpf_num_possible_cpus();
    s.ncpu = ncpu > 0 ? (uint32_t)ncpu : 1;
    s.enabled = 1;
    s.bypass_mark = cfg->daemon.bypass_mark;
    s.daemon_tgid = (uint32_t)getpid();
    struct stat ns;
    if (stat("/proc/self/ns/pid", &ns) < 0) {
        int e = errno;
        vr_err("%s:%d: daemon.capture_cgroup: cannot read vrouterd's pid namespace (/proc/self/ns/pid: %s): "
               "without it vrouterd cannot tell its own connections apart", c->file, c->line, strerror(e));
        return -e;
    }
    s.pidns_dev = (uint64_t)ns.st_dev;
    s.pidns_ino = (uint64_t)ns.st_ino;
    s.netns_cookie = netns_cookie();
    if (s.netns_cookie == 0) {
        vr_err("%s:%d: daemon.capture_cgroup: cannot read this network namespace's cookie (SO_NETNS_COOKIE needs "
               "Linux 5.14 or later): the capture could not tell namespaces apart", c->file, c->line);
        return -EOPNOTSUPP;
    }
    bool fresh = skel == NULL;
    if (fresh) {
        int r = load(c);
        if (r < 0)
            return r;
    }
    fill_local(); /* addresses gained since the last apply (none is taken out) */
    udp6_route(c, &s);
    uint32_t zero = 0;
    struct cgcap_settings old;
    bool had_old = !fresh && bpf_map_lookup_elem(bpf_map__fd(skel->maps.settings), &zero, &old) == 0;
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.settings), &zero, &s, BPF_ANY) < 0) {
        int e = errno;
        vr_err("%s:%d: daemon.capture_cgroup: cannot set the capture's settings: %s", c->file, c->line, strerror(e));
        if (fresh)
            detach(true);
        return -e;
    }
    if (attached_path == NULL || strcmp(attached_path, c->cgroup) != 0) {
        int r = attach(c);
        if (r < 0) {
            if (fresh)
                detach(true);
            else if (had_old) {
                /* The route is the new prefix's now: the old stand-ins would
                 * leave the host, so IPv6 UDP waits for the next reload. */
                if (memcmp(old.udp6_net, s.udp6_net, 16) != 0)
                    memset(old.udp6_net, 0, 16);
                bpf_map_update_elem(bpf_map__fd(skel->maps.settings), &zero, &old, BPF_ANY);
            }
            return r;
        }
        char a4[INET_ADDRSTRLEN] = "-", a6[INET6_ADDRSTRLEN] = "-";
        if (s.listen4)
            inet_ntop(AF_INET, &s.listen4, a4, sizeof(a4));
        if (memcmp(s.listen6, &in6addr_any, 16) != 0)
            inet_ntop(AF_INET6, s.listen6, a6, sizeof(a6));
        vr_info("capture_cgroup: TCP connects from %s go to %s port %u / %s port %u; UDP (IPv4, also IPv4-mapped) %s%u",
                c->cgroup, a4, ntohs(s.port4), a6, ntohs(s.port6), s.udp_port ? "to port " : "not captured",
                ntohs(s.udp_port));
    }
    if (udp6_wanted(&s)) {
        char n6[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, s.udp6_net, n6, sizeof(n6));
        vr_info("capture_cgroup: UDP to IPv6 destinations goes to stand-ins %s+slot port %u", n6, ntohs(s.udp_port));
    } else {
        vr_info("capture_cgroup: UDP to IPv6 destinations not captured");
    }
    atomic_store(&peer_map_fd, bpf_map__fd(skel->maps.dest_of_peer));
    atomic_store(&udp_slot_fd, bpf_map__fd(skel->maps.udp_slot_dest));
    atomic_store(&udp_back_fd, bpf_map__fd(skel->maps.udp_dest_slot));
    atomic_store(&udp_port, ntohs(s.udp_port));
    uint64_t hi, lo;
    memcpy(&hi, s.udp6_net, 8);
    memcpy(&lo, s.udp6_net + 8, 8);
    atomic_store(&udp6_hi, hi);
    atomic_store(&udp6_lo, lo);
    atomic_store(&local6_fd, bpf_map__fd(skel->maps.local_v6));
    return 0;
}

int vr_cgroup_capture_origdst(const struct sockaddr_storage *peer, struct sockaddr_storage *dst)
{
    int fd = atomic_load(&peer_map_fd);
    if (fd < 0)
        return -ENOENT;
    struct cgcap_tuple t;
    memset(&t, 0, sizeof(t));
    const uint8_t *bytes;
    int family = vr_sockaddr_bytes((const struct sockaddr *)peer, &bytes);
    t.family = family == AF_INET ? CGCAP_AF_INET : CGCAP_AF_INET6;
    t.port = vr_sockaddr_port((const struct sockaddr *)peer);
    memcpy(t.addr, bytes, family == AF_INET ? 4 : 16);
    struct cgcap_dest d;
    if (bpf_map_lookup_and_delete_elem(fd, &t, &d) < 0)
        return -ENOENT;
    memset(dst, 0, sizeof(*dst));
    if (d.family == CGCAP_AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)dst;
        in->sin_family = AF_INET;
        in->sin_port = d.port;
        memcpy(&in->sin_addr, d.addr, 4);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)dst;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = d.port;
        memcpy(&in6->sin6_addr, d.addr, 16);
    }
    return 0;
}

/* 127.128.0.0 + slot, host order; 0 when a is no stand-in of port. */
static uint32_t stand_in_slot(const struct sockaddr *a, int port)
{
    if (a->sa_family != AF_INET || port == 0 || vr_sockaddr_port(a) != port)
        return 0;
    uint32_t h = ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr);
    return (h & CGCAP_UDP_MASK) == CGCAP_UDP_NET ? h & ~CGCAP_UDP_MASK : 0;
}

/* The IPv6 stand-ins' /112 now; false when IPv6 UDP is not captured. */
static bool udp6_net(uint8_t net[16])
{
    uint64_t hi = atomic_load(&udp6_hi), lo = atomic_load(&udp6_lo);
    memcpy(net, &hi, 8);
    memcpy(net + 8, &lo, 8);
    return (hi | lo) != 0;
}

/* udp6_net + slot; 0 when a is no IPv6 stand-in of port. */
static uint32_t stand_in_slot6(const struct sockaddr *a, int port)
{
    uint8_t net[16];
    if (a->sa_family != AF_INET6 || port == 0 || vr_sockaddr_port(a) != port || !udp6_net(net))
        return 0;
    const uint8_t *b = ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr;
    return memcmp(b, net, 14) == 0 ? (uint32_t)b[14] << 8 | b[15] : 0;
}

int vr_cgroup_capture_udp_dest(struct sockaddr_storage *dst)
{
    int fd = atomic_load(&udp_slot_fd);
    int port = atomic_load(&udp_port);
    int family = dst->ss_family == AF_INET ? CGCAP_AF_INET : CGCAP_AF_INET6;
    uint32_t slot = family == CGCAP_AF_INET ? stand_in_slot((const struct sockaddr *)dst, port)
                                            : stand_in_slot6((const struct sockaddr *)dst, port);
    if (fd < 0 || slot == 0)
        return -ENOENT;
    struct cgcap_dest d;
    if (bpf_map_lookup_elem(fd, &slot, &d) < 0 || d.family != family)
        return -ENOENT;
    memset(dst, 0, sizeof(*dst));
    if (family == CGCAP_AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)dst;
        in->sin_family = AF_INET;
        in->sin_port = d.port;
        memcpy(&in->sin_addr, d.addr, 4);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)dst;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = d.port;
        memcpy(&in6->sin6_addr, d.addr, 16);
    }
    return 0;
}

/* The stand-in slot of an original destination (the BPF side's reverse
 * map `back`), or 0 when it has none. */
static uint32_t standin_slot(int back, uint16_t family, uint16_t port, const void *addr, size_t alen)
{
    struct cgcap_dest d;
    memset(&d, 0, sizeof(d));
    d.family = family;
    d.port = port;
    memcpy(d.addr, addr, alen);
    uint32_t slot;
    if (bpf_map_lookup_elem(back, &d, &slot) < 0 || slot >= CGCAP_UDP_SLOTS)
        return 0;
    return slot;
}

/* The IPv6 twin of the reply below: a local program's client address is
 * one of this host's (local_v6 has them, and loopback), a LAN client's is
 * not; from udp6_net + slot through the listener's IPv6 socket. */
static int udp_reply6(int fd, int back, const struct sockaddr_storage *client, const struct sockaddr_storage *src,
                      const void *data, size_t len)
{
    uint8_t net[16];
    int local = atomic_load(&local6_fd);
    if (local < 0 || !udp6_net(net))
        return -ENOENT;
    const struct sockaddr_in6 *cin6 = (const struct sockaddr_in6 *)client;
    struct cgcap_prefix6 k = {.prefixlen = 128};
    memcpy(k.addr, &cin6->sin6_addr, 16);
    uint8_t one;
    if (bpf_map_lookup_elem(local, &k, &one) < 0)
        return -ENOENT;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)src;
    uint32_t slot = standin_slot(back, CGCAP_AF_INET6, in6->sin6_port, &in6->sin6_addr, 16);
    if (slot == 0)
        return -ENOENT;
    union {
        char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct sockaddr_in6 to = *cin6;
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr m = {.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
    struct in6_pktinfo pi;
    memset(&pi, 0, sizeof(pi));
    memcpy(&pi.ipi6_addr, net, 16);
    pi.ipi6_addr.s6_addr[14] = (uint8_t)(slot >> 8);
    pi.ipi6_addr.s6_addr[15] = (uint8_t)slot;
    memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    return sendmsg(fd, &m, MSG_DONTWAIT) < 0 ? -errno : 0;
}

int vr_cgroup_capture_udp_reply(int fd, int fd_family, const struct sockaddr_storage *client,
                                const struct sockaddr_storage *src, const void *data, size_t len)
{
    int back = atomic_load(&udp_back_fd);
    int port = atomic_load(&udp_port);
    if (back < 0 || port == 0)
        return -ENOENT;
    if (fd_family == AF_INET6 && client->ss_family == AF_INET6 && src->ss_family == AF_INET6)
        return udp_reply6(fd, back, client, src, data, len);
    if (client->ss_family != AF_INET || src->ss_family != AF_INET)
        return -ENOENT;
    /* Only a local program's session: its client is a loopback address. */
    const struct sockaddr_in *cin = (const struct sockaddr_in *)client;
    if ((ntohl(cin->sin_addr.s_addr) >> 24) != 127)
        return -ENOENT;
    const struct sockaddr_in *in = (const struct sockaddr_in *)src;
    uint32_t slot = standin_slot(back, CGCAP_AF_INET, in->sin_port, &in->sin_addr, 4);
    if (slot == 0)
        return -ENOENT;
    /* From the stand-in address on the listener's own port, through the
     * listener's socket: a socket bound to the stand-in would take the
     * program's next datagrams from the listener. */
    union {
        char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct sockaddr_storage to;
    memset(&to, 0, sizeof(to));
    socklen_t tolen;
    if (fd_family == AF_INET6) {
        struct sockaddr_in6 *t6 = (struct sockaddr_in6 *)&to;
        t6->sin6_family = AF_INET6;
        t6->sin6_port = cin->sin_port;
        t6->sin6_addr.s6_addr[10] = 0xff;
        t6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&t6->sin6_addr.s6_addr[12], &cin->sin_addr, 4);
        tolen = sizeof(*t6);
    } else {
        memcpy(&to, cin, sizeof(*cin));
        tolen = sizeof(*cin);
    }
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr m = {.msg_name = &to, .msg_namelen = tolen, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pi;
    memset(&pi, 0, sizeof(pi));
    pi.ipi_spec_dst.s_addr = htonl(CGCAP_UDP_NET | slot);
    memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    return sendmsg(fd, &m, MSG_DONTWAIT) < 0 ? -errno : 0;
}

#endif
