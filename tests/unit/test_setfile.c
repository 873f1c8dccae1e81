/* vr_setfile: rule-set files on disk and in buffers: comments, blanks, CRLF,
 * BOM, whitespace, and exact FILE:LINE errors for every kind of bad line. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr_setfile.h"
#include "vr_test.h"

static char dir[64];

/* Write len bytes to dir/name; returns the path (static buffer). */
static const char *write_file(const char *name, const char *data, size_t len)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len) {
        perror(path);
        exit(2);
    }
    fclose(f);
    return path;
}

static bool has(const struct vr_ipset *s, const char *ip)
{
    uint8_t a[16];
    if (inet_pton(AF_INET, ip, a) == 1)
        return vr_ipset_contains(s, AF_INET, a);
    if (inet_pton(AF_INET6, ip, a) == 1)
        return vr_ipset_contains(s, AF_INET6, a);
    abort();
}

static void test_domain_file(void)
{
    const char text[] = "\xef\xbb\xbf# streaming services\n"
                        "\n"
                        "video.example\n"
                        "  Stream.Example.  \t\r\n"
                        "cdn.video.example # inline comment\r\n"
                        "\t\r\n"
                        "#last.example\n"
                        "tail.example"; /* no final newline */
    const char *path = write_file("streaming.txt", text, sizeof(text) - 1);
    struct vr_domainset *s = vr_domainset_new();
    char err[256] = "";
    int n = vr_setfile_load_domains(path, s, err, sizeof(err));
    CHECK(n == 4);
    CHECK(err[0] == '\0');
    CHECK(vr_domainset_count(s) == 4);
    CHECK(vr_domainset_match(s, "a.video.example"));
    CHECK(vr_domainset_match(s, "stream.example"));
    CHECK(vr_domainset_match(s, "x.stream.example"));
    CHECK(vr_domainset_match(s, "tail.example"));
    CHECK(!vr_domainset_match(s, "last.example"));
    CHECK(!vr_domainset_match(s, "badvideo.example"));
    vr_domainset_free(s);
}

/* Parse text as a domain file called "sets/d.txt"; returns the result and
 * leaves the message in err. */
static int parse_domains(const char *text, size_t len, char *err, size_t errlen)
{
    struct vr_domainset *s = vr_domainset_new();
    err[0] = '\0';
    int r = vr_setfile_parse_domains(text, len, "sets/d.txt", s, err, errlen);
    vr_domainset_free(s);
    return r;
}

static int parse_cidrs(const char *text, size_t len, char *err, size_t errlen)
{
    struct vr_ipset *s = vr_ipset_new();
    err[0] = '\0';
    int r = vr_setfile_parse_cidrs(text, len, "sets/cn.txt", s, err, errlen);
    vr_ipset_free(s);
    return r;
}

#define DOMAINS(lit, e) parse_domains(lit, sizeof(lit) - 1, e, sizeof(e))
#define CIDRS(lit, e) parse_cidrs(lit, sizeof(lit) - 1, e, sizeof(e))

static void test_domain_errors(void)
{
    char err[512];
    CHECK(DOMAINS("ok.example\n# c\na..b\nnever.example\n", err) == -EINVAL);
    CHECK(strcmp(err, "sets/d.txt:3: \"a..b\" is not a domain name: empty label "
                      "(expected a domain suffix such as example.com)") == 0);
    CHECK(DOMAINS("*.example.com\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "sets/d.txt:1: \"*.example.com\" is not a domain name: wildcards");
    CHECK(DOMAINS("a.example\r\nb.example c.example\r\n", err) == -EINVAL);
    CHECK(strcmp(err, "sets/d.txt:2: unexpected \"c.example\" after the entry (expected one entry per line)") == 0);
    CHECK(DOMAINS("a.example\nbad\x01name.example\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "sets/d.txt:2: \"bad\\x01name.example\" is not a domain name: invalid character");
    CHECK(DOMAINS("a.example\n\nb.ex\0ample\n", err) == -EINVAL);
    CHECK(strcmp(err, "sets/d.txt:3: line contains a NUL byte (expected a text file)") == 0);
    /* a NUL in a comment is still a binary file */
    CHECK(DOMAINS("a.example # \0\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "sets/d.txt:1: line contains a NUL byte");
    CHECK(DOMAINS("198.18.0.1\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "not a domain name: last label is all digits");
    CHECK(DOMAINS("-lead.example\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "label starts with '-'");
}

static void test_long_lines(void)
{
    char err[512];
    /* a 300-character name: reported, quoted only in part */
    size_t n = 300;
    char *text = malloc(VR_SETFILE_LINE_MAX + 100);
    memset(text, 'a', n);
    text[n] = '\n';
    CHECK(parse_domains(text, n + 1, err, sizeof(err)) == -EINVAL);
    CHECK_STR_CONTAINS(err, "sets/d.txt:1: \"aaaa");
    CHECK_STR_CONTAINS(err, "...\" is not a domain name: longer than 253 characters");
    CHECK(strlen(err) < 200);
    /* a line past VR_SETFILE_LINE_MAX, on line 2 */
    memcpy(text, "ok.example\n", 11);
    memset(text + 11, 'b', VR_SETFILE_LINE_MAX + 1);
    CHECK(parse_domains(text, 11 + VR_SETFILE_LINE_MAX + 1, err, sizeof(err)) == -EINVAL);
    CHECK(strcmp(err, "sets/d.txt:2: line is longer than 4096 bytes (expected one entry per line)") == 0);
    /* exactly VR_SETFILE_LINE_MAX is a line, of comment here */
    text[11] = '#';
    CHECK(parse_domains(text, 11 + VR_SETFILE_LINE_MAX, err, sizeof(err)) == 1);
    /* the same for CIDR files */
    memset(text, '1', 100);
    CHECK(parse_cidrs(text, 100, err, sizeof(err)) == -EINVAL);
    CHECK_STR_CONTAINS(err, "sets/cn.txt:1: \"1111");
    CHECK_STR_CONTAINS(err, "...\" is not a CIDR: too long");
    free(text);
}

static void test_cidr_file(void)
{
    const char text[] = "# cn\r\n"
                        "198.18.0.0/15\r\n"
                        "  192.0.2.0/24   # doc net\n"
                        "203.0.113.7\n"
                        "2001:db8::/32\n"
                        "\n"
                        "2001:DB8:1::1\t\n"
                        "198.18.0.0/16"; /* nested, no final newline */
    const char *path = write_file("cn.txt", text, sizeof(text) - 1);
    struct vr_ipset *s = vr_ipset_new();
    char err[256] = "";
    CHECK(vr_setfile_load_cidrs(path, s, err, sizeof(err)) == 6);
    CHECK(err[0] == '\0');
    CHECK(vr_ipset_count(s) == 6);
    /* loaded sets are built: lookups work without vr_ipset_build */
    CHECK(has(s, "198.19.1.1"));
    CHECK(has(s, "192.0.2.200"));
    CHECK(has(s, "203.0.113.7"));
    CHECK(!has(s, "203.0.113.8"));
    CHECK(has(s, "2001:db8:ffff::1"));
    CHECK(!has(s, "2001:db9::1"));
    CHECK(!has(s, "198.51.100.1"));
    /* a second file adds to the same set */
    const char more[] = "198.51.100.0/24\n";
    path = write_file("more.txt", more, sizeof(more) - 1);
    CHECK(vr_setfile_load_cidrs(path, s, err, sizeof(err)) == 1);
    CHECK(has(s, "198.51.100.1"));
    CHECK(has(s, "198.19.1.1"));
    vr_ipset_free(s);
}

static void test_cidr_errors(void)
{
    char err[512];
    CHECK(CIDRS("198.18.0.0/15\n10.0.0.1/33\n", err) == -EINVAL);
    CHECK(strcmp(err, "sets/cn.txt:2: \"10.0.0.1/33\" is not a CIDR: the prefix length must be 0 to 32 for IPv4 "
                      "(expected e.g. 198.18.0.0/15 or 2001:db8::/32)") == 0);
    CHECK(CIDRS("2001:db8::/129\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "sets/cn.txt:1: \"2001:db8::/129\" is not a CIDR: the prefix length must be 0 to 128 "
                            "for IPv6");
    CHECK(CIDRS("198.18.0.0/\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "the prefix length must be 0 to 32");
    CHECK(CIDRS("198.18.0.0/-1\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "the prefix length must be 0 to 32");
    CHECK(CIDRS("198.18.0.0/1x\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "the prefix length must be 0 to 32");
    CHECK(CIDRS("\n\n198.18.1.1/15\n", err) == -EINVAL);
    CHECK(strcmp(err, "sets/cn.txt:3: \"198.18.1.1/15\" is not a CIDR: address bits are set past the /15 prefix "
                      "(expected 198.18.0.0/15)") == 0);
    CHECK(CIDRS("2001:db8::1/32\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "(expected 2001:db8::/32)");
    CHECK(CIDRS("example.com\n", err) == -EINVAL);
    CHECK(strcmp(err, "sets/cn.txt:1: \"example.com\" is not a CIDR: not an IPv4 or IPv6 address "
                      "(expected e.g. 198.18.0.0/15 or 2001:db8::/32)") == 0);
    CHECK(CIDRS("198.18.0/24\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "not an IPv4 or IPv6 address");
    CHECK(CIDRS("198.18.0.0 /15\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "sets/cn.txt:1: unexpected \"/15\" after the entry");
    CHECK(CIDRS("198.18.0.0/15\n\xff\xfe\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "sets/cn.txt:2: \"\\xff\\xfe\" is not a CIDR");
    CHECK(CIDRS("198.18.0.0/15\0\n", err) == -EINVAL);
    CHECK_STR_CONTAINS(err, "sets/cn.txt:1: line contains a NUL byte");
}

static void test_empty_and_comment_only(void)
{
    char err[64];
    CHECK(DOMAINS("", err) == 0);
    CHECK(DOMAINS("\n\n\r\n", err) == 0);
    CHECK(DOMAINS("# only\n#comments", err) == 0);
    CHECK(CIDRS("", err) == 0);
    CHECK(CIDRS("\xef\xbb\xbf", err) == 0);
    CHECK(CIDRS("   \t #\n", err) == 0);
    CHECK(err[0] == '\0');
}

static void test_file_errors(void)
{
    char err[256], want[256];
    char path[128];
    snprintf(path, sizeof(path), "%s/missing.txt", dir);
    struct vr_domainset *d = vr_domainset_new();
    struct vr_ipset *s = vr_ipset_new();
    CHECK(vr_setfile_load_domains(path, d, err, sizeof(err)) == -ENOENT);
    snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
    CHECK(strcmp(err, want) == 0);
    CHECK(vr_setfile_load_cidrs(path, s, err, sizeof(err)) == -ENOENT);
    CHECK(strcmp(err, want) == 0);
    CHECK(vr_setfile_load_cidrs(dir, s, err, sizeof(err)) == -EISDIR);
    snprintf(want, sizeof(want), "%s: cannot read: %s", dir, strerror(EISDIR));
    CHECK(strcmp(err, want) == 0);
    if (geteuid() != 0) { /* root reads anything */
        const char *p = write_file("secret.txt", "a.example\n", 10);
        chmod(p, 0);
        CHECK(vr_setfile_load_domains(p, d, err, sizeof(err)) == -EACCES);
        CHECK_STR_CONTAINS(err, "cannot open: ");
    }
    /* no room for a message, or a tiny one: no crash, still an error */
    CHECK(vr_setfile_load_domains(path, d, NULL, 0) == -ENOENT);
    char tiny[8];
    CHECK(vr_setfile_parse_domains("a..b", 4, "sets/d.txt", d, tiny, sizeof(tiny)) == -EINVAL);
    CHECK(strcmp(tiny, "sets/d.") == 0);
    CHECK(vr_setfile_parse_cidrs("x", 1, "a-very-long-file-name.txt", s, tiny, sizeof(tiny)) == -EINVAL);
    CHECK(strlen(tiny) == 7);
    /* a pipe-like file without a size: /proc reports 0 bytes */
    CHECK(vr_setfile_load_cidrs("/proc/self/comm", s, err, sizeof(err)) == -EINVAL);
    CHECK_STR_CONTAINS(err, "/proc/self/comm:1: \"test_setfile\" is not a CIDR");
    vr_domainset_free(d);
    vr_ipset_free(s);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/vr_setfile.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    test_domain_file();
    test_domain_errors();
    test_long_lines();
    test_cidr_file();
    test_cidr_errors();
    test_empty_and_comment_only();
    test_file_errors();
    const char *files[] = {"streaming.txt", "cn.txt", "more.txt", "secret.txt"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    CHECK(rmdir(dir) == 0);
    return vr_test_report();
}
