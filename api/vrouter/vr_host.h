/*
 * vrouterd plugin ABI: services the host offers a module.
 *
 * The host hands a module a const struct vr_host * (to init, and to every
 * create as its host argument); a module keeps that pointer and calls
 * through it. Entries appended in later 1.x minors are tested with
 * VR_HAS(host, entry) before use.
 *
 * Conventions: calls return 0 or a negative errno. Strings returned by the
 * host stay valid for the lifetime of the instance they belong to. Strings a
 * module hands the host (log arguments, cfg_error, health_set's reason,
 * connect_fail_reason, a vr_connect_cb reason) need only stay valid during
 * the call: the host copies what it keeps (a health reason is cut at 127
 * bytes, a connect reason at 159), and a receiver of vr_connect_cb must copy
 * the reason before returning if it keeps it.
 */
#ifndef VROUTER_VR_HOST_H
#define VROUTER_VR_HOST_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>

#include <vrouter/vr_abi.h>
#include <vrouter/vr_flow.h>

/* The host's handle for one instance of a module (one config block, one
 * config generation, one worker). Opaque. */
struct vr_instance;

/* A read-only view of the instance's config block. Opaque: libconfig is not
 * part of the ABI. */
struct vr_cfg;

struct vr_watch; /* an fd watch bound to an instance */
struct vr_timer; /* a timer bound to an instance */
struct vr_counter; /* a named statistics counter bound to an instance */
struct vr_outbound_ref; /* another outbound of the same generation (for composites) */

enum vr_log_level {
    VR_LOG_ERROR = 0,
    VR_LOG_WARN = 1,
    VR_LOG_INFO = 2,
    VR_LOG_DEBUG = 3,
};

enum vr_watch_events {
    VR_EV_READ = 1u << 0,
    VR_EV_WRITE = 1u << 1,
    /* 1.2: reported (never asked for) to modules built for 1.2 or later,
     * TOGETHER WITH the events the watch asked for (an error makes an fd
     * both readable and writable, as before 1.2), when the fd has a pending
     * error (EPOLLERR). On a socket with a TCP connect under way, a write
     * report without VR_EV_ERROR means the connect succeeded: read
     * SO_ERROR only when VR_EV_ERROR is set. A module built for 1.0 or 1.1
     * never sees this bit. */
    VR_EV_ERROR = 1u << 2,
};

/* What cfg_type answers. */
enum vr_cfg_type {
    VR_CFG_INT = 1,
    VR_CFG_BOOL = 2,
    VR_CFG_STRING = 3,
    VR_CFG_FLOAT = 4,
    VR_CFG_LIST = 5,
    VR_CFG_GROUP = 6,
};

typedef void (*vr_watch_cb)(int fd, unsigned events, void *arg);
typedef void (*vr_timer_cb)(void *arg);

/* Completion of an asynchronous TCP connect: exactly once, never from inside
 * the call that started it, never after a cancel.
 * On success fd >= 0 is a connected, non-blocking socket whose ownership
 * passes to the receiver, err == 0 and reason == NULL.
 * On failure fd == -1, err is a negative errno and reason a short text for
 * the log ("connect timeout", "socks5: server refused: 0x05"), or NULL; it is
 * valid only during the call (the host copies it onto the connection's close
 * line). A failure known at once is not deferred to this callback: tcp_connect
 * returns the errno and, since 1.1, gives the reason through
 * host->connect_fail_reason. */
typedef void (*vr_connect_cb)(void *arg, int fd, int err, const char *reason);

/* A datagram arriving on a UDP association, or (data == NULL, err < 0) the
 * end of the association. from is the remote that sent it. */
/* Completion of host->resolve (1.1): exactly once, never from inside the
 * call that started it, never after resolve_cancel. err is 0 with n >= 1
 * addresses (n <= 16, IPv4 as struct in_addr in a vr_resolved of family
 * AF_INET, IPv6 likewise), or a negative errno with n == 0: -ENOENT for
 * NXDOMAIN or no address of the family asked, -ETIMEDOUT, -ECONNREFUSED
 * when the rules reject the name. ttl is the answer's TTL in seconds. addrs
 * is valid only during the call. */
struct vr_resolved {
    int family; /* AF_INET or AF_INET6 */
    union {
        struct in_addr v4;
        struct in6_addr v6;
    } addr;
};
typedef void (*vr_resolve_cb)(void *arg, int err, const struct vr_resolved *addrs, size_t n,
                              uint32_t ttl);

typedef void (*vr_udp_recv_cb)(void *arg, const struct sockaddr *from, socklen_t fromlen,
                               const uint8_t *data, size_t len, int err);

struct vr_host {
    uint32_t size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* ---- logging: "[module/instance] message"; the level is checked before
     * formatting, so log_enabled is only for expensive arguments. */
    void (*log)(const struct vr_instance *inst, int level, const char *fmt, ...) VR_PRINTF(3, 4);
    void (*vlog)(const struct vr_instance *inst, int level, const char *fmt, va_list ap);
    int (*log_enabled)(const struct vr_instance *inst, int level);

    /* ---- instance identity */
    const char *(*instance_tag)(const struct vr_instance *inst);    /* the block's tag, or module name */
    const struct vr_cfg *(*instance_cfg)(const struct vr_instance *inst);

    /* ---- config view. Getters return 0 when found, -ENOENT when the key is
     * absent (nothing recorded), -EINVAL when it has the wrong type (an error
     * naming FILE:LINE is recorded and create must fail). Every key a module
     * reads counts as known; a key in the block that create never read is
     * reported by the host as an unknown key. A list getter accepts a single
     * scalar as a list of one. */
    int (*cfg_int)(const struct vr_cfg *cfg, const char *key, int64_t *out);
    int (*cfg_bool)(const struct vr_cfg *cfg, const char *key, int *out);
    int (*cfg_string)(const struct vr_cfg *cfg, const char *key, const char **out);
    int (*cfg_list_len)(const struct vr_cfg *cfg, const char *key); /* >= 0, or -ENOENT/-EINVAL */
    int (*cfg_list_int)(const struct vr_cfg *cfg, const char *key, int idx, int64_t *out);
    int (*cfg_list_string)(const struct vr_cfg *cfg, const char *key, int idx, const char **out);
    /* A nested group ("health_check = { ... }") or an element of a list of
     * groups; NULL when absent or of the wrong type (then an error is recorded). */
    const struct vr_cfg *(*cfg_group)(const struct vr_cfg *cfg, const char *key);
    const struct vr_cfg *(*cfg_list_group)(const struct vr_cfg *cfg, const char *key, int idx);
    /* Records "FILE:LINE: <block>: <key>: message" at the key's line (or the
     * block's line when key is NULL or absent). Create must then fail. */
    void (*cfg_error)(const struct vr_cfg *cfg, const char *key, const char *fmt, ...) VR_PRINTF(3, 4);
    /* A path relative to the config file's directory, made absolute. */
    const char *(*cfg_path)(const struct vr_cfg *cfg, const char *path);

    /* ---- event loop, bound to the instance: the host cancels whatever is
     * left when the instance is destroyed. Watches are persistent until
     * removed and LEVEL-triggered: the callback runs again on every loop
     * iteration while the fd stays readable (or writable) for the events
     * asked, so a callback need not drain the fd, and a write watch must be
     * modified to read-only (or removed) once there is nothing to write.
     * events is a mask of enum vr_watch_events; watch_modify(w, 0) pauses. */
    struct vr_watch *(*watch_add)(struct vr_instance *inst, int fd, unsigned events, vr_watch_cb cb,
                                  void *arg);
    int (*watch_modify)(struct vr_watch *w, unsigned events);
    void (*watch_del)(struct vr_watch *w); /* NULL is a no-op; does not close fd */
    /* One-shot unless repeat; a one-shot timer is freed after it fires. */
    struct vr_timer *(*timer_add)(struct vr_instance *inst, uint32_t ms, int repeat, vr_timer_cb cb,
                                  void *arg);
    void (*timer_del)(struct vr_timer *t); /* NULL is a no-op */
    uint64_t (*now_ms)(void);              /* monotonic milliseconds */

    /* ---- statistics: a counter belongs to its instance, so counters
     * restart at 0 with every generation (a reload creates new instances;
     * the old ones' counters go with them, and /metrics shows the active
     * generation's). An instance per worker keeps its own counters. A value
     * that must survive reloads is not a counter: keep it outside the
     * instance (thread-safe, see the threading contract in vr_abi.h). */
    struct vr_counter *(*counter)(struct vr_instance *inst, const char *name);
    void (*counter_add)(struct vr_counter *c, int64_t delta);
    void (*counter_set)(struct vr_counter *c, int64_t value);

    /* ---- health: an outbound reports whether it can take new flows; the
     * host and composite outbounds (ecmp) read it. Instances start healthy. */
    void (*health_set)(struct vr_instance *inst, int healthy, const char *reason);

    /* ---- sockets toward the outside: non-blocking, close-on-exec, with
     * SO_MARK set to mark, or to the daemon's bypass_mark when mark is 0, so
     * the capture rules never take vrouterd's own traffic back. */
    int (*socket_open)(struct vr_instance *inst, int family, int type, uint32_t mark);

    /* ---- other outbounds of the same generation, for composite outbounds.
     * outbound_find may only be called from create; it fails (NULL, error
     * recorded at key) for an unknown tag or a reference cycle. */
    struct vr_outbound_ref *(*outbound_find)(struct vr_instance *inst, const struct vr_cfg *cfg,
                                             const char *key, const char *tag);
    int (*outbound_healthy)(const struct vr_outbound_ref *ref);
    const char *(*outbound_tag)(const struct vr_outbound_ref *ref);
    int (*outbound_tcp_connect)(struct vr_outbound_ref *ref, const struct vr_flow *flow,
                                vr_connect_cb cb, void *arg, void **pending);
    void (*outbound_tcp_cancel)(struct vr_outbound_ref *ref, void *pending);
    int (*outbound_udp_open)(struct vr_outbound_ref *ref, const struct vr_flow *flow,
                             vr_udp_recv_cb cb, void *arg, void **assoc);
    int (*outbound_udp_send)(struct vr_outbound_ref *ref, void *assoc, const struct sockaddr *dst,
                             socklen_t dstlen, const uint8_t *data, size_t len);
    void (*outbound_udp_close)(struct vr_outbound_ref *ref, void *assoc);

    /* ---- daemon facts, for installers and health probes */
    uint32_t (*bypass_mark)(const struct vr_instance *inst);
    /* The listener with this tag in the instance's generation: its port and
     * its networks (mask of enum vr_network). -ENOENT if there is none. */
    int (*listener_info)(const struct vr_instance *inst, const char *tag, uint16_t *port,
                         uint32_t *networks);

    /* ---- 1.1: test VR_HAS(host, cfg_type) before use.
     * The type of a key (enum vr_cfg_type), or -ENOENT when absent. Records
     * nothing; marks the key known like the getters. For a key that takes
     * more than one type (socks5's send_domain = true or "verified"). */
    int (*cfg_type)(const struct vr_cfg *cfg, const char *key);

    /* ---- 1.1, appended after cfg_type: test VR_HAS(host, connect_fail_reason).
     * The reason of a TCP connect refused at once. Call it from inside
     * tcp_connect, right before returning the negative errno, with the flow
     * tcp_connect was given: the connection's close line then reads
     * "connect failed: <text>" instead of the errno's strerror, without
     * deferring the failure through a 0 ms timer to reach vr_connect_cb's
     * reason. The host formats and copies the text during the call (the
     * arguments need not outlive it). A composite outbound's member calling
     * it for the same flow (through outbound_tcp_connect) sets it too; the
     * last call before tcp_connect returns wins, so the composite may give
     * its own. Ignored anywhere else (another flow, such as a health probe's,
     * or after tcp_connect returned 0). */
    void (*connect_fail_reason)(const struct vr_flow *flow, const char *fmt, ...) VR_PRINTF(2, 3);

    /* ---- 1.1, appended after connect_fail_reason: test VR_HAS(host, member_health).
     * A composite outbound's view of one of its members (ecmp: the member's
     * own health and its probe): up or not, and a detail such as the last
     * probe's result. Shown by `vrouterctl outbounds` and exported as
     * vrouter_outbound_up{outbound, member}. Call it when either changes
     * (calling it again with the same values is cheap); member and detail
     * are copied. At most 64 members per instance are kept. */
    void (*member_health)(struct vr_instance *inst, const char *member, int up, const char *detail);

    /* ---- 1.1, appended after member_health: test VR_HAS(host, route_plan_nft).
     * The kernel fast path (issue 15, docs/INSTALLERS.md): the generation's
     * first-match route plan compiled to nftables for flows captured to the
     * listener tagged `listener`: table-body text (named sets and a chain
     * named `fastpath` whose verdicts are accept = the kernel forwards the
     * flow, reject, drop, and return = capture it) that an installer places
     * in its table and jumps to right before its tproxy statement. *out is
     * malloc'd (the caller frees it), or NULL when daemon.offload is off or
     * no flow can be decided in the kernel. For installers (main thread).
     * Returns 0 or a negative errno. */
    int (*route_plan_nft)(const struct vr_instance *inst, const char *listener, char **out);
    /* Every flow the fast path forwards gets a conntrack mark m with
     * (m & VR_FASTPATH_CT_MASK) == VR_FASTPATH_CT_BASE on its first packet
     * (see the defines below the struct), one per rule; the text may also
     * hold a map `fastpath_route` (type mark : mark) from that conntrack
     * mark to the packet mark (routing) its later packets must carry again,
     * and a verdict map `fastpath_seg` (type mark : verdict) to the rule's
     * chain fastpath_seg_N that counts them. */

    /* ---- 1.1, appended after route_plan_nft: test VR_HAS(host, resolve).
     * Resolve a name through vrouterd's own resolver (the dns block: its
     * rules, cache and upstreams; FakeIP never answers here, an outbound gets
     * real addresses). family is AF_INET, AF_INET6, or AF_UNSPEC for both
     * (IPv4 first). Returns 0 and sets *pending (for resolve_cancel) with cb
     * called later, or a negative errno at once (-ENOSYS: no dns block is
     * configured). Bound to the instance: what is pending when the instance
     * is destroyed is cancelled. */
    int (*resolve)(struct vr_instance *inst, const char *name, int family, vr_resolve_cb cb,
                   void *arg, void **pending);
    void (*resolve_cancel)(struct vr_instance *inst, void *pending); /* NULL pending: no-op */

    /* ---- 1.1, appended after resolve_cancel: test VR_HAS(host, route_plan_routes).
     * The policy routes the kernel fast path needs (outbounds that leave
     * through an interface: direct's bind_interface, wireguard-bind, ecmp of
     * those), one line per outbound:
     *   "table <T> mark 0x<M> dev <ifname> weight <w> [dev <ifname> weight <w> ...]"
     * meaning: packets with fwmark M look up table T, whose default route
     * (IPv4 and IPv6) goes out the interfaces (several: multipath with those
     * weights). For the policy-routing installer (main thread). *out is
     * malloc'd (the caller frees it), or NULL when none is needed. Returns 0
     * or a negative errno. */
    int (*route_plan_routes)(const struct vr_instance *inst, char **out);
};

/* 1.1: the conntrack marks of flows the kernel fast path forwards
 * (route_plan_nft). An installer forwards a TCP connection's later segments
 * by this mark alone, even after a reload turned the fast path off. */
#define VR_FASTPATH_CT_BASE 0x76720000u /* "vr" << 16 */
#define VR_FASTPATH_CT_MASK 0xffff0000u

#endif
