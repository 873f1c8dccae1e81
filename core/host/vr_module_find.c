#include "vr_module_find.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vr_trust.h"

/* Appends "sep text" to buf (truncating quietly: it is a message). */
static void append(char *buf, size_t len, const char *sep, const char *text)
{
    size_t used = strlen(buf);
    for (const char *part = used ? sep : ""; part; part = part == text ? NULL : text) {
        size_t n = strlen(part);
        if (used + n >= len)
            n = len - 1 - used;
        memcpy(buf + used, part, n);
        used += n;
        buf[used] = '\0';
    }
}

void vr_module_path_format(const struct vr_module_path *mp, char *buf, size_t len)
{
    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < mp->n; i++) {
        char quoted[4096];
        snprintf(quoted, sizeof(quoted), "\"%s\"", mp->dirs[i]);
        append(buf, len, ", ", quoted);
    }
}

int vr_module_find(const struct vr_module_path *mp, const char *name, char **path, char *why, size_t whylen)
{
    char missing[4096] = ""; /* "PATH: No such file or directory; ..." for the not-found message */
    for (size_t i = 0; i < mp->n; i++) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s.so", mp->dirs[i], name) < 0)
            return -ENOMEM;
        int fd = vr_trust_open(p, VR_TRUST_MODULE, VR_TRUST_FILE, why, whylen);
        /* An untrusted directory that does not hold the file is passed over,
         * as with one directory: nothing is loaded from it, and a file put
         * there later is refused, not loaded. */
        if (fd == -EPERM && access(p, F_OK) < 0 && errno == ENOENT)
            fd = -ENOENT;
        if (fd == -ENOENT) {
            char line[4096 + 64];
            snprintf(line, sizeof(line), "%s: %s", p, strerror(ENOENT));
            append(missing, sizeof(missing), "; ", line);
            free(p);
            continue;
        }
        if (fd < 0) {
            free(p);
            return fd;
        }
        *path = p;
        return fd;
    }
    snprintf(why, whylen, "%s", missing);
    return -ENOENT;
}
