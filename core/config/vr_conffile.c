/* Config file and @include trust checks; see vr_conffile.h. */
#include "vr_conffile.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vr_trust.h"

/* libconfig 1.5 gives up past this include depth; so do we (it reports it). */
#define INCLUDE_DEPTH_MAX 10
/* A config file past this size is not scanned here (libconfig reads it). */
#define CONF_SCAN_MAX ((size_t)64 << 20)

static size_t match_include(const char *p, const char *end, char *name, size_t namecap)
{
    const char *s = p;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    static const char kw[] = "@include";
    if ((size_t)(end - s) < sizeof(kw) - 1 || memcmp(s, kw, sizeof(kw) - 1) != 0)
        return 0;
    s += sizeof(kw) - 1;
    const char *ws = s;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    if (s == ws || s >= end || *s != '"')
        return 0;
    s++;
    size_t n = 0;
    while (s < end && *s != '"') {
        if (*s == '\\' && s + 1 < end) /* libconfig unescapes \\ and \" in the name */
            s++;
        if (n + 1 < namecap)
            name[n++] = *s;
        s++;
    }
    if (s >= end)
        return 0;
    name[n] = '\0';
    return (size_t)(s + 1 - p);
}

void vr_conffile_scan_includes(const char *text, size_t len, vr_conffile_include_fn fn, void *arg)
{
    enum { CODE, STRING, BLOCK_COMMENT } state = CODE;
    const char *p = text, *end = text + len;
    int line = 1;
    bool line_start = true;
    char name[PATH_MAX];
    while (p < end) {
        if (line_start && state == CODE) {
            size_t n = match_include(p, end, name, sizeof(name));
            if (n > 0) {
                fn(name, line, arg);
                p += n;
            }
        }
        line_start = false;
        if (p >= end)
            break;
        char c = *p;
        if (c == '\n') {
            line++;
            line_start = true;
            p++;
            continue;
        }
        if (state == STRING) {
            if (c == '\\' && p + 1 < end && p[1] != '\n')
                p++;
            else if (c == '"')
                state = CODE;
        } else if (state == BLOCK_COMMENT) {
            if (c == '*' && p + 1 < end && p[1] == '/') {
                p++;
                state = CODE;
            }
        } else if (c == '"') {
            state = STRING;
        } else if (c == '/' && p + 1 < end && p[1] == '*') {
            p++;
            state = BLOCK_COMMENT;
        } else if (c == '#' || (c == '/' && p + 1 < end && p[1] == '/')) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            p = nl ? nl : end; /* the newline is counted above */
            continue;
        }
        p++;
    }
}

struct walk {
    const char *include_dir;
    struct vr_errors *errs;
    const char *file; /* the file being scanned, for its includes' errors */
    int depth;
    int bad;
};

static void check_file(struct walk *w, const char *path, const char *from_file, int from_line, const char *name);

static void on_include(const char *name, int line, void *arg)
{
    struct walk *w = arg;
    if (name[0] == '/' && w->include_dir != NULL) {
        /* libconfig 1.5 (Debian 12) joins every @include with the include
         * directory, so an absolute path would fail as "cannot open include
         * file" with no hint why. */
        vr_errors_at(w->errs, w->file, line, "@include \"%s\": an absolute path is not supported (libconfig joins "
                     "every @include with the config file's directory, %s): write it relative to that directory",
                     name, w->include_dir);
        w->bad++;
        return;
    }
    char *full = NULL;
    int r = name[0] == '/' || w->include_dir == NULL ? asprintf(&full, "%s", name)
                                                      : asprintf(&full, "%s/%s", w->include_dir, name);
    if (r < 0)
        return;
    check_file(w, full, w->file, line, name);
    free(full);
}

/* The whole of an fd open on a regular file; NULL when unreadable. */
static char *slurp(int fd, size_t *len)
{
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        close(fd);
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= CONF_SCAN_MAX)
                break;
            char *p = realloc(buf, cap ? cap * 2 : 8192);
            if (p == NULL)
                break;
            buf = p;
            cap = cap ? cap * 2 : 8192;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static void check_file(struct walk *w, const char *path, const char *from_file, int from_line, const char *name)
{
    char why[2 * PATH_MAX + 256];
    int fd = vr_trust_open(path, VR_TRUST_CONFIG, VR_TRUST_FILE, why, sizeof(why));
    if (fd == -EACCES && geteuid() != 0) {
        /* Not root (daemon.user, systemd's User=): libconfig would only say
         * "cannot open include file"; say who cannot read what. */
#define VR_UNREADABLE_FIX "%s (vrouterd runs as uid %u; fix: give its group read access, e.g. chown root:<its group> %s && chmod 0640 %s)"
        unsigned uid = (unsigned)geteuid();
        if (from_file == NULL)
            vr_errors_at(w->errs, path, 0, "config file not read: " VR_UNREADABLE_FIX, why, uid, path, path);
        else
            vr_errors_at(w->errs, from_file, from_line, "@include \"%s\" not read: " VR_UNREADABLE_FIX, name, why,
                         uid, path, path);
#undef VR_UNREADABLE_FIX
        w->bad++;
        return;
    }
    if (fd < 0) {
        /* missing or unreadable: libconfig says so itself, as it always did */
        if (fd != -EPERM && fd != -EINVAL && fd != -EISDIR)
            return;
        if (from_file == NULL)
            vr_errors_at(w->errs, path, 0, "config file not read: %s", why);
        else
            vr_errors_at(w->errs, from_file, from_line, "@include \"%s\" not read: %s", name, why);
        w->bad++;
        return;
    }
    if (w->depth >= INCLUDE_DEPTH_MAX) { /* libconfig reports the depth */
        close(fd);
        return;
    }
    size_t len = 0;
    char *text = slurp(fd, &len);
    if (text == NULL)
        return;
    const char *outer = w->file;
    w->file = path;
    w->depth++;
    vr_conffile_scan_includes(text, len, on_include, w);
    w->depth--;
    w->file = outer;
    free(text);
}

int vr_conffile_check(const char *path, const char *include_dir, struct vr_errors *errs)
{
    struct walk w = {.include_dir = include_dir, .errs = errs};
    check_file(&w, path, NULL, 0, NULL);
    return w.bad > 0 ? -1 : 0;
}
