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
static struct bpf_link *links[3]; /* connect4, connect6, sockops */
static char *attached_path;
/* dest_of_peer's fd for the workers' lookups; -1 when off. */
static atomic_int peer_map_fd = -1;

/* Takes the programs off the cgroup. The maps stay until the exit (unload):
 * a worker may be looking a peer up with the fd it just read. */
static void detach(bool unload)
{
    atomic_store(&peer_map_fd, -1);
    for (int i = 0; i < 3; i++) {
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
    struct bpf_program *progs[3] = {skel->progs.vrouterd_conn4, skel->progs.vrouterd_conn6,
                                    skel->progs.vrouterd_sockops};
    struct bpf_link *nl[3] = {NULL, NULL, NULL};
    int r = 0;
    for (int i = 0; i < 3 && r == 0; i++) {
        nl[i] = bpf_program__attach_cgroup(progs[i], cg);
        if (nl[i] == NULL) {
            r = -errno;
            vr_err("%s:%d: daemon.capture_cgroup: cannot attach %s to %s: %s", c->file, c->line,
                   bpf_program__name(progs[i]), c->cgroup, strerror(-r));
        }
    }
    close(cg);
    if (r < 0) {
        for (int i = 0; i < 3; i++)
            bpf_link__destroy(nl[i]);
        return r;
    }
    /* The new attachment is in place: the old one (another directory) goes. */
    for (int i = 0; i < 3; i++) {
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
        vr_info("capture_cgroup: TCP connects from %s go to %s port %u / %s port %u", c->cgroup, a4, ntohs(s.port4),
                a6, ntohs(s.port6));
    }
    atomic_store(&peer_map_fd, bpf_map__fd(skel->maps.dest_of_peer));
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

#endif
