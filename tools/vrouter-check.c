/*
 * vrouter-check [-f FILE] [--fix]: what does this host lack to run FILE?
 *
 * Sysctls (ip_forward, IPv6 forwarding, rp_filter on the capture
 * interfaces, route_localnet for a loopback listener), kernel features (nft
 * tproxy + socket match, multiple routing tables, IPv6; tried in a scratch
 * network namespace so the host's own firewall and rules are never touched),
 * capabilities (CAP_NET_ADMIN, CAP_NET_RAW), RLIMIT_NOFILE against
 * max_connections, and the listener ports in ip_local_reserved_ports.
 * --fix writes the sysctls it can. Exit status 0 only when the host is ready.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libconfig.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vr_config.h"

#define MAX_ITEMS 64

struct check_conf {
    int ports[MAX_ITEMS];
    int n_ports;
    bool ipv6;          /* a listener on "::" or an IPv6 address */
    bool loopback;      /* a listener on 127.0.0.0/8 */
    bool installers;    /* policy-routing / nftables configured */
    const char *ifaces[MAX_ITEMS];
    int n_ifaces;       /* 0: all interfaces but lo */
    long long max_connections;
};

static bool fix;
static int missing;

static void report(bool ok, const char *what, const char *hint)
{
    if (ok) {
        printf("ok       %s\n", what);
    } else {
        printf("MISSING  %s%s%s\n", what, hint ? ": " : "", hint ? hint : "");
        missing++;
    }
}

static int sysctl_path(const char *name, char *path, size_t len)
{
    int n = snprintf(path, len, "/proc/sys/%s", name);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    for (char *p = path + strlen("/proc/sys/"); *p; p++)
        if (*p == '.')
            *p = '/';
    return 0;
}

static int sysctl_read(const char *name, char *buf, size_t len)
{
    char path[256];
    if (sysctl_path(name, path, sizeof(path)) < 0)
        return -ENAMETOOLONG;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    if (fgets(buf, (int)len, f) == NULL)
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static long sysctl_int(const char *name)
{
    char buf[64];
    if (sysctl_read(name, buf, sizeof(buf)) < 0)
        return -1;
    return strtol(buf, NULL, 10);
}

static int sysctl_write(const char *name, const char *value)
{
    char path[256];
    if (sysctl_path(name, path, sizeof(path)) < 0)
        return -ENAMETOOLONG;
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -errno;
    int ok = fputs(value, f) >= 0;
    if (fclose(f) != 0 || !ok)
        return -EIO;
    return 0;
}

/* Check name == want; with --fix, write it. */
static void check_sysctl_eq(const char *name, long want, const char *why)
{
    char what[256], hint[256], val[32];
    long v = sysctl_int(name);
    snprintf(what, sizeof(what), "%s = %ld (%s)", name, want, why);
    if (v == want) {
        report(true, what, NULL);
        return;
    }
    snprintf(val, sizeof(val), "%ld", want);
    if (fix && sysctl_write(name, val) == 0 && sysctl_int(name) == want) {
        printf("fixed    %s (was %ld)\n", what, v);
        return;
    }
    snprintf(hint, sizeof(hint), "is %ld; sysctl -w %s=%ld", v, name, want);
    report(false, what, hint);
}

/* rp_filter: the kernel uses max(all, iface); strict (1) drops captured
 * flows, loose (2) and off (0) are fine. */
static void check_rp_filter(const char *iface)
{
    char name[128], what[256], hint[300];
    snprintf(name, sizeof(name), "net.ipv4.conf.%s.rp_filter", iface);
    long all = sysctl_int("net.ipv4.conf.all.rp_filter");
    long v = sysctl_int(name);
    snprintf(what, sizeof(what), "rp_filter on %s is not strict (all=%ld, %s=%ld)", iface, all, iface, v);
    bool ok = (all > v ? all : v) != 1;
    if (!ok && fix) {
        if (v == 1)
            sysctl_write(name, "2");
        if (all == 1)
            sysctl_write("net.ipv4.conf.all.rp_filter", "2");
        all = sysctl_int("net.ipv4.conf.all.rp_filter");
        v = sysctl_int(name);
        if ((all > v ? all : v) != 1) {
            printf("fixed    %s (set to loose, 2)\n", what);
            return;
        }
    }
    snprintf(hint, sizeof(hint), "sysctl -w %s=2 (and net.ipv4.conf.all.rp_filter=2 if it is 1)", name);
    report(ok, what, hint);
}

/* Run sh -c cmd in a scratch network namespace (stdin from input), so
 * nothing is left in the host's. Returns the exit status, or -1 when no
 * namespace could be made. */
static int run_scratch(const char *cmd, const char *input, bool *scratch)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(pfd[1]);
        dup2(pfd[0], 0);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        if (unshare(CLONE_NEWNET) < 0)
            _exit(99);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(98);
    }
    close(pfd[0]);
    if (input != NULL) {
        ssize_t w = write(pfd[1], input, strlen(input));
        (void)w;
    }
    close(pfd[1]);
    int st = 0;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
        return -1;
    *scratch = WEXITSTATUS(st) != 99;
    return WEXITSTATUS(st);
}

static void check_kernel(const struct check_conf *c)
{
    bool scratch = true;
    int rc = run_scratch("nft -f -",
                         "table inet vrouter_check {\n"
                         "  chain p { type filter hook prerouting priority mangle; policy accept;\n"
                         "    tcp flags & (fin | syn | rst | ack) != syn socket transparent 1 "
                         "meta mark set 0x1 accept\n"
                         "    meta l4proto udp socket transparent 1 meta mark set 0x1 accept\n"
                         "    meta l4proto { tcp, udp } tproxy to :1 meta mark set 0x1 accept\n"
                         "    fib daddr type local return\n  }\n}\n",
                         &scratch);
    if (!scratch) {
        printf("note     cannot create a scratch network namespace (need CAP_SYS_ADMIN); "
               "kernel features not probed\n");
        missing++;
        return;
    }
    report(rc == 0, "nftables with tproxy, socket and fib expressions (nft_tproxy, nft_socket, nft_fib)",
           "install nftables and load nft_tproxy / nft_socket / nft_fib_inet");
    rc = run_scratch("ip link set lo up && ip rule add fwmark 0x1 lookup 100 && ip route add local default dev lo table 100",
                     NULL, &scratch);
    report(rc == 0, "multiple IPv4 routing tables and fwmark rules (CONFIG_IP_MULTIPLE_TABLES)", NULL);
    if (c->ipv6) {
        report(sysctl_int("net.ipv6.conf.all.disable_ipv6") == 0, "IPv6 enabled",
               "sysctl -w net.ipv6.conf.all.disable_ipv6=0");
        rc = run_scratch("ip link set lo up && ip -6 rule add fwmark 0x1 lookup 100 && ip -6 route add local default dev lo table 100",
                         NULL, &scratch);
        report(rc == 0, "multiple IPv6 routing tables (CONFIG_IPV6_MULTIPLE_TABLES)", NULL);
    }
}

static void check_caps(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &h, d) < 0) {
        report(false, "capabilities readable", strerror(errno));
        return;
    }
    report((d[0].effective & (1u << CAP_NET_ADMIN)) != 0, "CAP_NET_ADMIN (rules, routes, nftables, IP_TRANSPARENT)",
           "run as root or with AmbientCapabilities=CAP_NET_ADMIN");
    report((d[0].effective & (1u << CAP_NET_RAW)) != 0, "CAP_NET_RAW (IP_TRANSPARENT on some kernels, SO_MARK)",
           "run as root or with AmbientCapabilities=CAP_NET_RAW");
}

/* The daemon's own estimate (vr_config_open_files) when the config loads;
 * with errors in it, TCP alone. */
static void check_nofile(const char *path, const struct check_conf *c)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    uint64_t udp = 0;
    unsigned long long need = (unsigned long long)c->max_connections * 2 + 4096;
    struct vr_config *vc = vr_config_load(path);
    if (vc != NULL && vc->errs.n == 0)
        need = vr_config_open_files(vc, &udp);
    vr_config_free(vc);
    char what[256], hint[160];
    snprintf(what, sizeof(what),
             "open-file hard limit %llu fits max_connections=%lld and %llu UDP files (needs about %llu)",
             (unsigned long long)rl.rlim_max, c->max_connections, (unsigned long long)udp, need);
    snprintf(hint, sizeof(hint),
             "raise LimitNOFILE= / ulimit -Hn to %llu or lower max_connections / udp.max_sessions", need);
    report(rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need, what, hint);
}

static bool port_in_list(const char *list, int port)
{
    const char *p = list;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p)
            break;
        if (*end == '-')
            b = strtol(end + 1, &end, 10);
        if (port >= a && port <= b)
            return true;
        p = *end == ',' ? end + 1 : end;
    }
    return false;
}

static void check_reserved_ports(const struct check_conf *c)
{
    char reserved[4096] = "", range[64] = "";
    sysctl_read("net.ipv4.ip_local_reserved_ports", reserved, sizeof(reserved));
    sysctl_read("net.ipv4.ip_local_port_range", range, sizeof(range));
    long lo = 32768, hi = 60999;
    sscanf(range, "%ld %ld", &lo, &hi);
    for (int i = 0; i < c->n_ports; i++) {
        int port = c->ports[i];
        char what[200], hint[200];
        snprintf(what, sizeof(what), "listener port %d cannot be taken by an outgoing socket", port);
        if (port < lo || port > hi || port_in_list(reserved, port)) {
            report(true, what, NULL);
            continue;
        }
        if (fix) {
            char nv[4200];
            snprintf(nv, sizeof(nv), "%s%s%d", reserved, reserved[0] ? "," : "", port);
            if (sysctl_write("net.ipv4.ip_local_reserved_ports", nv) == 0) {
                sysctl_read("net.ipv4.ip_local_reserved_ports", reserved, sizeof(reserved));
                if (port_in_list(reserved, port)) {
                    printf("fixed    %s (added to ip_local_reserved_ports)\n", what);
                    continue;
                }
            }
        }
        snprintf(hint, sizeof(hint), "it is in the ephemeral range %ld-%ld; add it to net.ipv4.ip_local_reserved_ports",
                 lo, hi);
        report(false, what, hint);
    }
}

static int read_conf(const char *path, config_t *cf, struct check_conf *c)
{
    config_init(cf);
    if (config_read_file(cf, path) != CONFIG_TRUE) {
        fprintf(stderr, "%s:%d: %s\n", config_error_file(cf) ? config_error_file(cf) : path,
                config_error_line(cf), config_error_text(cf));
        return -1;
    }
    c->max_connections = 65536;
    config_setting_t *d = config_lookup(cf, "daemon");
    if (d != NULL)
        config_setting_lookup_int64(d, "max_connections", &c->max_connections);
    config_setting_t *ls = config_lookup(cf, "listeners");
    for (int i = 0; ls != NULL && i < config_setting_length(ls) && c->n_ports < MAX_ITEMS; i++) {
        config_setting_t *l = config_setting_get_elem(ls, (unsigned)i);
        int port = 0;
        const char *addr = "::";
        config_setting_lookup_int(l, "port", &port);
        config_setting_lookup_string(l, "address", &addr);
        c->ports[c->n_ports++] = port;
        if (strchr(addr, ':') != NULL)
            c->ipv6 = true;
        if (strncmp(addr, "127.", 4) == 0)
            c->loopback = true;
    }
    config_setting_t *is = config_lookup(cf, "installers");
    for (int i = 0; is != NULL && i < config_setting_length(is); i++) {
        config_setting_t *b = config_setting_get_elem(is, (unsigned)i);
        const char *mod = "";
        config_setting_lookup_string(b, "module", &mod);
        c->installers = true;
        if (strcmp(mod, "nftables") != 0)
            continue;
        config_setting_t *ifs = config_setting_get_member(b, "interfaces");
        if (ifs != NULL && config_setting_type(ifs) == CONFIG_TYPE_STRING && c->n_ifaces < MAX_ITEMS)
            c->ifaces[c->n_ifaces++] = config_setting_get_string(ifs);
        for (int k = 0; ifs != NULL && k < config_setting_length(ifs) && c->n_ifaces < MAX_ITEMS; k++) {
            const char *s = config_setting_get_string_elem(ifs, (unsigned)k);
            if (s != NULL)
                c->ifaces[c->n_ifaces++] = s;
        }
    }
    return 0;
}

/* The interfaces traffic is captured on: the nftables block's list, or
 * every interface but lo. */
static void check_interfaces(const struct check_conf *c)
{
    if (c->n_ifaces > 0) {
        for (int i = 0; i < c->n_ifaces; i++) {
            check_rp_filter(c->ifaces[i]);
            if (c->loopback) {
                char name[128];
                snprintf(name, sizeof(name), "net.ipv4.conf.%s.route_localnet", c->ifaces[i]);
                check_sysctl_eq(name, 1, "a listener on 127.0.0.0/8 receives captured traffic");
            }
        }
        return;
    }
    FILE *f = popen("ls /sys/class/net", "r");
    char name[64];
    while (f != NULL && fscanf(f, "%63s", name) == 1) {
        if (strcmp(name, "lo") == 0 || strcmp(name, "bonding_masters") == 0)
            continue;
        check_rp_filter(name);
    }
    if (f != NULL)
        pclose(f);
}

int main(int argc, char **argv)
{
    const char *path = "/etc/vrouter.conf";
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'}, {"fix", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
        switch (o) {
        case 'f': path = optarg; break;
        case 'x': fix = true; break;
        default:
            fprintf(stderr, "usage: vrouter-check [-f FILE] [--fix]\n");
            return o == 'h' ? 0 : 2;
        }
    }
    config_t cf;
    struct check_conf c = {0};
    if (read_conf(path, &cf, &c) < 0) {
        config_destroy(&cf);
        return 2;
    }
    printf("checking this host for %s\n", path);
    check_sysctl_eq("net.ipv4.ip_forward", 1, "forward the clients' traffic");
    if (c.ipv6)
        check_sysctl_eq("net.ipv6.conf.all.forwarding", 1, "forward the clients' IPv6 traffic");
    if (c.installers)
        check_interfaces(&c);
    check_kernel(&c);
    check_caps();
    check_nofile(path, &c);
    check_reserved_ports(&c);
    config_destroy(&cf);
    printf("%s\n", missing ? "NOT READY" : "ready");
    return missing ? 1 : 0;
}
