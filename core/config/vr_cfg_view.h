/* A read-only view of one libconfig group, as the core and modules see it.
 *
 * Every key looked up through a view is remembered (whether present or not),
 * so after a block has been read, vr_cfg_check_unknown() can report each key
 * in the file nobody asked for, naming FILE:LINE and the keys that are known.
 * Errors go to the root's error list as "FILE:LINE: <what>: <key>: message".
 */
#ifndef VR_CFG_VIEW_H
#define VR_CFG_VIEW_H

#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>

#include "vr_errors.h"

struct vr_cfg_root {
    struct vr_errors *errs;
    const char *file; /* the top config file */
    const char *dir;  /* its directory, for relative paths */
};

struct vr_cfg;

/* what: how messages name the block ("outbound 'wan-b'", "daemon"). */
struct vr_cfg *vr_cfg_new(config_setting_t *group, const char *what, struct vr_cfg_root *root);
void vr_cfg_free(struct vr_cfg *cfg);

/* The getters of struct vr_host (see api/vrouter/vr_host.h for semantics). */
int vr_cfg_int(const struct vr_cfg *cfg, const char *key, int64_t *out);
int vr_cfg_bool(const struct vr_cfg *cfg, const char *key, int *out);
int vr_cfg_string(const struct vr_cfg *cfg, const char *key, const char **out);
int vr_cfg_list_len(const struct vr_cfg *cfg, const char *key);
int vr_cfg_type(const struct vr_cfg *cfg, const char *key);
int vr_cfg_list_int(const struct vr_cfg *cfg, const char *key, int idx, int64_t *out);
int vr_cfg_list_string(const struct vr_cfg *cfg, const char *key, int idx, const char **out);
const struct vr_cfg *vr_cfg_group(const struct vr_cfg *cfg, const char *key);
const struct vr_cfg *vr_cfg_list_group(const struct vr_cfg *cfg, const char *key, int idx);
void vr_cfg_error(const struct vr_cfg *cfg, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vr_cfg_verror(const struct vr_cfg *cfg, const char *key, const char *fmt, va_list ap);
const char *vr_cfg_path(const struct vr_cfg *cfg, const char *path);

/* Marks a key as known without reading it (e.g. "module", read elsewhere). */
void vr_cfg_known(const struct vr_cfg *cfg, const char *key);
bool vr_cfg_has(const struct vr_cfg *cfg, const char *key);
int vr_cfg_line(const struct vr_cfg *cfg, const char *key);
/* The file a key (or the block, key NULL) stands in: includes differ. */
const char *vr_cfg_file(const struct vr_cfg *cfg, const char *key);
const char *vr_cfg_what(const struct vr_cfg *cfg);

/* Reports every key of this view and of the sub-views handed out that was
 * never looked up. Returns the number of unknown keys. */
int vr_cfg_check_unknown(const struct vr_cfg *cfg);

#endif
