/* The eBPF options' config (issue 17): xdp = { interfaces; allow; mode; }
 * and daemon.capture_cgroup (and capture_cgroup_udp_prefix_v6). Every error names FILE:LINE of the key and what
 * is expected; a build without eBPF refuses both with the reason. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "vr_config.h"
#include "vr_test.h"

static char tmpdir[PATH_MAX];
static char path[PATH_MAX + 32];

#define BASE                                                                             \
    "listeners = ( { tag = \"tp\"; mode = \"tproxy\"; address = \"::\"; port = 7893; } );\n" \
    "outbounds = ( { tag = \"direct\"; module = \"direct\"; } );\n"

static struct vr_config *load(const char *text)
{
    snprintf(path, sizeof(path), "%s/bpf.conf", tmpdir);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    struct vr_config *c = vr_config_load(path);
    if (c == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return c;
}

/* One error, at path:line, containing needle. */
static void expect_error(int at, const char *text, int line, const char *needle)
{
    struct vr_config *c = load(text);
    char prefix[PATH_MAX + 64];
    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
    bool ok = c->errs.n == 1 && strncmp(c->errs.msgs[0], prefix, strlen(prefix)) == 0 &&
              strstr(c->errs.msgs[0], needle) != NULL;
    if (ok) {
        vr_test_passed++;
    } else {
        vr_test_failed++;
        fprintf(stderr, "%s:%d: expected one error \"%s...%s...\", got %zu:\n", __FILE__, at, prefix, needle,
                c->errs.n);
        for (size_t i = 0; i < c->errs.n; i++)
            fprintf(stderr, "    %s\n", c->errs.msgs[i]);
    }
    vr_config_free(c);
}
#define EXPECT_ERROR(text, line, needle) expect_error(__LINE__, (text), (line), (needle))

/* daemon.capture_cgroup_udp_prefix_v6: read in any build (it only
 * matters with capture_cgroup). */
static void test_udp_prefix_v6(void)
{
    struct vr_config *c = load(BASE);
    uint8_t want[16] = {0xfd, 0x76, 0x72, 0x6f, 0x75, 0x74};
    CHECK(c->errs.n == 0);
    CHECK(c->capture.udp_prefix_v6.family == AF_INET6 && c->capture.udp_prefix_v6.prefix == 112);
    CHECK(memcmp(c->capture.udp_prefix_v6.addr, want, 16) == 0);
    vr_config_free(c);
    c = load("daemon = { capture_cgroup_udp_prefix_v6 = \"2001:db8:ffff::/96\"; };\n" BASE);
    uint8_t want2[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff};
    CHECK(c->errs.n == 0 && c->capture.udp_prefix_v6.prefix == 96);
    CHECK(memcmp(c->capture.udp_prefix_v6.addr, want2, 16) == 0);
    vr_config_free(c);
    c = load("daemon = { capture_cgroup_udp_prefix_v6 = \"\"; };\n" BASE);
    CHECK(c->errs.n == 0 && c->capture.udp_prefix_v6.prefix == 0);
    vr_config_free(c);
    EXPECT_ERROR("daemon = {\n capture_cgroup_udp_prefix_v6 = \"2001:db8::/120\"; };\n" BASE, 2,
                 "capture_cgroup_udp_prefix_v6: /120 is not a usable length (expected /64 to /112");
    EXPECT_ERROR("daemon = {\n capture_cgroup_udp_prefix_v6 = \"2001:db8::/48\"; };\n" BASE, 2,
                 "/48 is not a usable length");
    EXPECT_ERROR("daemon = {\n capture_cgroup_udp_prefix_v6 = \"2001:db8::1/112\"; };\n" BASE, 2,
                 "\"2001:db8::1/112\" is not an IPv6 prefix (expected e.g. \"fd76:726f:7574::/112\"");
    EXPECT_ERROR("daemon = {\n capture_cgroup_udp_prefix_v6 = \"198.18.0.0/16\"; };\n" BASE, 2,
                 "is not an IPv6 prefix");
    EXPECT_ERROR("daemon = {\n capture_cgroup_udp_prefix_v6 = \"fe80::/64\"; };\n" BASE, 2,
                 "is multicast, link-local, loopback or IPv4-mapped space");
    EXPECT_ERROR("daemon = {\n capture_cgroup_udp_prefix_v6 = \"::ffff:0:0/96\"; };\n" BASE, 2,
                 "is multicast, link-local, loopback or IPv4-mapped space");
    EXPECT_ERROR("daemon = {\n capture_cgroup_udp_prefix_v6 = 112; };\n" BASE, 2, "capture_cgroup_udp_prefix_v6");
}

#ifdef VR_HAVE_BPF

static void test_xdp_valid(void)
{
    struct vr_config *c = load(BASE "xdp = { interfaces = [\"lan0\", \"lan1\"];\n"
                                    "  allow = [\"192.0.2.0/24\", \"198.51.100.7\", \"2001:db8::/32\"];\n"
                                    "  mode = \"generic\"; };\n");
    CHECK(c->errs.n == 0);
    CHECK(vr_config_check_unknown(c) == 0);
    CHECK(c->xdp.enabled);
    CHECK(c->xdp.n_interfaces == 2 && strcmp(c->xdp.interfaces[1], "lan1") == 0);
    CHECK(c->xdp.n_allow == 3);
    CHECK(c->xdp.allow[1].family == AF_INET && c->xdp.allow[1].prefix == 32);
    CHECK(c->xdp.allow[2].family == AF_INET6 && c->xdp.allow[2].prefix == 32);
    CHECK(c->xdp.generic);
    CHECK(c->xdp.line == 3);
    struct vr_config *d = load(BASE "xdp = { interfaces = [\"lan0\", \"lan1\"];\n"
                                    "  allow = [\"192.0.2.0/24\", \"198.51.100.7\", \"2001:db8::/32\"];\n"
                                    "  mode = \"generic\"; };\n");
    CHECK(vr_xdp_config_equal(&c->xdp, &d->xdp));
    vr_config_free(d);
    d = load(BASE "xdp = { interfaces = [\"lan0\", \"lan1\"];\n"
                  "  allow = [\"192.0.2.0/24\", \"198.51.100.8\", \"2001:db8::/32\"];\n"
                  "  mode = \"generic\"; };\n");
    CHECK(!vr_xdp_config_equal(&c->xdp, &d->xdp)); /* one address differs */
    vr_config_free(d);
    d = load(BASE "xdp = { interfaces = [\"lan0\", \"lan1\"];\n"
                  "  allow = [\"192.0.2.0/24\", \"198.51.100.7\", \"2001:db8::/32\"]; };\n");
    CHECK(!d->xdp.generic); /* native by default */
    CHECK(!vr_xdp_config_equal(&c->xdp, &d->xdp));
    vr_config_free(d);
    vr_config_free(c);
    c = load(BASE);
    CHECK(c->errs.n == 0 && !c->xdp.enabled && c->capture.cgroup == NULL);
    vr_config_free(c);
}

static void test_xdp_errors(void)
{
    EXPECT_ERROR(BASE "xdp = { interfaces = [\"lan0\"];\n allow = [\"192.0.2.1/24\"]; };\n", 4,
                 "\"192.0.2.1/24\" is not a prefix");
    EXPECT_ERROR(BASE "xdp = { interfaces = [\"lan0\"];\n allow = []; };\n", 4,
                 "an empty list would drop every IP packet");
    EXPECT_ERROR(BASE "xdp = { interfaces = [\"lan0\"]; };\n", 3, "missing 'allow'");
    EXPECT_ERROR(BASE "xdp = { allow = [\"192.0.2.0/24\"]; };\n", 3, "missing 'interfaces'");
    EXPECT_ERROR(BASE "xdp = { interfaces = [\"lan0\", \"lan0\"]; allow = [\"192.0.2.0/24\"]; };\n", 3,
                 "\"lan0\" is named twice");
    EXPECT_ERROR(BASE "xdp = { interfaces = [\"a-name-far-too-long\"]; allow = [\"192.0.2.0/24\"]; };\n", 3,
                 "is not an interface name");
    EXPECT_ERROR(BASE "xdp = { interfaces = [];\n allow = [\"192.0.2.0/24\"]; };\n", 3,
                 "0 interfaces (expected 1 to 64 names)");
    EXPECT_ERROR(BASE "xdp = { interfaces = [\"lan0\"]; allow = [\"192.0.2.0/24\"];\n mode = \"fast\"; };\n", 4,
                 "\"fast\" is not an XDP mode");
    EXPECT_ERROR(BASE "xdp = 1;\n", 3, "xdp");
    /* A misspelt key inside the group is reported as unknown. */
    struct vr_config *c = load(BASE "xdp = { interfaces = [\"lan0\"]; allow = [\"192.0.2.0/24\"];\n alow = 1; };\n");
    CHECK(c->errs.n == 0);
    CHECK(vr_config_check_unknown(c) == 1);
    CHECK(c->errs.n == 1 && strstr(c->errs.msgs[0], "alow") != NULL);
    vr_config_free(c);
}

static void test_capture_cgroup(void)
{
    EXPECT_ERROR("daemon = {\n capture_cgroup = \"relative/dir\"; };\n" BASE, 2, "is not an absolute path");
    EXPECT_ERROR("daemon = {\n capture_cgroup = \"/nonexistent/vr-cgroup\"; };\n" BASE, 2,
                 "is not a directory (No such file or directory)");
    char text[PATH_MAX + 512];
    snprintf(text, sizeof(text), "daemon = {\n capture_cgroup = \"%s\"; };\n" BASE, tmpdir);
    EXPECT_ERROR(text, 2, "is not on a cgroup v2 file system");
    /* A real cgroup2 directory where the host has one mounted. */
    const char *mounts[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};
    for (size_t i = 0; i < 2; i++) {
        struct statfs fs;
        if (statfs(mounts[i], &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) {
            snprintf(text, sizeof(text), "daemon = { capture_cgroup = \"%s\"; };\n" BASE, mounts[i]);
            struct vr_config *c = load(text);
            CHECK(c->errs.n == 0);
            CHECK(c->capture.cgroup && strcmp(c->capture.cgroup, mounts[i]) == 0);
            CHECK(c->capture.line == 1);
            vr_config_free(c);
            break;
        }
    }
}

#else

static void test_without_bpf(void)
{
    EXPECT_ERROR(BASE "xdp = { interfaces = [\"lan0\"]; allow = [\"192.0.2.0/24\"]; };\n", 3,
                 "built without eBPF support");
    EXPECT_ERROR("daemon = {\n capture_cgroup = \"/sys/fs/cgroup\"; };\n" BASE, 2, "built without eBPF support");
}

#endif

int main(void)
{
    setenv("VROUTER_MODULE_PATH", "/nonexistent", 1);
    snprintf(tmpdir, sizeof(tmpdir), "%s/vr_test_bpf_config.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
#ifdef VR_HAVE_BPF
    test_xdp_valid();
    test_xdp_errors();
    test_capture_cgroup();
#else
    test_without_bpf();
#endif
    test_udp_prefix_v6();
    unlink(path);
    rmdir(tmpdir);
    return vr_test_report();
}
