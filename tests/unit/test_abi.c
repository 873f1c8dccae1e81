/* Plugin ABI checks: the host reads a module's header before anything else
 * and refuses what it cannot run, with one message naming the file and both
 * versions; module and instance lifecycles; leftovers cancelled by the host.
 * Uses the modules of tests/modules/ (built into $VR_TEST_MODULE_DIR), which
 * append what the host made them do to the file named by $VR_TEST_TRACE. */
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_generation.h"
#include "vr_module.h"
#include "vr_test.h"

static char tmpdir[PATH_MAX];
static char trace_path[PATH_MAX + 16];
static const char *testmod_dir;
static struct event_base *base;

/* ---- the trace the test modules write */

static void trace_clear(void)
{
    FILE *f = fopen(trace_path, "w");
    if (f)
        fclose(f);
}

/* The whole trace; the caller frees it. */
static char *trace_read(void)
{
    FILE *f = fopen(trace_path, "r");
    char *buf = calloc(1, 65536);
    if (f == NULL || buf == NULL) {
        if (f)
            fclose(f);
        return buf;
    }
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* How many lines of the trace are exactly line. */
static int trace_count(const char *line)
{
    char *t = trace_read();
    int n = 0;
    for (char *save = NULL, *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        n += strcmp(l, line) == 0;
    free(t);
    return n;
}

/* Index (0-based) of the first line equal to line, -1 if none. */
static int trace_index(const char *line)
{
    char *t = trace_read();
    int i = 0, at = -1;
    for (char *save = NULL, *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save), i++)
        if (strcmp(l, line) == 0) {
            at = i;
            break;
        }
    free(t);
    return at;
}

/* ---- configs and errors */

static const char *write_conf(const char *name, const char *fmt, ...)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    return path;
}

/* Line 1 names the module dir, line 2 the listener; outbounds start at 3. */
#define HEAD "daemon = { module_path = \"%s\"; };\nlisteners = ( { tag = \"tp\"; port = 7893; } );\n"

static void dump(const struct vr_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "    error %zu: %s\n", i, e->msgs[i]);
}

/* Exactly one error, at path:line, containing every needle. */
static void expect_one(int at, const struct vr_errors *e, const char *path, int line, ...)
{
    char prefix[PATH_MAX + 96];
    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
    bool ok = e->n == 1 && strncmp(e->msgs[0], prefix, strlen(prefix)) == 0;
    if (!ok)
        fprintf(stderr, "%s:%d: expected one error starting with \"%s\", got %zu\n", __FILE__, at, prefix, e->n);
    va_list ap;
    va_start(ap, line);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;) {
        if (e->n < 1 || strstr(e->msgs[0], needle) == NULL) {
            fprintf(stderr, "%s:%d: error should contain \"%s\"\n", __FILE__, at, needle);
            ok = false;
        }
    }
    va_end(ap);
    if (ok) {
        vr_test_passed++;
    } else {
        vr_test_failed++;
        dump(e);
    }
}
#define EXPECT_ONE(e, path, line, ...) expect_one(__LINE__, (e), (path), (line), __VA_ARGS__, (const char *)NULL)

static int pending_events(void) { return event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED); }

/* Drops a reference and lets the loop run what is due at once: the last
 * reference's release happens there, never inside vr_generation_unref. */
static void unref_and_run(struct vr_generation *g)
{
    vr_generation_unref(g);
    event_base_loop(base, EVLOOP_NONBLOCK);
}

/* Runs the loop for ms milliseconds. */
static void run_loop(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* A generation with one outbound block naming module; it must be refused
 * with one error at the block's line containing the needles, before the
 * module's init ran. */
static void expect_refused(int at, const char *module, const char *n1, const char *n2, const char *n3)
{
    trace_clear();
    char name[128];
    snprintf(name, sizeof(name), "refuse_%s.conf", module);
    const char *path = write_conf(name, HEAD "outbounds = (\n  { tag = \"direct\";\n    module = \"%s\"; }\n);\n",
                                  testmod_dir, module);
    struct vr_errors e = {0};
    struct vr_generation *g = vr_generation_build(path, base, 1, &e);
    if (g == NULL) {
        vr_test_passed++;
    } else {
        vr_test_failed++;
        fprintf(stderr, "%s:%d: module %s was not refused\n", __FILE__, at, module);
        unref_and_run(g);
    }
    expect_one(at, &e, path, 4, n1, n2, n3, (const char *)NULL);
    char init_line[128];
    snprintf(init_line, sizeof(init_line), "init %s", module);
    if (trace_count(init_line) == 0) {
        vr_test_passed++;
    } else {
        vr_test_failed++;
        fprintf(stderr, "%s:%d: the host called init of refused module %s\n", __FILE__, at, module);
    }
    vr_errors_clear(&e);
}

static const char *so_path(const char *module)
{
    static char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s.so", testmod_dir, module);
    return p;
}

/* ---- loading real .so files */

static void test_good_module(void)
{
    trace_clear();
    CHECK(pending_events() == 0);
    const char *path = write_conf("good.conf", HEAD "outbounds = ( { tag = \"direct\"; module = \"good_outbound\"; } );\n",
                                  testmod_dir);
    struct vr_errors e = {0};
    struct vr_generation *g = vr_generation_build(path, base, 1, &e);
    CHECK(g != NULL);
    CHECK(e.n == 0);
    dump(&e);
    if (g == NULL)
        return;
    struct vr_instance *inst = g->sets[0].outbounds[0];
    CHECK(inst->lifecycle == VR_INST_READY);
    CHECK(strcmp(inst->module->desc->name, "good_outbound") == 0);
    CHECK(inst->module->desc->abi_major == VR_ABI_MAJOR && inst->module->desc->abi_minor == VR_ABI_MINOR);
    CHECK(trace_count("init") == 1);
    CHECK(trace_count("create direct") == 1);
    CHECK(trace_index("init") < trace_index("create direct"));
    /* What the module registered through the host is bound to the instance. */
    CHECK(inst->watches != NULL);
    CHECK(inst->timers != NULL);
    CHECK(pending_events() == 2);

    /* Alive, the repeating timer fires. */
    run_loop(120);
    int ticks = trace_count("tick direct");
    CHECK(ticks >= 1);

    /* Destroying the generation destroys the instance; the module leaves its
     * watch and timer behind and the host cancels them; the last instance
     * gone, fini runs. */
    unref_and_run(g);
    CHECK(trace_count("destroy direct") == 1);
    CHECK(trace_count("fini") == 1);
    CHECK(trace_index("destroy direct") < trace_index("fini"));
    CHECK(pending_events() == 0);
    /* Nothing of the instance runs after its destroy (ASan would also catch
     * a callback into the freed state). */
    run_loop(100);
    CHECK(trace_count("tick direct") == ticks);
    CHECK(trace_count("readable direct") == 0);
    vr_errors_clear(&e);
}

static void test_module_lifecycle(void)
{
    /* Two blocks of one module: one init, two creates; two generations
     * share the loaded module; fini only after the last instance goes. */
    trace_clear();
    const char *path = write_conf("two.conf",
                                  HEAD "outbounds = ( { tag = \"direct\"; module = \"good_outbound\"; },\n"
                                       "              { tag = \"other\"; module = \"good_outbound\"; tick_ms = 500; } );\n",
                                  testmod_dir);
    struct vr_errors e = {0};
    struct vr_generation *g1 = vr_generation_build(path, base, 1, &e);
    struct vr_generation *g2 = vr_generation_build(path, base, 2, &e);
    CHECK(g1 != NULL && g2 != NULL);
    CHECK(e.n == 0);
    dump(&e);
    CHECK(trace_count("init") == 1);
    CHECK(trace_count("create direct") == 2);
    CHECK(trace_count("create other") == 2);
    CHECK(pending_events() == 8);
    if (g1 && g2)
        CHECK(g1->sets[0].outbounds[0]->module == g2->sets[0].outbounds[1]->module);
    /* The release waits for the loop: a last unref from inside a module's
     * own callback must not destroy that module's instance under it. */
    vr_generation_unref(g1);
    CHECK(trace_count("destroy direct") == 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK(trace_count("destroy direct") == 1);
    CHECK(trace_count("destroy other") == 1);
    CHECK(trace_count("fini") == 0);
    CHECK(pending_events() == 4);
    /* A reference held elsewhere (a connection) keeps the generation. */
    if (g2)
        vr_generation_ref(g2);
    unref_and_run(g2);
    CHECK(trace_count("destroy direct") == 1);
    unref_and_run(g2);
    CHECK(trace_count("destroy direct") == 2);
    CHECK(trace_count("fini") == 1);
    CHECK(pending_events() == 0);
    vr_errors_clear(&e);
}

static void test_refused_modules(void)
{
    char mod[32], host[32];
    snprintf(host, sizeof(host), "%d.%d", VR_ABI_MAJOR, VR_ABI_MINOR);

    snprintf(mod, sizeof(mod), "%d.%d", VR_ABI_MAJOR + 1, 0);
    expect_refused(__LINE__, "abi_major_plus1", so_path("abi_major_plus1"), mod, host);
    expect_refused(__LINE__, "abi_major_plus1", "major version must be equal", "built for plugin ABI", "provides");

    snprintf(mod, sizeof(mod), "%d.%d", VR_ABI_MAJOR, VR_ABI_MINOR + 1);
    expect_refused(__LINE__, "abi_minor_plus1", so_path("abi_minor_plus1"), mod, host);
    expect_refused(__LINE__, "abi_minor_plus1", "minor version must not be newer", "built for plugin ABI", "provides");

    char size[64];
    snprintf(size, sizeof(size), "descriptor is %zu bytes", offsetof(struct vr_module_desc, fini));
    expect_refused(__LINE__, "desc_too_short", so_path("desc_too_short"), size, "needs at least");
    /* Every refusal where versions are involved names both (issue 14). */
    char both[96];
    snprintf(both, sizeof(both), "(built for plugin ABI %d.%d, this vrouterd provides %s)", VR_ABI_MAJOR,
             VR_ABI_MINOR, host);
    expect_refused(__LINE__, "desc_too_short", so_path("desc_too_short"), both, "ABI 1.0 descriptor");

    char ops[64];
    snprintf(ops, sizeof(ops), "ops table is %zu bytes", offsetof(struct vr_outbound_ops, udp_open));
    expect_refused(__LINE__, "ops_too_short", so_path("ops_too_short"), ops, "needs at least");
    expect_refused(__LINE__, "ops_too_short", so_path("ops_too_short"), both, "ABI 1.0 table");

    expect_refused(__LINE__, "name_mismatch", so_path("name_mismatch"),
                   "calls itself \"not_the_file_name\", not \"name_mismatch\"", "the module");

    expect_refused(__LINE__, "no_symbol", so_path("no_symbol"), "no \"vr_module\" symbol", "not a vrouterd module");

    expect_refused(__LINE__, "no_such_file", "cannot load module \"no_such_file\"", so_path("no_such_file"),
                   "module_path is");

    /* Nothing of a refused module stays loaded or registered. */
    CHECK(pending_events() == 0);
}

static void test_older_minor_loads(void)
{
    /* A module built for minor 0 loads on this host (equal or newer minor). */
    trace_clear();
    const char *path = write_conf("minor0.conf", HEAD "outbounds = ( { tag = \"direct\"; module = \"abi_minor_zero\"; } );\n",
                                  testmod_dir);
    struct vr_errors e = {0};
    struct vr_generation *g = vr_generation_build(path, base, 1, &e);
    CHECK(g != NULL);
    CHECK(e.n == 0);
    dump(&e);
    CHECK(trace_count("init abi_minor_zero") == 1);
    if (g) {
        CHECK(g->sets[0].outbounds[0]->module->desc->abi_minor == 0);
        CHECK(g->sets[0].outbounds[0]->lifecycle == VR_INST_READY);
    }
    unref_and_run(g);
    vr_errors_clear(&e);
}

static void test_module_path_change(void)
{
    /* A reload whose module_path names another directory loads the module
     * from there (checked like any new file), even while the old
     * generation still holds the same name from the old directory. */
    char dir2[PATH_MAX + 16], cmd[3 * PATH_MAX];
    snprintf(dir2, sizeof(dir2), "%s/mods2", tmpdir);
    snprintf(cmd, sizeof(cmd), "mkdir -m 755 '%s' && cp '%s/good_outbound.so' '%s/'", dir2, testmod_dir, dir2);
    CHECK(system(cmd) == 0);
    const char *body = "outbounds = ( { tag = \"direct\"; module = \"good_outbound\"; } );\n";
    struct vr_errors e = {0};
    struct vr_generation *g1 = vr_generation_build(write_conf("path1.conf", HEAD "%s", testmod_dir, body), base, 1, &e);
    struct vr_generation *g2 = vr_generation_build(write_conf("path2.conf", HEAD "%s", dir2, body), base, 2, &e);
    dump(&e);
    CHECK(g1 != NULL && g2 != NULL);
    if (g1 && g2) {
        struct vr_module *m1 = g1->sets[0].outbounds[0]->module, *m2 = g2->sets[0].outbounds[0]->module;
        CHECK(m1 != m2);
        CHECK(strncmp(m2->path, dir2, strlen(dir2)) == 0);
        CHECK(strncmp(m1->path, testmod_dir, strlen(testmod_dir)) == 0);
    }
    unref_and_run(g1);
    unref_and_run(g2);
    vr_errors_clear(&e);
}

static void test_wrong_kind(void)
{
    /* A sniffer named in outbounds: a config error naming both kinds. */
    const char *path = write_conf("kind.conf",
                                  HEAD "outbounds = (\n  { tag = \"direct\"; module = \"good_outbound\"; },\n"
                                       "  { tag = \"sn\";\n    module = \"wrong_kind\"; }\n);\n",
                                  testmod_dir);
    struct vr_errors e = {0};
    struct vr_generation *g = vr_generation_build(path, base, 1, &e);
    CHECK(g == NULL);
    /* The refusal names the .so and both versions, like every other one. */
    char versions[96];
    snprintf(versions, sizeof(versions), "(built for plugin ABI %d.%d, this vrouterd provides %d.%d)", VR_ABI_MAJOR,
             VR_ABI_MINOR, VR_ABI_MAJOR, VR_ABI_MINOR);
    char wrong_kind_so[2 * PATH_MAX + 64];
    snprintf(wrong_kind_so, sizeof(wrong_kind_so), "%s: module", so_path("wrong_kind"));
    EXPECT_ONE(&e, path, 5, "module \"wrong_kind\" is a sniffer module, not an outbound module", versions,
               wrong_kind_so);
    vr_errors_clear(&e);
    unref_and_run(g);

    /* The same module where a sniffer belongs loads: the kind was the error. */
    path = write_conf("kind_ok.conf",
                      "daemon = { module_path = \"%s\"; };\n"
                      "listeners = ( { tag = \"tp\"; port = 7893; sniff = [\"wrong_kind\"]; } );\n"
                      "outbounds = ( { tag = \"direct\"; module = \"good_outbound\"; } );\n",
                      testmod_dir);
    g = vr_generation_build(path, base, 1, &e);
    CHECK(g != NULL);
    CHECK(e.n == 0);
    dump(&e);
    if (g) {
        CHECK(g->sets[0].n_sniffers == 1);
        CHECK(vr_gen_set_sniffer(&g->sets[0], "wrong_kind") != NULL);
    }
    unref_and_run(g);
    vr_errors_clear(&e);

    /* An outbound named as a sniffer, while the same generation has loaded
     * it as an outbound (the cached module is checked too). */
    path = write_conf("kind_cached.conf",
                      "daemon = { module_path = \"%s\"; };\n"
                      "listeners = (\n  { tag = \"tp\"; port = 7893;\n    sniff = [\"good_outbound\"]; }\n);\n"
                      "outbounds = ( { tag = \"direct\"; module = \"good_outbound\"; } );\n",
                      testmod_dir);
    g = vr_generation_build(path, base, 1, &e);
    CHECK(g == NULL);
    /* Regression (fixed in 1d2973f): this read "is a outbound module". */
    EXPECT_ONE(&e, path, 3, "module \"good_outbound\" is an outbound module, not a sniffer module", versions,
               so_path("good_outbound"));
    unref_and_run(g);
    vr_errors_clear(&e);

    /* A sniffer named as an installer. */
    path = write_conf("kind_installer.conf",
                      HEAD "outbounds = ( { tag = \"direct\"; module = \"good_outbound\"; } );\n"
                           "installers = (\n  { module = \"wrong_kind\"; }\n);\n",
                      testmod_dir);
    g = vr_generation_build(path, base, 1, &e);
    CHECK(g == NULL);
    /* Regression (fixed in 1d2973f): this read "not a installer module". */
    EXPECT_ONE(&e, path, 5, "module \"wrong_kind\" is a sniffer module, not an installer module", versions,
               wrong_kind_so);
    unref_and_run(g);
    vr_errors_clear(&e);
    CHECK(pending_events() == 0);
}

static void test_failing_create(void)
{
    trace_clear();
    const char *path = write_conf("fail.conf",
                                  HEAD "outbounds = (\n"
                                       "  { tag = \"direct\"; module = \"good_outbound\"; },\n"
                                       "  { tag = \"bad\"; module = \"failing_create\";\n"
                                       "    fail_here = \"on purpose\"; }\n"
                                       ");\n",
                                  testmod_dir);
    struct vr_errors e = {0};
    struct vr_generation *g = vr_generation_build(path, base, 1, &e);
    CHECK(g == NULL);
    /* The module's own error, at the key it named. */
    EXPECT_ONE(&e, path, 6, "outbounds[2]: fail_here: refusing on purpose: on purpose");
    CHECK(trace_count("create failing_create") == 1);
    /* A failed create is never followed by destroy... */
    CHECK(trace_count("destroy failing_create") == 0);
    /* ...but the module is released, and the instance that did start is
     * destroyed with everything it registered. */
    CHECK(trace_count("fini failing_create") == 1);
    CHECK(trace_count("create direct") == 1);
    CHECK(trace_count("destroy direct") == 1);
    CHECK(trace_count("fini") == 1);
    CHECK(pending_events() == 0);
    vr_errors_clear(&e);
    unref_and_run(g);

    /* Without the module's error the host still names the block. */
    trace_clear();
    path = write_conf("fail_silent.conf",
                      HEAD "outbounds = (\n"
                           "  { tag = \"direct\"; module = \"good_outbound\"; tick_ms = \"soon\"; }\n"
                           ");\n",
                      testmod_dir);
    g = vr_generation_build(path, base, 1, &e);
    CHECK(g == NULL);
    /* good_outbound fails create on a wrong-typed tick_ms; the getter
     * recorded the error at the key's line. */
    EXPECT_ONE(&e, path, 4, "outbounds[1]: tick_ms: expected an integer, found a string");
    CHECK(trace_count("create direct") == 0);
    CHECK(trace_count("destroy direct") == 0);
    CHECK(pending_events() == 0);
    vr_errors_clear(&e);
}

/* ---- vr_module_check_abi on descriptors in memory */

static int ok_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    (void)inst;
    (void)host;
    *state = NULL;
    return 0;
}

static const struct vr_outbound_ops full_ops = {.size = sizeof(struct vr_outbound_ops), .create = ok_create};
static const struct vr_outbound_ops short_ops = {.size = offsetof(struct vr_outbound_ops, udp_close)};

static struct vr_module_desc good_desc(void)
{
    return (struct vr_module_desc){
        .abi_major = VR_ABI_MAJOR,
        .abi_minor = VR_ABI_MINOR,
        .size = sizeof(struct vr_module_desc),
        .name = "mem",
        .version = "1",
        .kind = VR_KIND_OUTBOUND,
        .ops = &full_ops,
    };
}

static int check(const struct vr_module_desc *d, char *buf, size_t len)
{
    memset(buf, 0, len);
    return vr_module_check_abi("/lib/mem.so", d, buf, len);
}

static void test_check_abi_in_memory(void)
{
    char buf[512], want[64];
    struct vr_module_desc d = good_desc();
    CHECK(check(&d, buf, sizeof(buf)) == 0);

    d = good_desc();
    d.abi_major = VR_ABI_MAJOR + 1;
    CHECK(check(&d, buf, sizeof(buf)) == -EPROTO);
    CHECK_STR_CONTAINS(buf, "/lib/mem.so");
    snprintf(want, sizeof(want), "ABI %d.%d", VR_ABI_MAJOR + 1, VR_ABI_MINOR);
    CHECK_STR_CONTAINS(buf, want);
    snprintf(want, sizeof(want), "provides %d.%d", VR_ABI_MAJOR, VR_ABI_MINOR);
    CHECK_STR_CONTAINS(buf, want);

    d = good_desc();
    d.abi_major = VR_ABI_MAJOR - 1; /* an older major is refused too */
    CHECK(check(&d, buf, sizeof(buf)) == -EPROTO);
    snprintf(want, sizeof(want), "ABI %d.%d", VR_ABI_MAJOR - 1, VR_ABI_MINOR);
    CHECK_STR_CONTAINS(buf, want);

    d = good_desc();
    d.abi_major = 0xffff;
    CHECK(check(&d, buf, sizeof(buf)) == -EPROTO);
    CHECK_STR_CONTAINS(buf, "ABI 65535.");

    d = good_desc();
    d.abi_minor = VR_ABI_MINOR + 1;
    CHECK(check(&d, buf, sizeof(buf)) == -EPROTO);
    CHECK_STR_CONTAINS(buf, "/lib/mem.so");
    snprintf(want, sizeof(want), "ABI %d.%d", VR_ABI_MAJOR, VR_ABI_MINOR + 1);
    CHECK_STR_CONTAINS(buf, want);
    snprintf(want, sizeof(want), "provides %d.%d", VR_ABI_MAJOR, VR_ABI_MINOR);
    CHECK_STR_CONTAINS(buf, want);

    /* Minor 0 (older or equal) and a bigger descriptor (fields appended by
     * a later minor, that this host does not read) are fine. */
    d = good_desc();
    d.abi_minor = 0;
    CHECK(check(&d, buf, sizeof(buf)) == 0);
    d = good_desc();
    d.size = sizeof(struct vr_module_desc) + 64;
    CHECK(check(&d, buf, sizeof(buf)) == 0);

    /* Too short, down to just the header. */
    d = good_desc();
    d.size = offsetof(struct vr_module_desc, fini);
    CHECK(check(&d, buf, sizeof(buf)) == -EPROTO);
    CHECK_STR_CONTAINS(buf, "/lib/mem.so");
    CHECK_STR_CONTAINS(buf, "descriptor is");
    d.size = 8;
    CHECK(check(&d, buf, sizeof(buf)) == -EPROTO);
    d.size = 0;
    CHECK(check(&d, buf, sizeof(buf)) == -EPROTO);

    /* The header is read before anything else: a bad header on an object
     * that is only 8 bytes long is refused without reading past it (ASan
     * reports any read beyond the allocation). */
    struct {
        uint16_t major, minor;
        uint32_t size;
    } hdr_values[] = {
        {VR_ABI_MAJOR + 1, 0, sizeof(struct vr_module_desc)},
        {VR_ABI_MAJOR, VR_ABI_MINOR + 1, sizeof(struct vr_module_desc)},
        {VR_ABI_MAJOR, VR_ABI_MINOR, 8},
    };
    for (size_t i = 0; i < sizeof(hdr_values) / sizeof(hdr_values[0]); i++) {
        uint8_t *only_header = malloc(8);
        CHECK(only_header != NULL);
        if (only_header == NULL)
            continue;
        memcpy(only_header, &hdr_values[i].major, 2);
        memcpy(only_header + 2, &hdr_values[i].minor, 2);
        memcpy(only_header + 4, &hdr_values[i].size, 4);
        CHECK(check((const struct vr_module_desc *)(void *)only_header, buf, sizeof(buf)) == -EPROTO);
        free(only_header);
    }

    /* The body: name, ops, kind, ops table size. */
    d = good_desc();
    d.name = NULL;
    CHECK(check(&d, buf, sizeof(buf)) == -EPROTO);
    CHECK_STR_CONTAINS(buf, "no name");
    d = good_desc();
    d.ops = NULL;
    CHECK(check(&d, buf, sizeof(buf)) == -EPROTO);
    CHECK_STR_CONTAINS(buf, "no ops table");
    d = good_desc();
    d.kind = 9;
    CHECK(check(&d, buf, sizeof(buf)) == -EPROTO);
    CHECK_STR_CONTAINS(buf, "kind 9");
    CHECK_STR_CONTAINS(buf, "this vrouterd provides");
    d = good_desc();
    d.ops = &short_ops;
    CHECK(check(&d, buf, sizeof(buf)) == -EPROTO);
    CHECK_STR_CONTAINS(buf, "outbound ops table is");

    /* A small message buffer is not overrun. */
    d = good_desc();
    d.abi_major = VR_ABI_MAJOR + 1;
    char small[16];
    CHECK(check(&d, small, sizeof(small)) == -EPROTO);
    CHECK(strlen(small) == sizeof(small) - 1);

    CHECK(strcmp(vr_module_kind_name(VR_KIND_SNIFFER), "sniffer") == 0);
    CHECK(strcmp(vr_module_kind_name(VR_KIND_OUTBOUND), "outbound") == 0);
    CHECK(strcmp(vr_module_kind_name(VR_KIND_INSTALLER), "installer") == 0);
}

int main(void)
{
    testmod_dir = getenv("VR_TEST_MODULE_DIR");
    if (testmod_dir == NULL) {
        fprintf(stderr, "VR_TEST_MODULE_DIR is not set (run through ctest)\n");
        return 2;
    }
    snprintf(tmpdir, sizeof(tmpdir), "%s/vr_test_abi.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(trace_path, sizeof(trace_path), "%s/trace", tmpdir);
    setenv("VR_TEST_TRACE", trace_path, 1);
    base = event_base_new();
    CHECK(base != NULL);
    if (base == NULL)
        return vr_test_report();

    test_check_abi_in_memory();
    test_good_module();
    test_module_lifecycle();
    test_refused_modules();
    test_older_minor_loads();
    test_wrong_kind();
    test_failing_create();
    test_module_path_change();

    vr_generation_release_all();
    event_base_free(base);
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return vr_test_report();
}
