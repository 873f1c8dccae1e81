/* Trusted-path walk: see vr_trust.h for the rule.
 *
 * How it walks. The path is split into components and resolved by hand from
 * an fd on "/": each component is looked at with fstatat(AT_SYMLINK_NOFOLLOW)
 * and opened with openat(O_NOFOLLOW) relative to the directory fd already
 * checked, and the fd's own fstat is what is checked. A symlink is checked
 * (its owner), read, and its target spliced in front of the remaining
 * components, so the target's directories are walked and checked like any
 * other; relative targets resolve from the link's directory, absolute ones
 * from "/" again. ".." goes to the parent of the directory reached, which is
 * re-checked.
 *
 * What is left of the check-then-use race. The caller gets an fd on what was
 * checked; whoever re-opens the same path later (dlopen, libconfig's
 * config_read_file and @include) resolves it again. Between the two, the
 * path can only be changed by someone who can write to one of the
 * directories on it or replace one of its entries, and the walk has just
 * shown that only root or the daemon's own uid can (the sticky exception for
 * config files holds because a sticky directory lets no one else rename or
 * remove an entry a trusted uid owns). So the re-open may see a different
 * file only when root or vrouterd's user changed it in between (a package
 * upgrade), never because of another user. dlopen("/proc/self/fd/N") on the
 * checked fd would close even that window, but then the loaded object's name
 * in the link map, in dlerror(), in sanitizer and gdb backtraces is
 * "/proc/self/fd/N" (a number that means nothing once the fd is closed), and
 * it needs /proc; given that the window is only open to trusted users, we
 * re-open by path. (One exception, for a reason other than the race: a
 * module file replaced while its old code is still loaded under the same
 * path is opened as /proc/self/fd/N, because dlopen by path would hand back
 * the old object; see open_code in host/vr_module.c.) Permissions changed after the check (a trusted user's
 * chmod) are not a race an untrusted user can win. POSIX ACLs granting
 * write access are not looked at. */
#include "vr_trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The kernel's own limit on symlinks followed while resolving one path. */
#define TRUST_MAX_LINKS 40

struct walk {
    const char *requested; /* the path as given, for plain open errors */
    enum vr_trust_rule rule;
    uid_t euid;
    char real[PATH_MAX];   /* resolved path of the directory reached ("" is /) */
    char via[PATH_MAX];    /* the last symlink followed, "" if none */
    char sticky[PATH_MAX]; /* the directory reached, if it is sticky and world-writable; else "" */
    char *err;
    size_t errlen;
};

static void say(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct walk *w, const char *fmt, ...)
{
    if (w->err == NULL || w->errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, w->errlen, fmt, ap);
    va_end(ap);
}

static int os_error(struct walk *w, int e)
{
    say(w, "%s: %s", w->requested, strerror(e));
    return -e;
}

/* "untrusted path PATH: WHAT; fix: FIX (reached through the symlink L)". */
static int refuse(struct walk *w, const char *path, const char *what, const char *fix)
{
    char through[PATH_MAX + 40] = "";
    if (w->via[0] != '\0')
        snprintf(through, sizeof(through), " (reached through the symlink %s)", w->via);
    say(w, "untrusted path %s: %s; fix: %s%s", path, what, fix, through);
    return -EPERM;
}

static const char *type_name(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISLNK(m))
        return "a symlink";
    return "not a regular file";
}

/* vr_trust_pin_uid: the uid trusted besides root, when it is not the
 * effective one. */
static bool pinned;
static uid_t pinned_uid;

void vr_trust_pin_uid(uid_t uid)
{
    pinned = true;
    pinned_uid = uid;
}

/* Who may own what vrouterd trusts: root, or the user it runs as. */
static bool trusted_uid(const struct walk *w, uid_t uid) { return uid == 0 || uid == w->euid; }

static int check_node(struct walk *w, const struct stat *st, const char *path)
{
    char what[192], fix[PATH_MAX + 64];
    if (!trusted_uid(w, st->st_uid)) {
        char users[64] = "root";
        if (w->euid != 0)
            snprintf(users, sizeof(users), "root or uid %u (vrouterd's user)", (unsigned)w->euid);
        snprintf(what, sizeof(what), "%s owned by uid %u, not by %s", S_ISLNK(st->st_mode) ? "a symlink" : "it is",
                 (unsigned)st->st_uid, users);
        snprintf(fix, sizeof(fix), "chown %sroot %s", S_ISLNK(st->st_mode) ? "-h " : "", path);
        return refuse(w, path, what, fix);
    }
    if (S_ISLNK(st->st_mode)) /* a link's mode bits mean nothing; its directory was checked */
        return 0;
    mode_t mode = st->st_mode & 07777;
    if (S_ISDIR(st->st_mode))
        w->sticky[0] = '\0'; /* the directory reached: set again below if sticky */
    if ((mode & (S_IWGRP | S_IWOTH)) == 0)
        return 0;
    bool sticky_dir = S_ISDIR(st->st_mode) && (mode & S_ISVTX);
    if (sticky_dir) {
        /* Others may add entries here but cannot rename or remove a trusted
         * one, which is checked in its turn: passable on the way (a clone
         * under /tmp). A module directly in it is refused (step_into). */
        snprintf(w->sticky, sizeof(w->sticky), "%s", path);
        return 0;
    }
    if (mode & S_IWOTH)
        snprintf(what, sizeof(what), "%s writable by every user (mode %04o)",
                 S_ISDIR(st->st_mode) ? "a directory" : "a file", (unsigned)mode);
    else
        snprintf(what, sizeof(what), "%s writable by group %u (mode %04o)",
                 S_ISDIR(st->st_mode) ? "a directory" : "a file", (unsigned)st->st_gid, (unsigned)mode);
    snprintf(fix, sizeof(fix), "chmod go-w %s", path);
    return refuse(w, path, what, fix);
}

/* Appends "/name" to w->real into out (the path of a component, for messages). */
static int child_path(const struct walk *w, const char *name, char out[PATH_MAX])
{
    int n = snprintf(out, PATH_MAX, "%s/%s", w->real, name);
    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Replaces *cur with an fd on "/" (checked), and forgets the resolved path. */
static int restart_at_root(struct walk *w, int *cur)
{
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return os_error(w, errno);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return os_error(w, e);
    }
    int r = check_node(w, &st, "/");
    if (r < 0) {
        close(fd);
        return r;
    }
    if (*cur >= 0)
        close(*cur);
    *cur = fd;
    w->real[0] = '\0';
    return 0;
}

/* The final check on what the walk ended at. */
static int check_kind(struct walk *w, const struct stat *st, enum vr_trust_want want, const char *path)
{
    if (want == VR_TRUST_DIR && !S_ISDIR(st->st_mode)) {
        say(w, "%s: %s, not a directory", path, type_name(st->st_mode));
        return -ENOTDIR;
    }
    if (want == VR_TRUST_FILE && !S_ISREG(st->st_mode)) {
        say(w, "%s: %s, not a regular file", path, type_name(st->st_mode));
        return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
    }
    return 0;
}

/* Opens name in cur (not a symlink: fstatat said so) and checks it; on
 * success *cur is the new fd. */
static int step_into(struct walk *w, int *cur, const char *name, const struct stat *seen, bool last,
                     enum vr_trust_want want)
{
    char path[PATH_MAX];
    if (child_path(w, name, path) < 0)
        return os_error(w, ENAMETOOLONG);
    int flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    if (last) {
        /* Refuse a FIFO or device before opening it: opening may block or act. */
        int r = check_kind(w, seen, want, path);
        if (r < 0)
            return r;
        if (w->rule == VR_TRUST_MODULE && want == VR_TRUST_FILE && w->sticky[0]) {
            /* Anyone may create a file there: a module dropped next to the
             * real ones waits only for a config naming it. */
            char what[192];
            snprintf(what, sizeof(what), "a directory other users may create files in (sticky and world-writable, "
                     "like /tmp): modules are never loaded straight from one");
            return refuse(w, w->sticky, what,
                          "put the modules in a directory only root can write, such as " VR_DEFAULT_MODULE_DIR);
        }
        if (want == VR_TRUST_FILE)
            flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    } else if (!S_ISDIR(seen->st_mode)) {
        return os_error(w, ENOTDIR);
    }
    int fd = openat(*cur, name, flags);
    if (fd < 0)
        return os_error(w, errno); /* ELOOP: it became a symlink since fstatat (a trusted user did that) */
    struct stat st;
    int r = fstat(fd, &st) < 0 ? os_error(w, errno) : 0;
    if (r == 0)
        r = check_node(w, &st, path);
    if (r == 0 && last)
        r = check_kind(w, &st, want, path);
    if (r == 0 && last && want == VR_TRUST_FILE && fcntl(fd, F_SETFL, 0) < 0) /* drop O_NONBLOCK */
        r = os_error(w, errno);
    if (r < 0) {
        close(fd);
        return r;
    }
    close(*cur);
    *cur = fd;
    memcpy(w->real, path, sizeof(w->real));
    return 0;
}

/* Goes up from the directory reached. */
static int step_up(struct walk *w, int *cur)
{
    char *slash = strrchr(w->real, '/');
    if (slash == NULL) /* at "/": its parent is itself */
        return 0;
    int fd = openat(*cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return os_error(w, errno);
    *slash = '\0';
    struct stat st;
    int r = fstat(fd, &st) < 0 ? os_error(w, errno) : check_node(w, &st, w->real[0] ? w->real : "/");
    if (r < 0) {
        close(fd);
        return r;
    }
    close(*cur);
    *cur = fd;
    return 0;
}

/* rest := target "/" rest, in place. */
static int prepend_target(char *rest, size_t cap, const char *target)
{
    size_t t = strlen(target), r = strlen(rest);
    if (t + 1 + r + 1 > cap)
        return -ENAMETOOLONG;
    memmove(rest + t + 1, rest, r + 1);
    memcpy(rest, target, t);
    rest[t] = '/';
    return 0;
}

int vr_trust_open(const char *path, enum vr_trust_rule rule, enum vr_trust_want want, char *err, size_t errlen)
{
    struct walk w = {.requested = path, .rule = rule, .euid = pinned ? pinned_uid : geteuid(), .err = err,
                     .errlen = errlen};
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path[0] == '\0')
        return os_error(&w, ENOENT);
    /* rest: what is left to resolve, as a relative path from the directory reached */
    static const size_t cap = PATH_MAX * 2;
    char rest[PATH_MAX * 2];
    if (path[0] == '/') {
        if (strlen(path) >= cap)
            return os_error(&w, ENAMETOOLONG);
        snprintf(rest, cap, "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return os_error(&w, errno);
        int n = snprintf(rest, cap, "%s/%s", cwd, path);
        if (n < 0 || (size_t)n >= cap)
            return os_error(&w, ENAMETOOLONG);
    }
    int cur = -1, links = 0, r = restart_at_root(&w, &cur);
    size_t pos = 0;
    while (r == 0) {
        while (rest[pos] == '/')
            pos++;
        if (rest[pos] == '\0') { /* "/" itself, or a path ending in "/", "." or ".." */
            struct stat st;
            r = fstat(cur, &st) < 0 ? os_error(&w, errno) : check_kind(&w, &st, want, w.real[0] ? w.real : "/");
            break;
        }
        char name[NAME_MAX + 1];
        size_t len = strcspn(rest + pos, "/");
        if (len > NAME_MAX) {
            r = os_error(&w, ENAMETOOLONG);
            break;
        }
        memcpy(name, rest + pos, len);
        name[len] = '\0';
        pos += len;
        while (rest[pos] == '/')
            pos++;
        bool last = rest[pos] == '\0';
        if (strcmp(name, ".") == 0)
            continue;
        if (strcmp(name, "..") == 0) {
            r = step_up(&w, &cur);
            continue;
        }
        struct stat st;
        if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            r = os_error(&w, errno);
            break;
        }
        if (!S_ISLNK(st.st_mode)) {
            r = step_into(&w, &cur, name, &st, last, want);
            if (r == 0 && last)
                return cur;
            continue;
        }
        char link[PATH_MAX], target[PATH_MAX];
        if (child_path(&w, name, link) < 0 || ++links > TRUST_MAX_LINKS) {
            r = os_error(&w, links > TRUST_MAX_LINKS ? ELOOP : ENAMETOOLONG);
            break;
        }
        if ((r = check_node(&w, &st, link)) < 0)
            break;
        ssize_t n = readlinkat(cur, name, target, sizeof(target));
        if (n < 0 || (size_t)n >= sizeof(target)) {
            r = os_error(&w, n < 0 ? errno : ENAMETOOLONG);
            break;
        }
        target[n] = '\0';
        memcpy(w.via, link, sizeof(w.via));
        /* drop what was consumed, put the target in front of the rest */
        memmove(rest, rest + pos, strlen(rest + pos) + 1);
        pos = 0;
        if ((r = prepend_target(rest, cap, target)) < 0) {
            r = os_error(&w, ENAMETOOLONG);
            break;
        }
        if (target[0] == '/')
            r = restart_at_root(&w, &cur);
    }
    if (r == 0) /* ended at a directory, and a directory was wanted */
        return cur;
    if (cur >= 0)
        close(cur);
    return r;
}
