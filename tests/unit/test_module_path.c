/* The module loader against the file system: module_path as a list of
 * directories searched in order, and a module file changed between two
 * generations (loaded as new code beside the old, or refused). Uses the
 * modules of tests/modules/ ($VR_TEST_MODULE_DIR), copied into directories
 * of its own. */
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "vr_generation.h"
#include "vr_module.h"
#include "vr_test.h"

static char tmpdir[PATH_MAX];
static const char *testmod_dir;
static struct event_base *base;

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
    char cmd[4 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int r = system(cmd);
    if (r != 0)
        fprintf(stderr, "command failed (%d): %s\n", r, cmd);
    CHECK(r == 0);
}

static const char *write_conf(const char *name, const char *text)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
    return path;
}

static void dump(const struct vr_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "    error %zu: %s\n", i, e->msgs[i]);
}

static void unref_and_run(struct vr_generation *g)
{
    vr_generation_unref(g);
    event_base_loop(base, EVLOOP_NONBLOCK);
}

/* A config with module_path = <module_path> (line 1) and one outbound block
 * naming module at line 3. */
static const char *conf(const char *name, const char *module_path, const char *module)
{
    char text[5 * PATH_MAX];
    snprintf(text, sizeof(text),
             "daemon = { module_path = %s; };\n"
             "listeners = ( { tag = \"tp\"; port = 7893; } );\n"
             "outbounds = ( { tag = \"direct\"; module = \"%s\"; } );\n",
             module_path, module);
    return write_conf(name, text);
}

static struct vr_generation *build(const char *path, struct vr_errors *e)
{
    static uint64_t id;
    vr_errors_clear(e);
    struct vr_generation *g = vr_generation_build(path, base, ++id, e);
    return g;
}

static void test_search_order(void)
{
    /* good_outbound in both; the drop-in directory listed first wins. */
    sh("mkdir -m 755 %s/dropin %s/packaged && cp %s/good_outbound.so %s/dropin/ && cp %s/good_outbound.so "
       "%s/abi_minor_zero.so %s/packaged/",
       tmpdir, tmpdir, testmod_dir, tmpdir, testmod_dir, testmod_dir, tmpdir);
    char mp[4 * PATH_MAX + 64];
    snprintf(mp, sizeof(mp), "[\"%s/dropin\", \"%s/packaged\"]", tmpdir, tmpdir);
    struct vr_errors e = {0};
    struct vr_generation *g = build(conf("order.conf", mp, "good_outbound"), &e);
    CHECK(g != NULL && e.n == 0);
    dump(&e);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s/dropin/good_outbound.so", tmpdir);
    if (g)
        CHECK(strcmp(g->sets[0].outbounds[0]->module->path, want) == 0);
    unref_and_run(g);

    /* Reversed, the packaged one wins. */
    snprintf(mp, sizeof(mp), "[\"%s/packaged\", \"%s/dropin\"]", tmpdir, tmpdir);
    g = build(conf("order2.conf", mp, "good_outbound"), &e);
    CHECK(g != NULL && e.n == 0);
    snprintf(want, sizeof(want), "%s/packaged/good_outbound.so", tmpdir);
    if (g)
        CHECK(strcmp(g->sets[0].outbounds[0]->module->path, want) == 0);
    unref_and_run(g);

    /* Not in the first directory: found in the next; a missing directory is
     * passed over. */
    snprintf(mp, sizeof(mp), "[\"%s/no_such_dir\", \"%s/dropin\", \"%s/packaged\"]", tmpdir, tmpdir, tmpdir);
    g = build(conf("later.conf", mp, "abi_minor_zero"), &e);
    CHECK(g != NULL && e.n == 0);
    dump(&e);
    snprintf(want, sizeof(want), "%s/packaged/abi_minor_zero.so", tmpdir);
    if (g)
        CHECK(strcmp(g->sets[0].outbounds[0]->module->path, want) == 0);
    unref_and_run(g);

    /* Missing everywhere: one error at the block, naming every path tried,
     * in order, and the list. */
    const char *path = conf("missing.conf", mp, "nowhere");
    g = build(path, &e);
    CHECK(g == NULL);
    CHECK(e.n == 1);
    if (e.n == 1) {
        char at[PATH_MAX + 16];
        snprintf(at, sizeof(at), "%s:3: cannot load module \"nowhere\": ", path);
        CHECK(strncmp(e.msgs[0], at, strlen(at)) == 0);
        char tried[3][PATH_MAX + 64];
        const char *dirs[3] = {"no_such_dir", "dropin", "packaged"};
        for (int i = 0; i < 3; i++) {
            snprintf(tried[i], sizeof(tried[i]), "%s/%s/nowhere.so: No such file or directory", tmpdir, dirs[i]);
            CHECK_STR_CONTAINS(e.msgs[0], tried[i]);
        }
        CHECK(strstr(e.msgs[0], tried[0]) < strstr(e.msgs[0], tried[1]));
        CHECK(strstr(e.msgs[0], tried[1]) < strstr(e.msgs[0], tried[2]));
        char listed[4 * PATH_MAX + 64];
        snprintf(listed, sizeof(listed), "module_path is \"%s/no_such_dir\", \"%s/dropin\", \"%s/packaged\"", tmpdir,
                 tmpdir, tmpdir);
        CHECK_STR_CONTAINS(e.msgs[0], listed);
    }
    dump(&e);
    vr_errors_clear(&e);

    /* An untrusted directory holding the module refuses it, even though a
     * later directory holds a good one: the earlier entry wins, and is
     * refused, never skipped. */
    sh("mkdir -m 775 %s/groupw && cp %s/good_outbound.so %s/groupw/", tmpdir, testmod_dir, tmpdir);
    snprintf(mp, sizeof(mp), "[\"%s/groupw\", \"%s/packaged\"]", tmpdir, tmpdir);
    path = conf("untrusted.conf", mp, "good_outbound");
    g = build(path, &e);
    CHECK(g == NULL);
    CHECK(e.n == 1);
    if (e.n == 1) {
        char what[PATH_MAX + 64];
        snprintf(what, sizeof(what), "untrusted path %s/groupw", tmpdir);
        CHECK_STR_CONTAINS(e.msgs[0], what);
        CHECK_STR_CONTAINS(e.msgs[0], ":3: module \"good_outbound\" not loaded");
    }
    vr_errors_clear(&e);
    unref_and_run(g);
}

static void test_config_errors(void)
{
    struct vr_errors e = {0};
    const char *path = conf("empty.conf", "[]", "good_outbound");
    struct vr_generation *g = build(path, &e);
    CHECK(g == NULL);
    CHECK(e.n >= 1);
    if (e.n >= 1) {
        char at[PATH_MAX + 16];
        snprintf(at, sizeof(at), "%s:1: ", path);
        CHECK(strncmp(e.msgs[0], at, strlen(at)) == 0);
        CHECK_STR_CONTAINS(e.msgs[0], "module_path: an empty list");
    }
    vr_errors_clear(&e);
    unref_and_run(g);

    path = conf("notstring.conf", "(\"/x\", 5)", "good_outbound");
    g = build(path, &e);
    CHECK(g == NULL);
    CHECK(e.n >= 1);
    if (e.n >= 1)
        CHECK_STR_CONTAINS(e.msgs[0], ":1: daemon: module_path: element 2: expected a string");
    vr_errors_clear(&e);
    unref_and_run(g);
}

/* Replaces dir/name.so by a copy of src the way install(1) does: a new file
 * renamed over the old one (new inode). */
static void replace(const char *dir, const char *name, const char *src)
{
    sh("cp %s/%s.so %s/.%s.tmp && touch -d '+1 min' %s/.%s.tmp && mv -f %s/.%s.tmp %s/%s.so", testmod_dir, src,
       dir, name, dir, name, dir, name, dir, name);
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static void test_changed_file(void)
{
    int fds_before = open_fds();
    char dir[PATH_MAX + 16], mp[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s/upgrade", tmpdir);
    snprintf(mp, sizeof(mp), "\"%s\"", dir);
    sh("mkdir -m 755 %s && cp %s/good_outbound.so %s/", dir, testmod_dir, dir);
    const char *path = conf("upgrade.conf", mp, "good_outbound");
    struct vr_errors e = {0};
    struct vr_generation *g1 = build(path, &e);
    CHECK(g1 != NULL && e.n == 0);
    dump(&e);

    /* Unchanged: the next generation shares the loaded module. */
    struct vr_generation *g2 = build(path, &e);
    CHECK(g2 != NULL && e.n == 0);
    if (g1 && g2)
        CHECK(g1->sets[0].outbounds[0]->module == g2->sets[0].outbounds[0]->module);
    unref_and_run(g2);

    /* Replaced by a new file: the next generation runs new code (another
     * object, its own descriptor), while g1 keeps the old one. */
    replace(dir, "good_outbound", "good_outbound");
    struct vr_generation *g3 = build(path, &e);
    CHECK(g3 != NULL && e.n == 0);
    dump(&e);
    if (g1 && g3) {
        struct vr_module *m1 = g1->sets[0].outbounds[0]->module, *m3 = g3->sets[0].outbounds[0]->module;
        CHECK(m1 != m3);
        CHECK(m1->handle != m3->handle);
        CHECK(m1->desc != m3->desc);
        CHECK(strcmp(m1->path, m3->path) == 0);
        CHECK(m1->id.ino != m3->id.ino);
        CHECK(g1->sets[0].outbounds[0]->lifecycle == VR_INST_READY && g3->sets[0].outbounds[0]->lifecycle == VR_INST_READY);
    }
    /* And the one after shares g3's (the file did not change again). */
    struct vr_generation *g4 = build(path, &e);
    CHECK(g4 != NULL && e.n == 0);
    if (g3 && g4)
        CHECK(g3->sets[0].outbounds[0]->module == g4->sets[0].outbounds[0]->module);
    unref_and_run(g4);

    /* Replaced by a file the loader refuses (another module's code): the
     * generation fails with the refusal; the older ones are untouched. */
    replace(dir, "good_outbound", "name_mismatch");
    struct vr_generation *g5 = build(path, &e);
    CHECK(g5 == NULL);
    CHECK(e.n == 1);
    if (e.n == 1) {
        char want[PATH_MAX + 128];
        snprintf(want, sizeof(want), ":3: %s/good_outbound.so: the module calls itself \"not_the_file_name\"", dir);
        CHECK_STR_CONTAINS(e.msgs[0], want);
    }
    dump(&e);
    vr_errors_clear(&e);
    unref_and_run(g5);

    /* Replaced by a newer-ABI build: refused with both versions. */
    replace(dir, "good_outbound", "abi_minor_plus1");
    g5 = build(path, &e);
    CHECK(g5 == NULL);
    CHECK(e.n == 1);
    if (e.n == 1)
        CHECK_STR_CONTAINS(e.msgs[0], "good_outbound.so: built for plugin ABI");
    vr_errors_clear(&e);
    unref_and_run(g5);
    if (g1 && g3)
        CHECK(g1->sets[0].outbounds[0]->lifecycle == VR_INST_READY && g3->sets[0].outbounds[0]->lifecycle == VR_INST_READY);
    unref_and_run(g1);
    unref_and_run(g3);

    /* Written over in place while loaded (same inode, new mtime): refused,
     * naming the fix. The same bytes, and no truncation (which would unmap
     * even the relocated private pages of the running code): this process
     * keeps running it. */
    replace(dir, "good_outbound", "good_outbound");
    struct vr_generation *g6 = build(path, &e);
    CHECK(g6 != NULL && e.n == 0);
    sh("cp %s/good_outbound.so %s/good_outbound.so.bytes && dd if=%s/good_outbound.so.bytes "
       "of=%s/good_outbound.so conv=notrunc status=none && touch -d '+2 min' %s/good_outbound.so",
       dir, tmpdir, tmpdir, dir, dir);
    struct vr_generation *g7 = build(path, &e);
    CHECK(g7 == NULL);
    CHECK(e.n == 1);
    if (e.n == 1)
        CHECK_STR_CONTAINS(e.msgs[0], "was rewritten in place while loaded");
    dump(&e);
    vr_errors_clear(&e);
    unref_and_run(g7);
    unref_and_run(g6);
#if !defined(__SANITIZE_ADDRESS__)
    /* Every module unloaded: the descriptors kept for /proc/self/fd names
     * are closed (an ASan build keeps modules, and them, mapped). */
    CHECK(open_fds() == fds_before);
#else
    (void)fds_before;
#endif
}

int main(void)
{
    testmod_dir = getenv("VR_TEST_MODULE_DIR");
    if (testmod_dir == NULL) {
        fprintf(stderr, "VR_TEST_MODULE_DIR is not set (run through ctest)\n");
        return 2;
    }
    snprintf(tmpdir, sizeof(tmpdir), "%s/vr_test_modpath.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    sh("chmod 755 %s", tmpdir);
    base = event_base_new();
    CHECK(base != NULL);
    if (base == NULL)
        return vr_test_report();

    test_search_order();
    test_config_errors();
    test_changed_file();

    vr_generation_release_all();
    event_base_free(base);
    sh("rm -rf '%s'", tmpdir);
    return vr_test_report();
}
