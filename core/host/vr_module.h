/* Loaded plugin modules (.so files), shared by every generation that uses
 * them: loaded once, ABI-checked before anything in them is touched, init
 * once, fini and dlclose at the last reference. */
#ifndef VR_MODULE_H
#define VR_MODULE_H

#include <vrouter/vr_plugin.h>

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "vr_config.h"
#include "vr_errors.h"

/* What makes a module file "the same" across reloads. */
struct vr_module_file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct vr_module {
    char *name;
    char *path;
    struct vr_module_file_id id; /* of the file as it was loaded */
    int alias_fd; /* >= 0: loaded as /proc/self/fd/alias_fd (a file replaced under a loaded path) */
    void *handle;
    const struct vr_module_desc *desc;
    int refs;
    struct vr_module *next;
};

/* Finds name.so in the first directory of module_path that holds it, and
 * shares the module already loaded from that path if the file is still the
 * same (device, inode, size, mtime); otherwise loads it (a changed file as
 * new code beside the old), checks its ABI header, ops and kind, and takes a
 * reference. Before dlopen (which runs the module's constructors), the .so
 * and every directory to it must pass vr_trust_open's module rule. On
 * failure records "FILE:LINE: ..." (file/line of the block naming it) and
 * returns NULL. */
struct vr_module *vr_module_get(const struct vr_module_path *module_path, const char *name, int kind, const char *cfg_file,
                                int cfg_line, struct vr_errors *errs);
void vr_module_put(struct vr_module *m);

/* The ABI check alone, on a descriptor found in file (exposed for tests):
 * returns 0, or -EPROTO with a message in buf. */
int vr_module_check_abi(const char *file, const struct vr_module_desc *d, char *buf, size_t buflen);
const char *vr_module_kind_name(int kind);
/* Every module loaded now (follow next). */
const struct vr_module *vr_module_loaded(void);

#endif
