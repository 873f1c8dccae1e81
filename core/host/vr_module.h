/* Loaded plugin modules (.so files), shared by every generation that uses
 * them: loaded once, ABI-checked before anything in them is touched, init
 * once, fini and dlclose at the last reference. */
#ifndef VR_MODULE_H
#define VR_MODULE_H

#include <vrouter/vr_plugin.h>

#include "vr_errors.h"

struct vr_module {
    char *name;
    char *path;
    void *handle;
    const struct vr_module_desc *desc;
    int refs;
    struct vr_module *next;
};

/* Finds or loads module_path/name.so, checks its ABI header and kind, and
 * takes a reference. Before dlopen (which runs the module's constructors),
 * the .so and every directory to it must pass vr_trust_open's module rule.
 * On failure records "FILE:LINE: ..." (file/line of the block naming it) and
 * returns NULL. */
struct vr_module *vr_module_get(const char *module_path, const char *name, int kind, const char *cfg_file,
                                int cfg_line, struct vr_errors *errs);
void vr_module_put(struct vr_module *m);

/* The ABI check alone, on a descriptor found in file (exposed for tests):
 * returns 0, or -EPROTO with a message in buf. */
int vr_module_check_abi(const char *file, const struct vr_module_desc *d, char *buf, size_t buflen);
const char *vr_module_kind_name(int kind);
/* Every module loaded now (follow next). */
const struct vr_module *vr_module_loaded(void);

#endif
