#include "vr_module.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vr_host_table.h"
#include "vr_log.h"
#include "vr_trust.h"

/* Every module loaded, shared by path. No lock: modules are got and put
 * only while a generation's instances are made or destroyed, and that runs
 * either on the main thread or on one worker's thread while the main thread
 * waits for it (vr_gen_placement.run_on), one worker at a time. */
static struct vr_module *loaded;

/* The smallest descriptor and ops tables a 1.0 module can have. */
#define DESC_1_0_SIZE (offsetof(struct vr_module_desc, fini) + sizeof(void (*)(void)))

const struct vr_module *vr_module_loaded(void) { return loaded; }

const char *vr_module_kind_name(int kind)
{
    switch (kind) {
    case VR_KIND_SNIFFER: return "sniffer";
    case VR_KIND_OUTBOUND: return "outbound";
    case VR_KIND_INSTALLER: return "installer";
    default: return "unknown kind";
    }
}

static const char *article(int kind) { return kind == VR_KIND_SNIFFER ? "a" : "an"; }

static size_t ops_min_size(int kind)
{
    switch (kind) {
    case VR_KIND_SNIFFER: return offsetof(struct vr_sniffer_ops, sniff_datagrams) + sizeof(void *);
    case VR_KIND_OUTBOUND: return offsetof(struct vr_outbound_ops, udp_close) + sizeof(void *);
    case VR_KIND_INSTALLER: return offsetof(struct vr_installer_ops, plan) + sizeof(void *);
    default: return SIZE_MAX;
    }
}

int vr_module_check_abi(const char *file, const struct vr_module_desc *d, char *buf, size_t buflen)
{
    if (d->abi_major != VR_ABI_MAJOR || d->abi_minor > VR_ABI_MINOR) {
        snprintf(buf, buflen,
                 "%s: built for plugin ABI %u.%u, this vrouterd provides %d.%d (%s); rebuild the module "
                 "against this vrouterd's headers",
                 file, d->abi_major, d->abi_minor, VR_ABI_MAJOR, VR_ABI_MINOR,
                 d->abi_major != VR_ABI_MAJOR ? "the major version must be equal"
                                              : "the minor version must not be newer than the host's");
        return -EPROTO;
    }
    if (d->size < DESC_1_0_SIZE) {
        snprintf(buf, buflen, "%s: module descriptor is %u bytes, ABI %d.%d needs at least %zu; the module is "
                 "corrupt or not built with VR_MODULE_DEFINE", file, d->size, VR_ABI_MAJOR, VR_ABI_MINOR,
                 (size_t)DESC_1_0_SIZE);
        return -EPROTO;
    }
    if (d->name == NULL || d->ops == NULL) {
        snprintf(buf, buflen, "%s: module descriptor has no %s", file, d->name == NULL ? "name" : "ops table");
        return -EPROTO;
    }
    if (ops_min_size(d->kind) == SIZE_MAX) {
        snprintf(buf, buflen, "%s: module declares kind %u, which is not sniffer (1), outbound (2) or installer (3)",
                 file, d->kind);
        return -EPROTO;
    }
    uint32_t ops_size = *(const uint32_t *)d->ops;
    if (ops_size < ops_min_size(d->kind)) {
        snprintf(buf, buflen, "%s: %s ops table is %u bytes, ABI %d.%d needs at least %zu", file,
                 vr_module_kind_name(d->kind), ops_size, VR_ABI_MAJOR, VR_ABI_MINOR, ops_min_size(d->kind));
        return -EPROTO;
    }
    return 0;
}

static int validate_ops(const struct vr_module_desc *d, char *buf, size_t len, const char *file)
{
    const char *missing = NULL;
    if (d->kind == VR_KIND_OUTBOUND) {
        const struct vr_outbound_ops *o = d->ops;
        if (!o->create || !o->destroy || !o->tcp_connect || !o->tcp_cancel)
            missing = "create, destroy, tcp_connect and tcp_cancel";
        else if ((o->udp_open || o->udp_send || o->udp_close) && !(o->udp_open && o->udp_send && o->udp_close))
            missing = "all three of udp_open, udp_send and udp_close (or none)";
    } else if (d->kind == VR_KIND_SNIFFER) {
        const struct vr_sniffer_ops *o = d->ops;
        if (!o->sniff && !o->sniff_datagrams)
            missing = "sniff or sniff_datagrams";
        else if (!o->protocol)
            missing = "protocol";
        else if ((o->create == NULL) != (o->destroy == NULL))
            missing = "both create and destroy (or neither)";
    } else if (d->kind == VR_KIND_INSTALLER) {
        const struct vr_installer_ops *o = d->ops;
        if (!o->create || !o->destroy || !o->apply || !o->revert)
            missing = "create, destroy, apply and revert";
    }
    if (missing) {
        snprintf(buf, len, "%s: %s module must provide %s", file, vr_module_kind_name(d->kind), missing);
        return -EPROTO;
    }
    return 0;
}

struct vr_module *vr_module_get(const char *module_path, const char *name, int kind, const char *cfg_file,
                                int cfg_line, struct vr_errors *errs)
{
    if (name[0] == '\0' || strchr(name, '/') || strcmp(name, "..") == 0) {
        vr_errors_at(errs, cfg_file, cfg_line, "\"%s\" is not a module name (expected a file name without .so)", name);
        return NULL;
    }
    char *path = NULL;
    if (asprintf(&path, "%s/%s.so", module_path, name) < 0)
        return NULL;
    /* Shared by path, not by name: a reload that changes module_path loads
     * (and checks) the new files; the old ones go with their generation. */
    for (struct vr_module *m = loaded; m; m = m->next) {
        if (strcmp(m->path, path) == 0) {
            free(path);
            if ((int)m->desc->kind != kind) {
                vr_errors_at(errs, cfg_file, cfg_line, "module \"%s\" is %s %s module, not %s %s module", name,
                             article((int)m->desc->kind), vr_module_kind_name((int)m->desc->kind), article(kind),
                             vr_module_kind_name(kind));
                return NULL;
            }
            m->refs++;
            return m;
        }
    }
    /* dlopen runs the module's constructors before anything can be checked:
     * load only what no other user could have put or changed there. The
     * walk checks module_path's directories on the way to the .so. */
    char why[2 * PATH_MAX + 256];
    int fd = vr_trust_open(path, VR_TRUST_MODULE, VR_TRUST_FILE, why, sizeof(why));
    if (fd == -EPERM && access(path, F_OK) < 0 && errno == ENOENT) { /* say what is missing first */
        snprintf(why, sizeof(why), "%s: %s", path, strerror(ENOENT));
        fd = -ENOENT;
    }
    if (fd < 0) {
        if (fd == -EPERM)
            vr_errors_at(errs, cfg_file, cfg_line, "module \"%s\" not loaded: %s", name, why);
        else
            vr_errors_at(errs, cfg_file, cfg_line, "cannot load module \"%s\": %s (module_path is \"%s\")", name,
                         why, module_path);
        free(path);
        return NULL;
    }
    /* Re-opened by path: see vr_trust.c for why that is no race another user can win. */
    close(fd);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        vr_errors_at(errs, cfg_file, cfg_line, "cannot load module \"%s\": %s (module_path is \"%s\")", name,
                     dlerror(), module_path);
        free(path);
        return NULL;
    }
    char msg[512];
    const struct vr_module_desc *d = dlsym(h, VR_MODULE_SYMBOL_NAME);
    if (d == NULL) {
        vr_errors_at(errs, cfg_file, cfg_line, "%s: no \"%s\" symbol: not a vrouterd module", path,
                     VR_MODULE_SYMBOL_NAME);
        goto fail;
    }
    if (vr_module_check_abi(path, d, msg, sizeof(msg)) < 0 || validate_ops(d, msg, sizeof(msg), path) < 0) {
        vr_errors_at(errs, cfg_file, cfg_line, "%s", msg);
        goto fail;
    }
    if (strcmp(d->name, name) != 0) {
        vr_errors_at(errs, cfg_file, cfg_line, "%s: the module calls itself \"%s\", not \"%s\"", path, d->name, name);
        goto fail;
    }
    if ((int)d->kind != kind) {
        vr_errors_at(errs, cfg_file, cfg_line, "module \"%s\" is %s %s module, not %s %s module", name,
                     article((int)d->kind), vr_module_kind_name((int)d->kind), article(kind), vr_module_kind_name(kind));
        goto fail;
    }
    if (d->init) {
        int r = d->init(&vr_host_services);
        if (r < 0) {
            vr_errors_at(errs, cfg_file, cfg_line, "module \"%s\" failed to initialise: %s", name, strerror(-r));
            goto fail;
        }
    }
    struct vr_module *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        if (d->fini)
            d->fini();
        goto fail;
    }
    m->name = strdup(name);
    m->path = path;
    m->handle = h;
    m->desc = d;
    m->refs = 1;
    m->next = loaded;
    loaded = m;
    vr_debug("module %s %s loaded from %s (ABI %u.%u)", name, d->version ? d->version : "?", path, d->abi_major,
             d->abi_minor);
    return m;
fail:
    dlclose(h);
    free(path);
    return NULL;
}

void vr_module_put(struct vr_module *m)
{
    if (m == NULL || --m->refs > 0)
        return;
    for (struct vr_module **p = &loaded; *p; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            break;
        }
    }
    if (m->desc->fini)
        m->desc->fini();
    /* ASan cannot symbolise leaks in unloaded code; keep modules mapped then. */
#if !defined(__SANITIZE_ADDRESS__)
    dlclose(m->handle);
#endif
    free(m->name);
    free(m->path);
    free(m);
}
