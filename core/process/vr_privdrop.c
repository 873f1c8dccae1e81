/* daemon.user: the privilege drop; see vr_privdrop.h.
 *
 * The order matters:
 *   1. PR_CAPBSET_DROP every capability but the three (needs CAP_SETPCAP,
 *      which root still has);
 *   2. PR_SET_KEEPCAPS, so that setresuid keeps the permitted set;
 *   3. setgroups (the user's supplementary groups, as login and systemd's
 *      User= give them), setresgid, setresuid: real, effective and saved,
 *      so that nothing can switch back to root;
 *   4. capset: the three in permitted, effective and inheritable (setresuid
 *      cleared the effective set);
 *   5. PR_CAP_AMBIENT_RAISE each: kept across exec (a helper an installer
 *      runs), which needs them inheritable first;
 *   6. check: uids, the capability sets as the kernel reports them, and
 *      that setuid(0) fails. */
#include "vr_privdrop.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vr_config.h"
#include "vr_log.h"
#include "vr_trust.h"

static const struct {
    int cap;
    const char *name;
} kept[] = {
    {CAP_NET_ADMIN, "CAP_NET_ADMIN"},
    {CAP_NET_RAW, "CAP_NET_RAW"},
    {CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE"},
};
#define N_KEPT (sizeof(kept) / sizeof(kept[0]))

struct capsets {
    uint64_t effective, permitted, inheritable;
};

static int get_caps(struct capsets *out)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &h, data) < 0)
        return -errno;
    out->effective = (uint64_t)data[1].effective << 32 | data[0].effective;
    out->permitted = (uint64_t)data[1].permitted << 32 | data[0].permitted;
    out->inheritable = (uint64_t)data[1].inheritable << 32 | data[0].inheritable;
    return 0;
}

static int set_caps(uint64_t mask)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        uint32_t word = (uint32_t)(mask >> (32 * i));
        data[i].effective = data[i].permitted = data[i].inheritable = word;
    }
    return syscall(SYS_capset, &h, data) < 0 ? -errno : 0;
}

/* "daemon.user = "nobody" (FILE:LINE)" for every message. */
static void where(const struct vr_daemon_cfg *d, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%d: daemon.user = \"%s\"", d->user_file ? d->user_file : "?", d->user_line, d->user);
}

static void warn_missing(const struct vr_daemon_cfg *d, const char *at)
{
    struct capsets cs = {0};
    if (get_caps(&cs) < 0)
        return;
    for (size_t i = 0; i < N_KEPT; i++)
        if (!(cs.effective & (UINT64_C(1) << kept[i].cap)))
            vr_warn("%s: running as %s without %s: what needs it (TPROXY, marks, installers, binding an interface "
                    "or a port below 1024) will fail; give it (systemd: AmbientCapabilities=CAP_NET_ADMIN "
                    "CAP_NET_RAW CAP_NET_BIND_SERVICE)", at, d->user, kept[i].name);
}

static int drop_bounding_set(void)
{
    for (int cap = 0; cap < 64; cap++) {
        if (VR_PRIVDROP_CAPS & (UINT64_C(1) << cap))
            continue;
        int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in < 0)
            break; /* past the kernel's last capability */
        if (in == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            return -errno;
    }
    return 0;
}

/* Threads of this process (/proc/self/status), 0 if it cannot be read. */
static long thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long n = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "Threads: %ld", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

static int become_user(const struct vr_daemon_cfg *d)
{
    gid_t groups[256];
    int n = (int)(sizeof(groups) / sizeof(groups[0]));
    if (getgrouplist(d->user, d->gid, groups, &n) < 0) {
        groups[0] = d->gid; /* more than 256: the one group we are sure of */
        n = 1;
    }
    if (setgroups((size_t)n, groups) < 0 || setresgid(d->gid, d->gid, d->gid) < 0 ||
        setresuid(d->uid, d->uid, d->uid) < 0)
        return -errno;
    return 0;
}

static int verify(const struct vr_daemon_cfg *d, const char *at)
{
    uid_t r, e, s;
    gid_t rg, eg, sg;
    struct capsets cs = {0};
    if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0 || get_caps(&cs) < 0)
        return -errno;
    if (r != d->uid || e != d->uid || s != d->uid || rg != d->gid || eg != d->gid || sg != d->gid) {
        vr_err("%s: uids %u/%u/%u gids %u/%u/%u after the drop, not %u/%u", at, (unsigned)r, (unsigned)e,
               (unsigned)s, (unsigned)rg, (unsigned)eg, (unsigned)sg, (unsigned)d->uid, (unsigned)d->gid);
        return -EPERM;
    }
    if (cs.effective != VR_PRIVDROP_CAPS || cs.permitted != VR_PRIVDROP_CAPS || cs.inheritable != VR_PRIVDROP_CAPS) {
        vr_err("%s: capabilities after the drop are effective %#" PRIx64 ", permitted %#" PRIx64
               ", inheritable %#" PRIx64 ", not %#" PRIx64, at, cs.effective, cs.permitted, cs.inheritable,
               VR_PRIVDROP_CAPS);
        return -EPERM;
    }
    if (d->uid != 0 && setuid(0) == 0) {
        vr_err("%s: setuid(0) still succeeds after the drop", at);
        return -EPERM;
    }
    return 0;
}

/* What vr_privdrop_apply settled on, for reloads to compare with. */
static struct {
    bool set;
    uid_t uid;
    gid_t gid;
    char user[64], group[64];
} applied;

int vr_privdrop_apply(const struct vr_daemon_cfg *d)
{
    if (d->user == NULL)
        return 0;
    applied.set = true;
    applied.uid = d->uid;
    applied.gid = d->gid;
    snprintf(applied.user, sizeof(applied.user), "%s", d->user);
    snprintf(applied.group, sizeof(applied.group), "%s", d->group ? d->group : "(primary)");
    char at[512];
    where(d, at, sizeof(at));
    uid_t euid = geteuid();
    if (euid == d->uid && getuid() == d->uid) {
        vr_info("%s: already running as that user: nothing to drop", at);
        warn_missing(d, at);
        return 0;
    }
    if (euid != 0) {
        vr_err("%s: vrouterd runs as uid %u, not root, and cannot become uid %u; start it as root (it drops to the "
               "user once set up), or as %s itself with CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE "
               "(systemd: User= and AmbientCapabilities=)", at, (unsigned)euid, (unsigned)d->uid, d->user);
        return -1;
    }
    /* Capabilities, the bounding set and keep-caps are per thread: another
     * thread would keep root's bounding set (and lose its capabilities). */
    long threads = thread_count();
    if (threads > 1) {
        vr_err("%s: cannot drop privileges with %ld threads running: the drop must come before any thread is "
               "created (a bug in vrouterd's start order)", at, threads);
        return -1;
    }
    const char *step = "PR_CAPBSET_DROP";
    int r = drop_bounding_set();
    if (r == 0) {
        step = "PR_SET_KEEPCAPS";
        r = prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ? -errno : 0;
    }
    if (r == 0) {
        step = "setgroups/setresgid/setresuid";
        r = become_user(d);
    }
    if (r == 0) {
        step = "capset";
        r = set_caps(VR_PRIVDROP_CAPS);
    }
    for (size_t i = 0; r == 0 && i < N_KEPT; i++) {
        step = "PR_CAP_AMBIENT_RAISE";
        r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, kept[i].cap, 0, 0) < 0 ? -errno : 0;
    }
    if (r == 0)
        prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0); /* ambient capabilities do not need it */
    if (r < 0) {
        vr_err("%s: cannot drop privileges: %s: %s", at, step, strerror(-r));
        return -1;
    }
    if (verify(d, at) < 0)
        return -1;
    /* Root alone was trusted while setting up as root; keep it so (vr_trust.h). */
    vr_trust_pin_uid(0);
    vr_info("privileges dropped: running as %s (uid %u, gid %u) with CAP_NET_ADMIN, CAP_NET_RAW and "
            "CAP_NET_BIND_SERVICE only", d->user, (unsigned)d->uid, (unsigned)d->gid);
    return 0;
}

void vr_privdrop_check_reload(const struct vr_daemon_cfg *next)
{
    bool same = next->user == NULL ? !applied.set : applied.set && next->uid == applied.uid && next->gid == applied.gid;
    if (same)
        return;
    vr_warn("%s:%d: daemon.user/daemon.group changed from \"%s\"/\"%s\" to \"%s\"/\"%s\": privileges are dropped "
            "once, at start, and cannot change while running; the rest of the new config is applied and vrouterd "
            "keeps running as before; the change takes effect at the next restart",
            next->user_file ? next->user_file : "config", next->user_line, applied.user, applied.group,
            next->user ? next->user : "", next->user ? next->group ? next->group : "(primary)" : "");
}
