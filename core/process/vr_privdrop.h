/* daemon.user: after its setup as root (config, modules, listeners,
 * installers, control socket), vrouterd becomes that user and keeps only
 * CAP_NET_ADMIN (TPROXY, SO_MARK, installers' netlink and nftables),
 * CAP_NET_RAW (SO_BINDTODEVICE, IP_TRANSPARENT) and CAP_NET_BIND_SERVICE
 * (listeners below 1024 opened by a reload): permitted, effective,
 * inheritable and ambient, and the bounding set cut to those three.
 * Raw syscalls, no libcap. */
#ifndef VR_PRIVDROP_H
#define VR_PRIVDROP_H

#include <stdint.h>

struct vr_daemon_cfg;

/* The capabilities kept, as a bit mask of CAP_* numbers (0x3400). */
#define VR_PRIVDROP_CAPS ((UINT64_C(1) << 10) | (UINT64_C(1) << 12) | (UINT64_C(1) << 13))

/* Drops to d->user / d->gid when daemon.user is set; nothing otherwise.
 * Already running as that user (systemd's User=): only checks that the
 * three capabilities are effective, warning for each one missing. Started
 * as another user than root: an error naming daemon.user's FILE:LINE.
 * Returns 0, or -1 (logged): the daemon must not start.
 *
 * Capabilities and uids are per thread in Linux (glibc's setresuid
 * broadcasts to every thread, capset does not): call it while the process
 * has its one thread, before any worker thread is created. */
int vr_privdrop_apply(const struct vr_daemon_cfg *d);

/* A reload's daemon.user and daemon.group against what the start applied:
 * a change cannot be applied without a restart; warns (FILE:LINE) when they
 * differ, and the reload goes on. */
void vr_privdrop_check_reload(const struct vr_daemon_cfg *next);

#endif
