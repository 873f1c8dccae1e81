/*
 * vrouterd plugin ABI: version, module descriptor, export macro.
 *
 * A module is <module_path>/<name>.so exporting exactly one symbol,
 * VR_MODULE_SYMBOL ("vr_module"), a struct vr_module_desc. The host reads
 * abi_major, abi_minor and size before it touches anything else:
 *   - abi_major must equal the host's VR_ABI_MAJOR;
 *   - abi_minor must be at most the host's VR_ABI_MINOR;
 *   - size must cover at least the 1.0 descriptor;
 *   - name and ops set, kind known, the ops table's size covering the 1.0
 *     table of the kind, and the kind's mandatory ops present (listed in
 *     vr_outbound.h, vr_sniffer.h, vr_installer.h and docs/PLUGIN_ABI.md);
 *   - name equal to the file name, kind the one the config needs there.
 * Anything else is refused with a message naming the .so file, and both
 * versions (the module's and the host's) wherever versions are involved.
 *
 * Growth rules (the promise of ABI 1.x):
 *   - Every growable struct starts with a uint32_t size set by whoever fills
 *     it in (the module for descriptors and ops tables, the host for the host
 *     table, flows and sniff results). Readers never read past that size.
 *   - Minor versions only append fields. A module built against 1.0 keeps
 *     loading on every 1.x host. A module may test an appended host function
 *     for NULL / VR_HAS(host, field) before calling it.
 *   - A major bump is a break and is refused.
 *
 * Changelog
 *   1.0 (2026-11-22)  first version: descriptor, host services (log, config
 *                     view, fd watches, timers, counters, health, outbound
 *                     sockets, outbound lookup for composite outbounds),
 *                     outbound ops (async TCP connect, UDP datagram path),
 *                     sniffer ops, installer ops.
 *   1.1 (2026-12-02)  sniffer ops: sniff_wake (optional), so the host re-runs
 *                     a stream sniffer only when new bytes may decide it.
 *                     host: cfg_type (the type of a key, for keys that take
 *                     more than one type, such as socks5's send_domain),
 *                     then connect_fail_reason (the reason of a tcp_connect
 *                     that fails at once, for the connection's close line;
 *                     appended after cfg_type, test VR_HAS before use),
 *                     then member_health (a composite outbound's members,
 *                     up or down with a detail, for vrouterctl outbounds
 *                     and vrouter_outbound_up{member}; test VR_HAS),
 *                     then route_plan_nft (the route plan compiled to an
 *                     nftables fast path chain, for installers; test
 *                     VR_HAS), then resolve and resolve_cancel (names
 *                     through vrouterd's resolver, for outbounds; test
 *                     VR_HAS(host, resolve)), then route_plan_routes
 *                     (the policy routes of the fast path's outbounds that
 *                     leave through an interface, for the policy-routing
 *                     installer; test VR_HAS).
 *                     outbound ops: kernel_plan (optional; how the fast
 *                     path forwards an outbound's flows; test VR_HAS).
 *                     installer ops: rule_counters (optional; the fast
 *                     path chain's per-rule nft counters; test VR_HAS).
 *                     route_plan_nft's text may also hold a nat chain
 *                     `fastpath_snat`, a map `fastpath_route` (a
 *                     forwarded flow's conntrack mark -> the packet mark an
 *                     installer restores on its later packets) and a
 *                     verdict map `fastpath_seg` (-> the rule's counting
 *                     chain fastpath_seg_N); every
 *                     forwarded flow's conntrack mark is in the range
 *                     VR_FASTPATH_CT_BASE/VR_FASTPATH_CT_MASK (vr_host.h).
 *                     (Revised before any release: the text first had a
 *                     set `fastpath_marks` of packet marks.)
 *                     flow: flags (VR_FLOW_CONNECT_BY_NAME: connect to the
 *                     domain, not to dst, for FakeIP and sniff_override;
 *                     test VR_HAS(flow, flags)).
 *   1.2 (2026-12-02)  fd watches: VR_EV_ERROR (vr_host.h), reported with
 *                     the events asked when the fd has a pending error, to
 *                     modules built for 1.2 or later only; a connecting
 *                     socket's write report without it means connected
 *                     (no getsockopt(SO_ERROR) needed). Watches stay
 *                     level-triggered and persistent (now on the host's
 *                     own epoll set per worker, not libevent).
 *
 * Threading contract
 *   The host runs one or more workers, each with its own event loop. Every
 *   instance is created, used and destroyed on exactly one worker thread,
 *   and every callback of that instance (ops called by the host, fd watch
 *   and timer callbacks, connect and datagram callbacks) runs on that same
 *   thread. The host may create one instance of the same config block per
 *   worker, so instance state needs no locks. init/fini run once per .so on
 *   the main thread before any worker starts / after all have stopped;
 *   anything a module keeps outside an instance must be thread-safe.
 *
 * Only headers under <vrouter/...> may be included by a module; a module
 * never links against symbols of the daemon: everything it needs comes
 * through struct vr_host.
 */
#ifndef VROUTER_VR_ABI_H
#define VROUTER_VR_ABI_H

#include <stddef.h>
#include <stdint.h>

#define VR_ABI_MAJOR 1
#define VR_ABI_MINOR 2

#define VR_MODULE_SYMBOL vr_module
#define VR_MODULE_SYMBOL_NAME "vr_module"

#if defined(__GNUC__)
#define VR_EXPORT __attribute__((visibility("default")))
#define VR_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define VR_EXPORT
#define VR_PRINTF(fmt_idx, arg_idx)
#endif

/* True if a size-prefixed struct filled in by the other side contains field. */
#define VR_HAS(ptr, field) \
    ((ptr) != NULL && (ptr)->size >= offsetof(__typeof__(*(ptr)), field) + sizeof((ptr)->field))

enum vr_module_kind {
    VR_KIND_SNIFFER = 1,
    VR_KIND_OUTBOUND = 2,
    VR_KIND_INSTALLER = 3,
};

struct vr_host;

struct vr_module_desc {
    /* --- 1.0 header: never moves --- */
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t size; /* sizeof(struct vr_module_desc) as the module was built */
    /* --- 1.0 body --- */
    const char *name;    /* must equal the file name without ".so" */
    const char *version; /* the module's own version, free-form */
    uint32_t kind;       /* enum vr_module_kind */
    const void *ops;     /* struct vr_sniffer_ops / vr_outbound_ops / vr_installer_ops */
    /* Once per loaded .so, before the first instance; may be NULL.
     * Returns 0 or a negative errno (the module is then not used). */
    int (*init)(const struct vr_host *host);
    /* Once per loaded .so, after its last instance is gone; may be NULL. */
    void (*fini)(void);
};

/* Fills in the header fields; use as
 *   VR_MODULE_DEFINE(.name = "direct", .version = "1.0.0",
 *                    .kind = VR_KIND_OUTBOUND, .ops = &direct_ops);
 */
#define VR_MODULE_DEFINE(...)                                           \
    VR_EXPORT const struct vr_module_desc VR_MODULE_SYMBOL = {           \
        .abi_major = VR_ABI_MAJOR,                                       \
        .abi_minor = VR_ABI_MINOR,                                       \
        .size = sizeof(struct vr_module_desc),                           \
        __VA_ARGS__}

#endif
