/*
 * dns.fakeip.persist: the pool's mappings on disk, so a client that still
 * holds a fake address after a restart reaches the same name.
 *
 * Saving never leaves a half-written file where the last good one was: the
 * text goes to a temp file beside it, is fsync'd, renamed over it, and the
 * directory is fsync'd so the rename itself survives a power cut.
 */
#include "vr_fakeip_pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

int vr_fakeip_save(struct vr_fakeip_pool *pool, const char *path, uint64_t *changes_out, const char **why)
{
    char *text;
    size_t len;
    int r = vr_fakeip_snapshot(pool, &text, &len, changes_out);
    if (r < 0) {
        *why = "snapshot";
        return r;
    }
    size_t tl = strlen(path) + 8;
    char *tmp = malloc(tl);
    if (tmp == NULL) {
        free(text);
        *why = "snapshot";
        return -ENOMEM;
    }
    snprintf(tmp, tl, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = -errno;
        *why = "create the temp file";
        goto out;
    }
    if ((r = write_all(fd, text, len)) < 0) {
        *why = "write";
    } else if (fsync(fd) < 0) {
        r = -errno;
        *why = "fsync";
    }
    if (close(fd) < 0 && r == 0) {
        r = -errno;
        *why = "close";
    }
    if (r == 0 && rename(tmp, path) < 0) {
        r = -errno;
        *why = "rename";
    }
    if (r < 0)
        unlink(tmp);
    else
        fsync_dir_of(path);
out:
    free(tmp);
    free(text);
    return r;
}

/* One line "ADDRESS NAME"; false (with what) when it is not one. */
static bool parse_line(char *line, struct sockaddr_storage *ss, char **name, const char **what)
{
    char *sp = strchr(line, ' ');
    if (sp == NULL) {
        *what = "expected \"ADDRESS NAME\"";
        return false;
    }
    *sp = '\0';
    *name = sp + 1;
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, line, &s4->sin_addr) == 1)
        s4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, line, &s6->sin6_addr) == 1)
        s6->sin6_family = AF_INET6;
    else {
        *what = "not an IPv4 or IPv6 address";
        return false;
    }
    if (!vr_fakeip_name_ok(*name)) {
        *what = "not a normalised domain name (1 to 253 printable bytes, no upper case)";
        return false;
    }
    return true;
}

/* Moves a corrupt file aside (path.corrupt) so the next save does not
 * destroy what an operator may want to look at. */
static void set_aside(const char *path)
{
    size_t n = strlen(path) + 9;
    char *aside = malloc(n);
    if (aside == NULL)
        return;
    snprintf(aside, n, "%s.corrupt", path);
    (void)rename(path, aside);
    free(aside);
}

long vr_fakeip_load(struct vr_fakeip_pool *pool, const char *path, size_t *skipped, char *err, size_t errcap)
{
    *skipped = 0;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
        return -errno;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long loaded = 0, lineno = 0;
    const char *what = NULL;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        else {
            what = "the last line is cut short (no newline: the file was truncated)";
            break;
        }
        if (lineno == 1) {
            if (strcmp(line, "# vrouterd fakeip v1") != 0) {
                what = "not a vrouterd FakeIP file (the first line must be \"# vrouterd fakeip v1\")";
                break;
            }
            continue;
        }
        if (n == 0 || line[0] == '#')
            continue;
        struct sockaddr_storage ss;
        char *name;
        if (!parse_line(line, &ss, &name, &what))
            break;
        int r = vr_fakeip_insert(pool, (const struct sockaddr *)&ss, name);
        if (r == -ERANGE) {
            (*skipped)++; /* the range changed since it was saved */
            continue;
        }
        if (r == -EEXIST) {
            what = "the address or the name is mapped twice";
            break;
        }
        if (r < 0) {
            what = strerror(-r);
            break;
        }
        loaded++;
    }
    if (what == NULL && lineno == 0)
        what = "the file is empty (a saved pool has at least its header line)";
    if (what == NULL && ferror(f))
        what = strerror(errno);
    free(line);
    fclose(f);
    if (what != NULL) {
        snprintf(err, errcap, "%s:%ld: %s", path, lineno, what);
        vr_fakeip_clear(pool);
        set_aside(path);
        return -EINVAL;
    }
    return loaded;
}
