/* Before libconfig reads a config file: check that it, and every file it
 * @includes (recursively), is a regular file on a trusted path (vr_trust.h,
 * the config rule). libconfig 1.5 has no include hook, so the @include
 * directives are found here by a small scan that follows libconfig's own
 * rules: "@include "NAME"" at the start of a line, outside strings and
 * comments, NAME relative to include_dir (an absolute NAME is an error: libconfig 1.5 joins every @include with include_dir).
 *
 * Errors go to errs as "FILE: config file not read: untrusted path ..." for
 * the top file and "INCLUDING-FILE:LINE: @include "NAME" not read: ..." for
 * an include. A file that does not exist or cannot be opened is left to
 * libconfig, which reports it as before. */
#ifndef VR_CONFFILE_H
#define VR_CONFFILE_H

#include "vr_errors.h"

/* Returns 0 when every file is trusted (or missing), -1 with errors added. */
int vr_conffile_check(const char *path, const char *include_dir, struct vr_errors *errs);

/* The scan alone, on len bytes of config text (exposed for tests): calls
 * fn for each @include with its NAME (unescaped) and 1-based line. */
typedef void (*vr_conffile_include_fn)(const char *name, int line, void *arg);
void vr_conffile_scan_includes(const char *text, size_t len, vr_conffile_include_fn fn, void *arg);

#endif
