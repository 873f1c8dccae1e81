/* The trusted-path walk over real files in a private directory: owners
 * (root vs another uid, via chown: needs root, skipped otherwise), group- and
 * other-writable files and directories, sticky directories (passed for
 * config, refused for modules), symlinks into untrusted places and chains of
 * symlinks, FIFOs, and what each refusal says. The directory is made in the
 * working directory (the build tree), whose chain must itself be trusted. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr_conffile.h"
#include "vr_errors.h"
#include "vr_test.h"
#include "vr_trust.h"

#define NOBODY 65534

static char base[PATH_MAX];
static char err[2 * PATH_MAX + 512];

static const char *at(const char *rel)
{
    static char bufs[8][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 8];
    if (snprintf(b, PATH_MAX, "%s/%s", base, rel) >= PATH_MAX)
        abort(); /* the test's own paths are short */
    return b;
}

static void mkdir_mode(const char *rel, mode_t mode)
{
    CHECK(mkdir(at(rel), 0700) == 0);
    CHECK(chmod(at(rel), mode) == 0); /* chmod: the umask does not apply */
}

static void file_mode(const char *rel, mode_t mode)
{
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, "x\n", 2) == 2);
        close(fd);
    }
    CHECK(chmod(at(rel), mode) == 0);
}

/* The walk's result: 0 when trusted (the fd is checked and closed). */
static int walk(const char *path, enum vr_trust_rule rule, enum vr_trust_want want)
{
    int fd = vr_trust_open(path, rule, want, err, sizeof(err));
    if (fd >= 0) {
        struct stat st;
        CHECK(fstat(fd, &st) == 0);
        CHECK(want == VR_TRUST_DIR ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
        CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        close(fd);
        return 0;
    }
    return fd;
}

/* err contains every one of the NULL-terminated needles. */
static void expect_err(int line, ...)
{
    va_list ap;
    va_start(ap, line);
    for (const char *n = va_arg(ap, const char *); n; n = va_arg(ap, const char *)) {
        if (strstr(err, n) == NULL) {
            vr_test_failed++;
            fprintf(stderr, "test_trust.c:%d: expected \"%s\" in \"%s\"\n", line, n, err);
        } else {
            vr_test_passed++;
        }
    }
    va_end(ap);
}

static void test_trusted_tree(void)
{
    mkdir_mode("mods", 0755);
    file_mode("mods/good.so", 0644);
    CHECK(walk(at("mods/good.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == 0);
    CHECK(walk(at("mods"), VR_TRUST_MODULE, VR_TRUST_DIR) == 0);
    CHECK(walk(at("mods/"), VR_TRUST_MODULE, VR_TRUST_DIR) == 0);
    CHECK(walk(at("mods/./../mods//good.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == 0);
    CHECK(walk("/", VR_TRUST_MODULE, VR_TRUST_DIR) == 0);
    /* read-only for everyone, and executable, is fine */
    CHECK(chmod(at("mods/good.so"), 0555) == 0);
    CHECK(walk(at("mods/good.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == 0);
    CHECK(chmod(at("mods/good.so"), 0644) == 0);

    /* relative to the working directory */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    CHECK(chdir(base) == 0);
    CHECK(walk("mods/good.so", VR_TRUST_MODULE, VR_TRUST_FILE) == 0);
    CHECK(walk("./mods/../mods/good.so", VR_TRUST_CONFIG, VR_TRUST_FILE) == 0);
    CHECK(chdir(cwd) == 0);
}

static void test_writable(void)
{
    CHECK(chmod(at("mods"), 0775) == 0);
    CHECK(walk(at("mods/good.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "untrusted path %s: a directory writable by group", at("mods"));
    expect_err(__LINE__, want, "(mode 0775)", "fix: chmod go-w ", at("mods"), NULL);
    CHECK(walk(at("mods"), VR_TRUST_MODULE, VR_TRUST_DIR) == -EPERM);
    CHECK(walk(at("mods/good.so"), VR_TRUST_CONFIG, VR_TRUST_FILE) == -EPERM); /* not sticky: no exception */
    CHECK(chmod(at("mods"), 0757) == 0);
    CHECK(walk(at("mods/good.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    expect_err(__LINE__, "a directory writable by every user (mode 0757)", NULL);
    CHECK(chmod(at("mods"), 0755) == 0);

    CHECK(chmod(at("mods/good.so"), 0646) == 0);
    CHECK(walk(at("mods/good.so"), VR_TRUST_CONFIG, VR_TRUST_FILE) == -EPERM);
    snprintf(want, sizeof(want), "untrusted path %s: a file writable by every user (mode 0646)", at("mods/good.so"));
    expect_err(__LINE__, want, "fix: chmod go-w ", at("mods/good.so"), NULL);
    CHECK(chmod(at("mods/good.so"), 0664) == 0);
    CHECK(walk(at("mods/good.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    expect_err(__LINE__, "a file writable by group", "(mode 0664)", NULL);
    CHECK(chmod(at("mods/good.so"), 0644) == 0);
    CHECK(walk(at("mods/good.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == 0);
}

static void test_owners(void)
{
    if (geteuid() != 0) {
        printf("note: not root, owner checks by chown skipped\n");
        return;
    }
    file_mode("mods/theirs.so", 0644);
    CHECK(chown(at("mods/theirs.so"), NOBODY, (gid_t)-1) == 0);
    CHECK(walk(at("mods/theirs.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "untrusted path %s: it is owned by uid 65534, not by root", at("mods/theirs.so"));
    expect_err(__LINE__, want, "fix: chown root ", at("mods/theirs.so"), NULL);
    CHECK(walk(at("mods/theirs.so"), VR_TRUST_CONFIG, VR_TRUST_FILE) == -EPERM);

    /* a directory of another user's, holding root's file */
    mkdir_mode("theirdir", 0755);
    file_mode("theirdir/ours.so", 0644);
    CHECK(chown(at("theirdir"), NOBODY, (gid_t)-1) == 0);
    CHECK(walk(at("theirdir/ours.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    expect_err(__LINE__, "owned by uid 65534", "fix: chown root ", at("theirdir"), NULL);
    /* their symlink, in our directory, to our file */
    CHECK(symlink("good.so", at("mods/theirlink.so")) == 0);
    CHECK(lchown(at("mods/theirlink.so"), NOBODY, (gid_t)-1) == 0);
    CHECK(walk(at("mods/theirlink.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    expect_err(__LINE__, "a symlink owned by uid 65534", "fix: chown -h root ", at("mods/theirlink.so"), NULL);
}

static void test_sticky(void)
{
    /* like /tmp: everyone may create files, nobody may replace root's */
    mkdir_mode("sticky", 01777);
    file_mode("sticky/vrouter.conf", 0644);
    CHECK(walk(at("sticky/vrouter.conf"), VR_TRUST_CONFIG, VR_TRUST_FILE) == 0);
    CHECK(walk(at("sticky/vrouter.conf"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "untrusted path %s: a directory other users may create files in (sticky and "
             "world-writable", at("sticky"));
    expect_err(__LINE__, want, "modules are never loaded straight from one", "fix: put the modules in a directory",
               NULL);
    /* On the way to a module it passes (a build tree under /tmp): nobody
     * else can rename or remove the root-owned 0755 directory below it. */
    mkdir_mode("sticky/mods", 0755);
    file_mode("sticky/mods/good.so", 0644);
    CHECK(walk(at("sticky/mods/good.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == 0);
    CHECK(walk(at("sticky/mods"), VR_TRUST_MODULE, VR_TRUST_DIR) == 0);
    CHECK(walk(at("sticky/mods/good.so"), VR_TRUST_CONFIG, VR_TRUST_FILE) == 0);
    /* ... unless something after it is writable again */
    mkdir_mode("sticky/open", 0777);
    file_mode("sticky/open/good.so", 0644);
    CHECK(walk(at("sticky/open/good.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    expect_err(__LINE__, "writable by every user (mode 0777)", NULL);
    /* a symlink into a sticky directory leads to a module straight in it */
    file_mode("sticky/direct.so", 0644);
    mkdir_mode("linked", 0755);
    CHECK(symlink(at("sticky/direct.so"), at("linked/direct.so")) == 0);
    CHECK(walk(at("linked/direct.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    expect_err(__LINE__, "modules are never loaded straight from one", NULL);
    if (geteuid() == 0) {
        /* in a sticky directory, another user's file is still refused */
        file_mode("sticky/theirs.conf", 0644);
        CHECK(chown(at("sticky/theirs.conf"), NOBODY, (gid_t)-1) == 0);
        CHECK(walk(at("sticky/theirs.conf"), VR_TRUST_CONFIG, VR_TRUST_FILE) == -EPERM);
        expect_err(__LINE__, "owned by uid 65534", NULL);
    }
}

static void test_symlinks(void)
{
    /* a symlink in a trusted directory into an untrusted one */
    mkdir_mode("evil", 0777);
    file_mode("evil/x.so", 0644);
    CHECK(symlink("../evil/x.so", at("mods/x.so")) == 0);
    CHECK(walk(at("mods/x.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "untrusted path %s: a directory writable by every user", at("evil"));
    expect_err(__LINE__, want, "reached through the symlink ", at("mods/x.so"), NULL);
    /* the same with an absolute target, and with a symlinked directory */
    CHECK(symlink(at("evil"), at("mods/evil-dir")) == 0);
    CHECK(walk(at("mods/evil-dir/x.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    expect_err(__LINE__, want, at("mods/evil-dir"), NULL);

    /* a chain: a.so -> b.so (relative) -> <base>/real/c.so (absolute) */
    mkdir_mode("real", 0755);
    file_mode("real/c.so", 0644);
    CHECK(symlink(at("real/c.so"), at("mods/b.so")) == 0);
    CHECK(symlink("b.so", at("mods/a.so")) == 0);
    int fd = vr_trust_open(at("mods/a.so"), VR_TRUST_MODULE, VR_TRUST_FILE, err, sizeof(err));
    CHECK(fd >= 0);
    struct stat got, want_st;
    CHECK(stat(at("real/c.so"), &want_st) == 0);
    CHECK(fd >= 0 && fstat(fd, &got) == 0 && got.st_ino == want_st.st_ino && got.st_dev == want_st.st_dev);
    if (fd >= 0)
        close(fd);
    /* the end of the chain becomes untrusted: refused, naming it */
    CHECK(chmod(at("real"), 0770) == 0);
    CHECK(walk(at("mods/a.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -EPERM);
    snprintf(want, sizeof(want), "untrusted path %s: a directory writable by group", at("real"));
    expect_err(__LINE__, want, "reached through the symlink ", at("mods/b.so"), NULL);
    CHECK(chmod(at("real"), 0755) == 0);
    CHECK(walk(at("mods/a.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == 0);

    /* a loop ends */
    CHECK(symlink("loop2", at("mods/loop1")) == 0);
    CHECK(symlink("loop1", at("mods/loop2")) == 0);
    CHECK(walk(at("mods/loop1"), VR_TRUST_CONFIG, VR_TRUST_FILE) == -ELOOP);
    expect_err(__LINE__, at("mods/loop1"), strerror(ELOOP), NULL);
}

static void test_kinds(void)
{
    CHECK(mkfifo(at("mods/fifo.so"), 0644) == 0);
    alarm(10); /* a hang here is a failure, not a stuck test */
    CHECK(walk(at("mods/fifo.so"), VR_TRUST_CONFIG, VR_TRUST_FILE) == -EINVAL);
    alarm(0);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s: a FIFO, not a regular file", at("mods/fifo.so"));
    expect_err(__LINE__, want, NULL);
    CHECK(walk(at("mods"), VR_TRUST_CONFIG, VR_TRUST_FILE) == -EISDIR);
    expect_err(__LINE__, "a directory, not a regular file", NULL);
    CHECK(walk(at("mods/good.so"), VR_TRUST_MODULE, VR_TRUST_DIR) == -ENOTDIR);
    CHECK(walk(at("mods/good.so/x"), VR_TRUST_MODULE, VR_TRUST_FILE) == -ENOTDIR);
    CHECK(walk(at("mods/missing.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -ENOENT);
    snprintf(want, sizeof(want), "%s: %s", at("mods/missing.so"), strerror(ENOENT));
    CHECK(strcmp(err, want) == 0);
    CHECK(walk(at("nodir/missing.so"), VR_TRUST_MODULE, VR_TRUST_FILE) == -ENOENT);
    CHECK(walk("", VR_TRUST_MODULE, VR_TRUST_FILE) == -ENOENT);
    /* no room for a message: still refused */
    CHECK(vr_trust_open(at("evil/x.so"), VR_TRUST_MODULE, VR_TRUST_FILE, NULL, 0) == -EPERM);
}

/* ---- config files and @include */

struct found {
    char names[8][64];
    int lines[8];
    int n;
};

static void collect(const char *name, int line, void *arg)
{
    struct found *f = arg;
    if (f->n < 8) {
        snprintf(f->names[f->n], sizeof(f->names[0]), "%s", name);
        f->lines[f->n++] = line;
    }
}

static void test_include_scan(void)
{
    const char *text = "@include \"a.conf\"\n"              /* 1 */
                       "  \t@include\t\"sub/b.conf\"  # c\n"  /* 2 */
                       "# @include \"not-c1.conf\"\n"         /* 3 */
                       "x = 1; @include \"not-c2.conf\"\n"    /* 4: not at line start */
                       "/* a comment\n"                        /* 5 */
                       "@include \"not-c3.conf\"\n"           /* 6: in a comment */
                       "*/ s = \"a string\n"                   /* 7 */
                       "@include \\\"not-c4.conf\\\"\n"       /* 8: in the string */
                       "\";\n"                                 /* 9 */
                       "@include \"q\\\"uote.conf\"\n"         /* 10 */
                       "// @include \"not-c5.conf\"\n"        /* 11 */
                       "@include \"/abs/d.conf\"";             /* 12: no newline at the end */
    struct found f = {0};
    vr_conffile_scan_includes(text, strlen(text), collect, &f);
    CHECK(f.n == 4);
    CHECK(strcmp(f.names[0], "a.conf") == 0 && f.lines[0] == 1);
    CHECK(strcmp(f.names[1], "sub/b.conf") == 0 && f.lines[1] == 2);
    CHECK(strcmp(f.names[2], "q\"uote.conf") == 0 && f.lines[2] == 10);
    CHECK(strcmp(f.names[3], "/abs/d.conf") == 0 && f.lines[3] == 12);
    for (int i = 0; i < f.n; i++)
        CHECK(strstr(f.names[i], "not-") == NULL);
}

static void write_conf(const char *rel, const char *text, mode_t mode)
{
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
        close(fd);
    }
    CHECK(chmod(at(rel), mode) == 0);
}

static void test_config_files(void)
{
    mkdir_mode("conf", 0755);
    mkdir_mode("conf/conf.d", 0755);
    write_conf("conf/top.conf", "# top\n@include \"conf.d/mid.conf\"\n", 0644);
    write_conf("conf/conf.d/mid.conf", "\n\n@include \"leaf.conf\"\n", 0644);
    write_conf("conf/leaf.conf", "x = 1;\n", 0644);
    struct vr_errors e = {0};
    CHECK(vr_conffile_check(at("conf/top.conf"), at("conf"), &e) == 0);
    CHECK(e.n == 0);

    /* the top file writable by others */
    CHECK(chmod(at("conf/top.conf"), 0666) == 0);
    CHECK(vr_conffile_check(at("conf/top.conf"), at("conf"), &e) == -1);
    CHECK(e.n == 1);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want), "%s: config file not read: untrusted path %s: a file writable by every user",
             at("conf/top.conf"), at("conf/top.conf"));
    CHECK_STR_CONTAINS(e.n ? e.msgs[0] : NULL, want);
    CHECK_STR_CONTAINS(e.n ? e.msgs[0] : NULL, "fix: chmod go-w ");
    vr_errors_clear(&e);
    CHECK(chmod(at("conf/top.conf"), 0644) == 0);

    /* an include two levels down: named at the line of the file including it */
    CHECK(chmod(at("conf/leaf.conf"), 0646) == 0);
    CHECK(vr_conffile_check(at("conf/top.conf"), at("conf"), &e) == -1);
    CHECK(e.n == 1);
    snprintf(want, sizeof(want), "%s:3: @include \"leaf.conf\" not read: untrusted path %s: a file writable by every user",
             at("conf/conf.d/mid.conf"), at("conf/leaf.conf"));
    CHECK_STR_CONTAINS(e.n ? e.msgs[0] : NULL, want);
    vr_errors_clear(&e);
    CHECK(chmod(at("conf/leaf.conf"), 0644) == 0);

    /* a config in a sticky directory is fine (owned by a trusted uid) */
    write_conf("sticky/top.conf", "@include \"../conf/leaf.conf\"\n", 0600);
    CHECK(vr_conffile_check(at("sticky/top.conf"), at("sticky"), &e) == 0);
    CHECK(e.n == 0);

    /* a FIFO included: refused at once instead of blocking libconfig */
    CHECK(mkfifo(at("conf/fifo.conf"), 0644) == 0);
    write_conf("conf/fifo-top.conf", "x = 1;\n@include \"fifo.conf\"\n", 0644);
    alarm(10);
    CHECK(vr_conffile_check(at("conf/fifo-top.conf"), at("conf"), &e) == -1);
    alarm(0);
    snprintf(want, sizeof(want), "%s:2: @include \"fifo.conf\" not read: %s: a FIFO, not a regular file",
             at("conf/fifo-top.conf"), at("conf/fifo.conf"));
    CHECK_STR_CONTAINS(e.n ? e.msgs[0] : NULL, want);
    vr_errors_clear(&e);

    /* a missing include or top file is libconfig's to report, as before */
    write_conf("conf/missing-top.conf", "@include \"nowhere.conf\"\n", 0644);
    CHECK(vr_conffile_check(at("conf/missing-top.conf"), at("conf"), &e) == 0);
    CHECK(vr_conffile_check(at("conf/nowhere.conf"), at("conf"), &e) == 0);
    /* an include cycle ends (libconfig reports the depth) */
    write_conf("conf/cycle.conf", "@include \"cycle.conf\"\n", 0644);
    CHECK(vr_conffile_check(at("conf/cycle.conf"), at("conf"), &e) == 0);
    CHECK(e.n == 0);
}

static void rm_base(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", base);
}

int main(void)
{
    /* in the working directory (the build tree): /tmp is sticky, and the
     * module rule refuses everything under it */
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL || snprintf(base, sizeof(base), "%s/vr_trust.XXXXXX", cwd) >= (int)sizeof(base) ||
        mkdtemp(base) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    if (walk(base, VR_TRUST_MODULE, VR_TRUST_DIR) != 0) {
        fprintf(stderr, "the test directory itself is not trusted (run from a trusted build tree): %s\n", err);
        rm_base();
        return 2;
    }
    test_trusted_tree();
    test_writable();
    test_owners();
    test_sticky();
    test_symlinks();
    test_kinds();
    test_include_scan();
    test_config_files();
    rm_base();
    return vr_test_report();
}
