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

/* Takes the programs off the cgroup. The maps stay until the exit (unload):
 * a worker may be looking a peer up with the fd it just read. */
static void detach(bool unload)
{
    atomic_store(&peer_map_fd, -1);
    atomic_store(&udp_slot_fd, -1);
    atomic_store(&udp_back_fd, -1);
    atomic_store(&udp_port, 0);
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
 * address (the stand-ins are 127.128.0.0/16 addresses). */
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
        if (wildcard)
            s->udp_port = htons(l->port);
        else
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

int vr_cgroup_capture_apply(const struct vr_config *cfg)
{
    if (cfg == NULL || cfg->capture.cgroup == NULL) {
        if (skel)
            detach(cfg == NULL);
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
            else if (had_old)
                bpf_map_update_elem(bpf_map__fd(skel->maps.settings), &zero, &old, BPF_ANY);
            return r;
        }
        char a4[INET_ADDRSTRLEN] = "-", a6[INET6_ADDRSTRLEN] = "-";
        if (s.listen4)
            inet_ntop(AF_INET, &s.listen4, a4, sizeof(a4));
        if (memcmp(s.listen6, &in6addr_any, 16) != 0)
            inet_ntop(AF_INET6, s.listen6, a6, sizeof(a6));
        vr_info("capture_cgroup: TCP connects from %s go to %s port %u / %s port %u; UDP (IPv4, also IPv4-mapped) %s%u", c->cgroup,
                a4, ntohs(s.port4), a6, ntohs(s.port6), s.udp_port ? "to port " : "not captured", ntohs(s.udp_port));
    }
    atomic_store(&peer_map_fd, bpf_map__fd(skel->maps.dest_of_peer));
    atomic_store(&udp_slot_fd, bpf_map__fd(skel->maps.udp_slot_dest));
    atomic_store(&udp_back_fd, bpf_map__fd(skel->maps.udp_dest_slot));
    atomic_store(&udp_port, ntohs(s.udp_port));
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

int vr_cgroup_capture_udp_dest(struct sockaddr_storage *dst)
{
    int fd = atomic_load(&udp_slot_fd);
    uint32_t slot = stand_in_slot((const struct sockaddr *)dst, atomic_load(&udp_port));
    if (fd < 0 || slot == 0)
        return -ENOENT;
    struct cgcap_dest d;
    if (bpf_map_lookup_elem(fd, &slot, &d) < 0 || d.family != CGCAP_AF_INET)
        return -ENOENT;
    struct sockaddr_in *in = (struct sockaddr_in *)dst;
    memset(dst, 0, sizeof(*dst));
    in->sin_family = AF_INET;
    in->sin_port = d.port;
    memcpy(&in->sin_addr, d.addr, 4);
    return 0;
}

int vr_cgroup_capture_udp_reply(int fd, int fd_family, const struct sockaddr_storage *client,
                                const struct sockaddr_storage *src, const void *data, size_t len)
{
    int back = atomic_load(&udp_back_fd);
    int port = atomic_load(&udp_port);
    if (back < 0 || port == 0 || client->ss_family != AF_INET || src->ss_family != AF_INET)
        return -ENOENT;
    /* Only a local program's session: its client is a loopback address. */
    const struct sockaddr_in *cin = (const struct sockaddr_in *)client;
    if ((ntohl(cin->sin_addr.s_addr) >> 24) != 127)
        return -ENOENT;
    const struct sockaddr_in *in = (const struct sockaddr_in *)src;
    struct cgcap_dest d;
    memset(&d, 0, sizeof(d));
    d.family = CGCAP_AF_INET;
    d.port = in->sin_port;
    memcpy(d.addr, &in->sin_addr, 4);
    uint32_t slot;
    if (bpf_map_lookup_elem(back, &d, &slot) < 0 || slot == 0 || slot >= CGCAP_UDP_SLOTS)
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
