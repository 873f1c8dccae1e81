/* Finding <name>.so along daemon.module_path: the directories are tried in
 * order and the first one holding the file wins, so a drop-in directory
 * placed first overrides the packaged modules. */
#ifndef VR_MODULE_FIND_H
#define VR_MODULE_FIND_H

#include <stddef.h>

#include "vr_config.h"

/* Opens the first <dir>/<name>.so of mp that exists, checked with
 * vr_trust_open's module rule (the file and every directory to it). Returns
 * an fd (O_RDONLY, O_CLOEXEC) and sets *path (malloc'd), or a negative errno
 * with a message in why:
 *   -EPERM   the file found first is untrusted ("untrusted path ...; fix: ...");
 *            a later directory is never tried then: the earlier one wins;
 *   -ENOENT  no directory holds it: every path tried, in order;
 *   other    the file found first cannot be opened or is not a regular file.
 * A directory that does not exist (or, as with one directory, an untrusted
 * one that does not hold the file) is passed over. */
int vr_module_find(const struct vr_module_path *mp, const char *name, char **path, char *why, size_t whylen);

/* mp as the messages quote it: "\"/a\", \"/b\"". */
void vr_module_path_format(const struct vr_module_path *mp, char *buf, size_t len);

#endif
