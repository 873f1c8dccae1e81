/* The XDP allow-list's loader: see vr_xdp.h. */
#include "vr_xdp.h"

#include <errno.h>

#ifndef VR_HAVE_BPF

int vr_xdp_apply(const struct vr_xdp_cfg *x)
{
    /* The config parser refuses the xdp group in such a build already. */
    return x && x->enabled ? -EOPNOTSUPP : 0;
}

bool vr_xdp_counts(struct vr_xdp_counts *out)
{
    (void)out;
    return false;
}

#else

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vr_libbpf_print.h"
#include "vr_log.h"
#include "xdp_allow.h"
#include "xdp_allow.skel.h"

/* What is attached: the program, its maps and where it went. */
struct xdp_live {
    struct xdp_allow_bpf *skel;
    struct vr_xdp_cfg cfg; /* an own copy: the generation's may go first */
    int ifindex[VR_XDP_MAX_INTERFACES];
};

static struct xdp_live *live;
static bool swept; /* stale programs of a killed daemon looked for */

static uint32_t mode_flag(bool generic) { return generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE; }
static const char *mode_name(uint32_t flag) { return flag == XDP_FLAGS_SKB_MODE ? "generic" : "native"; }

static void live_free(struct xdp_live *l)
{
    if (l == NULL)
        return;
    xdp_allow_bpf__destroy(l->skel);
    vr_xdp_config_free(&l->cfg);
    free(l);
}

static int cfg_copy(struct vr_xdp_cfg *to, const struct vr_xdp_cfg *from)
{
    *to = *from;
    to->interfaces = calloc(from->n_interfaces, sizeof(*to->interfaces));
    to->allow = calloc(from->n_allow, sizeof(*to->allow));
    if (to->interfaces == NULL || to->allow == NULL) {
        vr_xdp_config_free(to);
        return -ENOMEM;
    }
    memcpy(to->interfaces, from->interfaces, from->n_interfaces * sizeof(*to->interfaces));
    memcpy(to->allow, from->allow, from->n_allow * sizeof(*to->allow));
    return 0;
}

static int fill_allow(struct xdp_allow_bpf *skel, const struct vr_xdp_cfg *x)
{
    uint8_t one = 1;
    for (size_t i = 0; i < x->n_allow; i++) {
        const struct vr_cidr *c = &x->allow[i];
        int r;
        if (c->family == AF_INET) {
            struct xdp_allow_key4 k = {.prefixlen = c->prefix};
            memcpy(&k.addr, c->addr, 4);
            r = bpf_map_update_elem(bpf_map__fd(skel->maps.allow_v4), &k, &one, BPF_ANY);
        } else {
            struct xdp_allow_key6 k = {.prefixlen = c->prefix};
            memcpy(k.addr, c->addr, 16);
            r = bpf_map_update_elem(bpf_map__fd(skel->maps.allow_v6), &k, &one, BPF_ANY);
        }
        if (r < 0)
            return -errno;
    }
    return 0;
}

/* Loads a program with x's allow list; the counters map is the attached
 * program's, so counts carry over a swap. */
static struct xdp_live *build(const struct vr_xdp_cfg *x, int *err)
{
    struct xdp_live *l = calloc(1, sizeof(*l));
    if (l == NULL || cfg_copy(&l->cfg, x) < 0) {
        free(l);
        *err = -ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < x->n_interfaces; i++) {
        l->ifindex[i] = (int)if_nametoindex(x->interfaces[i]);
        if (l->ifindex[i] == 0) {
            vr_err("%s:%d: xdp: no interface \"%s\" (%s): name an existing capture interface", x->file, x->line,
                   x->interfaces[i], strerror(errno));
            *err = -ENODEV;
            live_free(l);
            return NULL;
        }
    }
    vr_libbpf_print_init();
    const char *step = "open";
    int r = 0;
    l->skel = xdp_allow_bpf__open();
    if (l->skel == NULL)
        r = -errno;
    if (r == 0 && live) {
        step = "share the counters";
        r = bpf_map__reuse_fd(l->skel->maps.verdicts, bpf_map__fd(live->skel->maps.verdicts));
    }
    if (r == 0) {
        step = "load";
        r = xdp_allow_bpf__load(l->skel);
    }
    if (r == 0) {
        step = "fill the allow maps";
        r = fill_allow(l->skel, x);
    }
    if (r < 0) {
        vr_err("%s:%d: xdp: cannot %s the allow-list program: %s%s", x->file, x->line, step, strerror(-r),
               r == -EPERM ? " (vrouterd needs CAP_BPF and CAP_NET_ADMIN, or root)" : "");
        *err = r;
        live_free(l);
        return NULL;
    }
    return l;
}

/* The kernel's name of program id, into name[16]; false if it is gone. */
static bool prog_name(uint32_t id, char name[16], int *fd_out)
{
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0)
        return false;
    struct bpf_prog_info info;
    memset(&info, 0, sizeof(info));
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
        close(fd);
        return false;
    }
    memcpy(name, info.name, 16);
    name[15] = '\0';
    if (fd_out)
        *fd_out = fd;
    else
        close(fd);
    return true;
}

/* What an interface had before an attach, to put it back. */
struct undo {
    int old_fd;         /* vrouterd's program that was there, or -1 */
    uint32_t old_mode;  /* its mode flag */
};

/* The program attached to ifindex in mode (XDP_FLAGS_DRV_MODE or _SKB_MODE)
 * if it is vrouterd's: its fd (caller closes), else -1. A foreign program
 * gives -EBUSY with its name. */
static int ours_in_mode(int ifindex, uint32_t mode, const char *ifname, const struct vr_xdp_cfg *x)
{
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    if (bpf_xdp_query(ifindex, 0, &q) < 0)
        return -1;
    uint32_t id = mode == XDP_FLAGS_SKB_MODE ? q.skb_prog_id : q.drv_prog_id;
    if (id == 0)
        return -1;
    char name[16];
    int fd = -1;
    if (!prog_name(id, name, &fd))
        return -1;
    if (strcmp(name, VR_XDP_PROG_NAME) == 0)
        return fd;
    close(fd);
    if (x)
        vr_err("%s:%d: xdp: interface %s already has another XDP program in %s mode (id %u, \"%s\"), not "
               "vrouterd's: remove it first (ip link set dev %s xdp off) or leave the interface out",
               x->file, x->line, ifname, mode_name(mode), id, name, ifname);
    return -EBUSY;
}

static int xdp_set(int ifindex, int prog_fd, uint32_t flags, int old_fd)
{
    LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = old_fd);
    if (old_fd >= 0)
        flags |= XDP_FLAGS_REPLACE;
    else
        flags |= XDP_FLAGS_UPDATE_IF_NOEXIST;
    int r = bpf_xdp_attach(ifindex, prog_fd, flags, old_fd >= 0 ? &o : NULL);
    return r < 0 ? r : 0;
}

/* Attaches l's program to interface i, replacing vrouterd's (the live one
 * or a stale one) in place; u records what to put back. */
static int attach_one(struct xdp_live *l, size_t i, struct undo *u)
{
    const char *ifname = l->cfg.interfaces[i];
    int ifindex = l->ifindex[i];
    uint32_t mode = mode_flag(l->cfg.generic), other = mode_flag(!l->cfg.generic);
    int prog_fd = bpf_program__fd(l->skel->progs.vrouterd_xdp);
    u->old_fd = -1;
    u->old_mode = mode;
    int same = ours_in_mode(ifindex, mode, ifname, &l->cfg);
    if (same == -EBUSY)
        return same;
    int diff = ours_in_mode(ifindex, other, ifname, &l->cfg);
    if (diff == -EBUSY) {
        if (same >= 0)
            close(same);
        return diff;
    }
    int r;
    if (diff >= 0) {
        /* A mode change: the old mode's program goes first (an interface
         * holds one mode at a time), so for an instant none filters. */
        r = xdp_set(ifindex, -1, other, diff);
        if (r < 0) {
            close(diff);
            if (same >= 0)
                close(same);
            goto failed;
        }
        u->old_fd = diff;
        u->old_mode = other;
        if (same >= 0)
            close(same); /* not expected: an interface runs one mode at a time */
        same = -1;
    } else if (same >= 0) {
        u->old_fd = same;
    }
    r = xdp_set(ifindex, prog_fd, mode, diff >= 0 ? -1 : same);
    if (r < 0) {
        if (diff >= 0)
            xdp_set(ifindex, diff, other, -1); /* put the old mode's back */
        goto failed;
    }
    return 0;
failed:
    vr_err("%s:%d: xdp: cannot attach to %s in %s mode: %s%s", l->cfg.file, l->cfg.line, ifname, mode_name(mode),
           strerror(-r),
           r == -EOPNOTSUPP || r == -EINVAL ? " (the driver may lack native XDP: try mode = \"generic\")" : "");
    if (u->old_fd >= 0)
        close(u->old_fd);
    u->old_fd = -1;
    return r;
}

/* Puts back what interface i had before attach_one. */
static void undo_one(struct xdp_live *l, size_t i, struct undo *u)
{
    int prog_fd = bpf_program__fd(l->skel->progs.vrouterd_xdp);
    uint32_t mode = mode_flag(l->cfg.generic);
    if (u->old_fd >= 0 && u->old_mode == mode)
        xdp_set(l->ifindex[i], u->old_fd, mode, prog_fd);
    else {
        xdp_set(l->ifindex[i], -1, mode, prog_fd);
        if (u->old_fd >= 0)
            xdp_set(l->ifindex[i], u->old_fd, u->old_mode, -1);
    }
}

/* Removes vrouterd's program from ifindex, whatever its mode. */
static int detach_ours(int ifindex, const char *ifname)
{
    int removed = 0;
    uint32_t modes[2] = {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
    for (int m = 0; m < 2; m++) {
        int fd = ours_in_mode(ifindex, modes[m], ifname, NULL);
        if (fd < 0)
            continue;
        int r = xdp_set(ifindex, -1, modes[m], fd);
        close(fd);
        if (r < 0)
            vr_warn("xdp: cannot remove vrouterd's program from %s: %s", ifname, strerror(-r));
        else
            removed++;
    }
    return removed;
}

static bool names(const struct vr_xdp_cfg *x, const char *ifname)
{
    for (size_t i = 0; x && x->enabled && i < x->n_interfaces; i++)
        if (strcmp(x->interfaces[i], ifname) == 0)
            return true;
    return false;
}

/* Once per process: a killed vrouterd left its program attached. Where the
 * new config filters too, attach_one replaces it in place; elsewhere it
 * goes now. */
static void sweep_stale(const struct vr_xdp_cfg *x)
{
    struct if_nameindex *ifs = if_nameindex();
    for (struct if_nameindex *i = ifs; i && i->if_index; i++) {
        if (names(x, i->if_name)) {
            if (ours_in_mode((int)i->if_index, XDP_FLAGS_DRV_MODE, i->if_name, NULL) >= 0 ||
                ours_in_mode((int)i->if_index, XDP_FLAGS_SKB_MODE, i->if_name, NULL) >= 0)
                vr_info("xdp: replacing the allow-list a previous vrouterd left on %s", i->if_name);
            continue;
        }
        if (detach_ours((int)i->if_index, i->if_name) > 0)
            vr_info("xdp: removed the allow-list a previous vrouterd left on %s (no longer configured)", i->if_name);
    }
    if (ifs)
        if_freenameindex(ifs);
}

/* The interfaces l filters still exist under the same index (one deleted
 * and made again by its name has a new index and no program). */
static bool same_interfaces(const struct xdp_live *l)
{
    for (size_t i = 0; i < l->cfg.n_interfaces; i++)
        if ((int)if_nametoindex(l->cfg.interfaces[i]) != l->ifindex[i])
            return false;
    return true;
}

int vr_xdp_apply(const struct vr_xdp_cfg *x)
{
    if (x && !x->enabled)
        x = NULL;
    if (!swept) {
        sweep_stale(x);
        swept = true;
    }
    if (x && live && vr_xdp_config_equal(&live->cfg, x) && same_interfaces(live))
        return 0; /* unchanged: no new program (nor CAP_BPF after a privilege drop) needed */
    struct xdp_live *nw = NULL;
    if (x) {
        int err = 0;
        nw = build(x, &err);
        if (nw == NULL)
            return err;
        struct undo undo[VR_XDP_MAX_INTERFACES];
        for (size_t i = 0; i < x->n_interfaces; i++) {
            int r = attach_one(nw, i, &undo[i]);
            if (r < 0) {
                while (i-- > 0) {
                    undo_one(nw, i, &undo[i]);
                    if (undo[i].old_fd >= 0)
                        close(undo[i].old_fd);
                }
                live_free(nw);
                return r;
            }
        }
        for (size_t i = 0; i < x->n_interfaces; i++)
            if (undo[i].old_fd >= 0)
                close(undo[i].old_fd);
    }
    /* Interfaces the old list filtered and the new one does not: by the
     * program's own fd (no lookup by id, which needs CAP_SYS_ADMIN: gone
     * after daemon.user's privilege drop), by name if it was replaced. */
    if (live)
        for (size_t i = 0; i < live->cfg.n_interfaces; i++) {
            bool kept = false;
            for (size_t k = 0; nw && k < nw->cfg.n_interfaces; k++)
                kept = kept || nw->ifindex[k] == live->ifindex[i];
            if (kept)
                continue;
            int live_fd = bpf_program__fd(live->skel->progs.vrouterd_xdp);
            if (xdp_set(live->ifindex[i], -1, mode_flag(live->cfg.generic), live_fd) < 0)
                detach_ours(live->ifindex[i], live->cfg.interfaces[i]);
        }
    if (nw) {
        char list[256] = "";
        size_t at = 0;
        for (size_t i = 0; i < nw->cfg.n_interfaces && at < sizeof(list); i++)
            at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s", i ? ", " : "", nw->cfg.interfaces[i]);
        vr_info("xdp: allow-list of %zu prefixes attached to %s (%s mode)", nw->cfg.n_allow, list,
                mode_name(mode_flag(nw->cfg.generic)));
    } else if (live)
        vr_info("xdp: allow-list removed");
    live_free(live);
    live = nw;
    return 0;
}

bool vr_xdp_counts(struct vr_xdp_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (live == NULL)
        return false;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return false;
    uint64_t *per_cpu = calloc((size_t)ncpu, sizeof(*per_cpu));
    if (per_cpu == NULL)
        return false;
    uint64_t *slots[XDP_ALLOW_N_VERDICTS] = {&out->passed, &out->dropped, &out->other};
    for (uint32_t k = 0; k < XDP_ALLOW_N_VERDICTS; k++) {
        if (bpf_map_lookup_elem(bpf_map__fd(live->skel->maps.verdicts), &k, per_cpu) < 0)
            continue;
        for (int c = 0; c < ncpu; c++)
            *slots[k] += per_cpu[c];
    }
    free(per_cpu);
    return true;
}

#endif
