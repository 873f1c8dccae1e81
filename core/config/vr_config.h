/* The parsed config file: daemon settings, listeners, the blocks handed to
 * modules, and the compiled rules. One per generation. */
#ifndef VR_CONFIG_H
#define VR_CONFIG_H

#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>

/* daemon.workers: more loops than this gain nothing on any gateway CPU. */
#define VR_MAX_WORKERS 64
#include <sys/socket.h>
#include <sys/types.h>

#include "vr_capture_config.h"
#include "vr_cfg_view.h"
#include "vr_errors.h"
#include "vr_rules.h"
#include "vr_xdp_config.h"

struct vr_fakeip_cfg;

enum vr_listen_mode { VR_MODE_TPROXY = 1, VR_MODE_REDIRECT = 2 };

/* UDP session keys (RFC 4787 mapping behaviour). */
enum vr_udp_nat {
    VR_UDP_NAT_ENDPOINT_INDEPENDENT = 0, /* one mapping per client address and port (full cone) */
    VR_UDP_NAT_ADDRESS_DEPENDENT = 1,    /* ... and remote address */
    VR_UDP_NAT_PORT_DEPENDENT = 2,       /* ... and remote address and port */
};

/* Most transparent reply sockets a UDP listener holds open at once. */
#define VR_UDP_REPLY_SOCKETS 4096

struct vr_udp_cfg {
    int nat;
    uint32_t idle_timeout_s;
    uint32_t dns_idle_timeout_s;
    uint32_t max_sessions;
    uint32_t max_sessions_per_client;
};

#define VR_MAX_SNIFFERS 8

struct vr_listener_cfg {
    char *tag;
    int mode;
    char *address;
    uint16_t port;
    uint32_t networks; /* mask of enum vr_network */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *sniff[VR_MAX_SNIFFERS];
    int n_sniff;
    uint32_t sniff_timeout_ms;
    uint16_t *sniff_skip_ports; /* server-first protocols: never wait for the client */
    int n_sniff_skip_ports;
    struct vr_udp_cfg udp;
    bool sniff_override; /* a sniffed domain that matched a domain rule is connected to by name (issue 16) */
    const char *file; /* where the block stands (includes) */
    int line;
};

/* A block naming a module (outbound or installer): the module reads it. */
struct vr_block_cfg {
    char *tag;
    char *module;
    struct vr_cfg *view;
    const char *file;
    int line;
};

/* daemon.module_path: the directories searched, in order, for <module>.so
 * (the first one holding it wins), so a drop-in directory can stand before
 * the packaged one. Never empty. */
struct vr_module_path {
    char **dirs;
    size_t n;
};

/* daemon.relay: how a connection's bytes move once its server is connected. */
enum vr_relay_kind {
    VR_RELAY_SPLICE,  /* splice(2) through pipes, in the worker (flow/vr_relay.c) */
    VR_RELAY_SOCKMAP, /* the kernel, through a BPF sockhash (flow/vr_relay_sockmap.c) */
    VR_RELAY_AUTO,    /* sockmap where the kernel takes it, else splice */
};
/* Chosen from bench/'s splice vs sockmap table (docs/PERFORMANCE.md). */
#define VR_RELAY_DEFAULT VR_RELAY_SPLICE

struct vr_daemon_cfg {
    struct vr_module_path module_path;
    int log_level;
    uint32_t bypass_mark;
    uint32_t max_connections;
    /* TCP connections one client may hold; 0: no cap. Unless set, a
     * quarter of the connections the daemon can take (see process/vr_process.c). */
    uint32_t max_connections_per_client;
    bool max_connections_per_client_set;
    /* IPv6 clients are counted per prefix of this length (IPv4 per /32). */
    uint8_t client_prefix_v6;
    uint32_t tcp_idle_timeout_s;
    uint32_t drain_timeout_s;
    uint32_t workers; /* event loops (threads); 0: one per online CPU. Read at start only */
    uint32_t retire_timeout_s; /* a generation replaced by a reload lives at most this long; 0: no limit */
    bool offload; /* daemon.offload: compile address-only rules into the nftables installer's table (vr_offload.h) */
    bool log_offloaded; /* daemon.log_offloaded: log fast path flows at their end from conntrack (vr_ct_log.h) */
    /* daemon.metrics = { address; port; }: the HTTP /metrics endpoint
     * (process/vr_metrics.c); off when the group is absent. */
    struct {
        bool enabled;
        char address[64];
        uint16_t port;
        struct sockaddr_storage addr;
        socklen_t addrlen;
        const char *file; /* where the group stands, for bind errors */
        int line;
    } metrics;
    /* daemon.control: the control socket (process/vr_control.c); off unless set. */
    bool control;
    char *control_path;
    uint32_t control_mode;
    char *control_group; /* NULL: root only */
    /* daemon.user / daemon.group: who vrouterd becomes once its setup as
     * root is done (process/vr_privdrop.c). user NULL: no drop. Both are
     * looked up when parsed (-t says when they do not exist). */
    char *user;
    char *group; /* NULL: the user's primary group */
    uid_t uid;
    gid_t gid;
    const char *user_file; /* where daemon.user stands, for later errors */
    int user_line;
    uint8_t relay;          /* enum vr_relay_kind */
    const char *relay_file; /* where daemon.relay stands (NULL: not set), for load errors */
    int relay_line;
};

#define VR_CONTROL_DEFAULT_PATH "/run/vrouterd/control.sock"

struct vr_dns_config;

struct vr_config {
    char *path;
    char *dir;
    config_t lc;
    struct vr_cfg_root root;
    struct vr_errors errs;
    struct vr_cfg *top;
    struct vr_daemon_cfg daemon;
    struct vr_listener_cfg *listeners;
    size_t n_listeners;
    struct vr_block_cfg *outbounds;
    size_t n_outbounds;
    struct vr_block_cfg *installers;
    size_t n_installers;
    struct vr_rules rules;
    struct vr_fakeip_cfg *fakeip; /* dns.fakeip (dns/vr_fakeip_config.h); NULL when absent */
    struct vr_xdp_cfg xdp; /* xdp = { ... }: the XDP source allow-list (bpf/vr_xdp.h) */
    struct vr_capture_cfg capture; /* daemon.capture_cgroup (bpf/vr_cgroup_capture.h) */
    struct vr_dns_config *dns; /* the dns block (core/dns/vr_dns_config.h); NULL when absent */
};

/* Reads and validates path. Returns a config whose errs.n says whether it is
 * usable (0 errors); NULL only when out of memory. The module blocks are
 * checked later, when their modules create instances. */
struct vr_config *vr_config_load(const char *path);
/* After every module has read its block: report keys nobody knew. */
int vr_config_check_unknown(struct vr_config *cfg);
void vr_config_free(struct vr_config *cfg);

/* Open files the config can need: two sockets per TCP connection
 * (max_connections), the splice pipes kept for them (vr_config_pipe_reserve,
 * two fds each), one outbound socket per UDP session and the reply sockets
 * of each UDP listener (*udp_files), plus VR_FD_RESERVE for modules,
 * listeners and the loop. The daemon raises its limit to this;
 * vrouter-check compares it with the hard limit. */
uint64_t vr_config_open_files(const struct vr_config *cfg, uint64_t *udp_files);

/* Files kept for listeners, modules, the event loop and logs. */
#define VR_FD_RESERVE 256
/* Pipes (two fds each) kept free for zero-copy relaying besides the two
 * sockets of each of conns connections: a thirty-second of conns, 16 to 1024.
 * A direction that finds none copies through a userspace buffer instead. */
uint64_t vr_config_pipe_reserve(uint64_t conns);

int vr_config_outbound_index(const struct vr_config *cfg, const char *tag);
const struct vr_listener_cfg *vr_config_listener(const struct vr_config *cfg, const char *tag);

#endif
