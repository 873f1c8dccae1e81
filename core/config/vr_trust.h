/* Trusted paths: vrouterd runs code (modules) and obeys files (config,
 * @include) only when nobody but root or its own user could have put them
 * there.
 *
 * A path is trusted when the file and every directory on its resolved path,
 * from / down, are owned by root or by the daemon's effective uid and are
 * neither group- nor other-writable. Symlinks are followed only when the link
 * itself is owned by a trusted uid and its target passes the same checks
 * (the walk goes on through the target's own directories).
 *
 * One exception: a world-writable directory with the sticky bit (/tmp) is
 * passed, because the sticky bit keeps other users from renaming or removing
 * the trusted-owned entry in it, and that entry is checked like any other.
 * This is the rule sudo and ssh apply to some of their files. For modules
 * (VR_TRUST_MODULE) the sticky directory may only be on the way (a build
 * tree under /tmp/x, x root's and 0755): a module straight in one is
 * refused, since anyone can drop a file next to it.
 *
 * The walk uses openat(O_NOFOLLOW) and fstat on the opened descriptors, one
 * component at a time, so what is checked is what is opened. */
#ifndef VR_TRUST_H
#define VR_TRUST_H

#include <stddef.h>
#include <sys/types.h>

enum vr_trust_rule {
    VR_TRUST_MODULE, /* code: a sticky world-writable directory only on the way, never holding it */
    VR_TRUST_CONFIG, /* configuration: a sticky world-writable directory passes */
};

enum vr_trust_want {
    VR_TRUST_FILE, /* a regular file, returned open O_RDONLY */
    VR_TRUST_DIR,  /* a directory, returned open O_PATH */
};

/* Walks path (absolute, or relative to the working directory) and checks
 * every component. Returns an fd (O_CLOEXEC) on the final file or directory,
 * or a negative errno with err filled:
 *   -EPERM   something on the path could be changed by another user:
 *            "untrusted path: PATH: what is wrong (owner, mode); fix: ..."
 *            naming the offending component (and the symlink that led
 *            there, if any);
 *   -EINVAL  the final component is not a regular file (or directory);
 *   other    the path cannot be opened: "PATH: <strerror>".
 * err may be NULL when errlen is 0. */
int vr_trust_open(const char *path, enum vr_trust_rule rule, enum vr_trust_want want, char *err, size_t errlen);

/* The uid trusted besides root is the effective uid, unless pinned here.
 * The privilege drop (process/vr_privdrop.c) pins root (0): what root
 * trusted at start stays all that is trusted after it becomes daemon.user,
 * so a module or config file the unprivileged user can write is never run
 * or read by root at the next start. */
void vr_trust_pin_uid(uid_t uid);

#endif
