#include "vr_module.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr_host_table.h"
#include "vr_log.h"
#include "vr_module_find.h"

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
        snprintf(buf, buflen,
                 "%s: module descriptor is %u bytes, the plugin ABI 1.0 descriptor needs at least %zu (built for "
                 "plugin ABI %u.%u, this vrouterd provides %d.%d); the module is corrupt or not built with "
                 "VR_MODULE_DEFINE",
                 file, d->size, (size_t)DESC_1_0_SIZE, d->abi_major, d->abi_minor, VR_ABI_MAJOR, VR_ABI_MINOR);
        return -EPROTO;
    }
    if (d->name == NULL || d->ops == NULL) {
        snprintf(buf, buflen, "%s: module descriptor has no %s", file, d->name == NULL ? "name" : "ops table");
        return -EPROTO;
    }
    if (ops_min_size(d->kind) == SIZE_MAX) {
        snprintf(buf, buflen,
                 "%s: module declares kind %u, which is not sniffer (1), outbound (2) or installer (3) (built for "
                 "plugin ABI %u.%u, this vrouterd provides %d.%d)",
                 file, d->kind, d->abi_major, d->abi_minor, VR_ABI_MAJOR, VR_ABI_MINOR);
        return -EPROTO;
    }
    uint32_t ops_size = *(const uint32_t *)d->ops;
    if (ops_size < ops_min_size(d->kind)) {
        snprintf(buf, buflen,
                 "%s: %s ops table is %u bytes, the plugin ABI 1.0 table needs at least %zu (built for plugin ABI "
                 "%u.%u, this vrouterd provides %d.%d)",
                 file, vr_module_kind_name(d->kind), ops_size, ops_min_size(d->kind), d->abi_major, d->abi_minor,
                 VR_ABI_MAJOR, VR_ABI_MINOR);
        return -EPROTO;
    }
    return 0;
}

/* The mandatory ops of each kind: docs/PLUGIN_ABI.md ("Mandatory ops") and
 * the api/vrouter/vr_<kind>.h headers list exactly these; keep them agreeing. */
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

static bool same_file(const struct vr_module_file_id *a, const struct vr_module_file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static int file_id(int fd, struct vr_module_file_id *id)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *id = (struct vr_module_file_id){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    return 0;
}

static bool same_kind(const struct vr_module *m, const char *name, int kind, const char *cfg_file, int cfg_line,
                      struct vr_errors *errs)
{
    int has = (int)m->desc->kind;
    if (has == kind)
        return true;
    vr_errors_at(errs, cfg_file, cfg_line,
                 "%s: module \"%s\" is %s %s module, not %s %s module (built for plugin ABI %u.%u, this "
                 "vrouterd provides %d.%d); name it where %s %s belongs, or name the %s module meant here",
                 m->path, name, article(has), vr_module_kind_name(has), article(kind), vr_module_kind_name(kind),
                 m->desc->abi_major, m->desc->abi_minor, VR_ABI_MAJOR, VR_ABI_MINOR, article(has),
                 vr_module_kind_name(has), vr_module_kind_name(kind));
    return false;
}

/* Opens the checked file as code. A path no loaded object carries is
 * re-opened by name (see vr_trust.c for why that is no race another user can
 * win, and why it keeps readable names). But glibc's dlopen hands back the
 * object already loaded under the same name (or the same st_dev/st_ino)
 * instead of reading the file again: a module file replaced since it was
 * loaded would silently keep running its old code. Then the new file is
 * opened through the descriptor that was checked and stat'ed,
 * /proc/self/fd/N: a name no loaded object has, and exactly the file whose
 * identity was compared. *alias says the fd now names an object: see
 * alias_release. */
static void *open_code(const char *path, int fd, bool *alias)
{
    *alias = false;
    void *already = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
    if (already == NULL)
        return dlopen(path, RTLD_NOW | RTLD_LOCAL);
    dlclose(already); /* only the reference NOLOAD took */
    char name[64];
    snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
    *alias = true;
    return dlopen(name, RTLD_NOW | RTLD_LOCAL);
}

/* After the dlclose of an object opened as /proc/self/fd/N: glibc matches
 * later dlopens by name first, so while any object still carries that name
 * (not unloaded: kept by ASan builds, or an object glibc had already mapped
 * from the same inode and only renamed), fd N must stay open so that no
 * other file gets the number and, with it, the old code. */
static void alias_release(int fd)
{
    char name[64];
    snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
    void *still = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
    if (still != NULL) {
        dlclose(still);
        return; /* kept open for as long as the process runs: one fd */
    }
    close(fd);
}

struct vr_module *vr_module_get(const struct vr_module_path *mp, const char *name, int kind, const char *cfg_file,
                                int cfg_line, struct vr_errors *errs)
{
    if (name[0] == '\0' || strchr(name, '/') || strcmp(name, "..") == 0) {
        vr_errors_at(errs, cfg_file, cfg_line, "\"%s\" is not a module name (expected a file name without .so)", name);
        return NULL;
    }
    char dirs[4096];
    vr_module_path_format(mp, dirs, sizeof(dirs));
    /* dlopen runs the module's constructors before anything can be checked:
     * load only what no other user could have put or changed there. The
     * walk checks module_path's directories on the way to the .so. Checked
     * on every generation: a file changed or made untrusted since it was
     * loaded is seen by the next reload. */
    char why[2 * PATH_MAX + 4096];
    char *path = NULL;
    int fd = vr_module_find(mp, name, &path, why, sizeof(why));
    if (fd < 0) {
        if (fd == -EPERM)
            vr_errors_at(errs, cfg_file, cfg_line, "module \"%s\" not loaded: %s", name, why);
        else
            vr_errors_at(errs, cfg_file, cfg_line, "cannot load module \"%s\": %s (module_path is %s)", name, why,
                         dirs);
        return NULL;
    }
    struct vr_module_file_id id;
    int r = file_id(fd, &id);
    if (r < 0) {
        vr_errors_at(errs, cfg_file, cfg_line, "cannot load module \"%s\": %s: %s", name, path, strerror(-r));
        close(fd);
        free(path);
        return NULL;
    }
    /* Shared by file identity: the same file (device, inode, size, mtime)
     * is the module already loaded from it. A reload that changes
     * module_path, or finds the file replaced (a rebuilt module: a new
     * inode), loads and checks the new file for the new generation; the old
     * code stays mapped for the generations still holding it, and goes with
     * the last of them. The same inode with another size or time is a file
     * written over in place: its pages have changed under the running code,
     * and glibc's dlopen would only answer with the old object, so no new
     * code can be loaded from it. */
    for (struct vr_module *m = loaded; m; m = m->next) {
        if (m->id.dev != id.dev || m->id.ino != id.ino)
            continue;
        close(fd);
        if (!same_file(&m->id, &id))
            vr_errors_at(errs, cfg_file, cfg_line,
                         "%s: module \"%s\" was rewritten in place while loaded (same inode, new size or "
                         "modification time), so its new code cannot be loaded beside the old; install modules "
                         "by writing a new file and renaming it over the old one (install(1) and package "
                         "managers do), then reload",
                         path, name);
        else if (strcmp(m->desc->name, name) != 0) /* a hard link under another name */
            vr_errors_at(errs, cfg_file, cfg_line, "%s: the module calls itself \"%s\", not \"%s\"", path,
                         m->desc->name, name);
        else if (same_kind(m, name, kind, cfg_file, cfg_line, errs)) {
            m->refs++;
            free(path);
            return m;
        }
        free(path);
        return NULL;
    }
    bool alias;
    void *h = open_code(path, fd, &alias);
    if (!alias) {
        close(fd);
        fd = -1;
    }
    if (h == NULL) {
        vr_errors_at(errs, cfg_file, cfg_line, "cannot load module \"%s\": %s: %s (module_path is %s)", name, path,
                     dlerror(), dirs);
        goto fail_closed;
    }
    char msg[1024];
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
    struct vr_module probe = {.path = path, .desc = d};
    if (!same_kind(&probe, name, kind, cfg_file, cfg_line, errs))
        goto fail;
    if (d->init) {
        r = d->init(&vr_host_services);
        if (r < 0) {
            vr_errors_at(errs, cfg_file, cfg_line, "%s: module \"%s\" failed to initialise: %s", path, name,
                         strerror(-r));
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
    m->id = id;
    m->alias_fd = fd;
    m->handle = h;
    m->desc = d;
    m->refs = 1;
    m->next = loaded;
    loaded = m;
    vr_debug("module %s %s loaded from %s (ABI %u.%u)%s", name, d->version ? d->version : "?", path, d->abi_major,
             d->abi_minor, fd >= 0 ? ", a new file beside the one loaded before" : "");
    return m;
fail:
    dlclose(h);
fail_closed:
    if (fd >= 0)
        alias_release(fd);
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
    /* ASan cannot symbolise leaks in unloaded code; keep modules mapped then
     * (and a /proc/self/fd alias open with it, so its name stays unique). */
#if !defined(__SANITIZE_ADDRESS__)
    dlclose(m->handle);
    if (m->alias_fd >= 0)
        alias_release(m->alias_fd);
#endif
    free(m->name);
    free(m->path);
    free(m);
}
