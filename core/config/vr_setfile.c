/* Rule-set file parsing: split into lines, strip comments and blanks, hand
 * each entry to the set, and say precisely what is wrong with a bad line. */
#include "vr_setfile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr_addr.h"

/* Refuse files past this size rather than try to allocate them. */
#define VR_SETFILE_SIZE_MAX ((size_t)1 << 30)
/* Quoted entries in errors are cut here. */
#define QUOTE_MAX 64

#define CIDR_EXAMPLE "expected e.g. 198.18.0.0/15 or 2001:db8::/32"
#define DOMAIN_EXAMPLE "expected a domain suffix such as example.com"

struct entry_ctx {
    const char *name; /* file name for errors */
    size_t line;
    char *err;
    size_t errlen;
    void *set;
};

typedef int (*entry_fn)(struct entry_ctx *ctx, const char *tok, size_t n);

static void fail(struct entry_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct entry_ctx *ctx, const char *fmt, ...)
{
    if (ctx->err == NULL || ctx->errlen == 0)
        return;
    int off = snprintf(ctx->err, ctx->errlen, "%s:%zu: ", ctx->name, ctx->line);
    if (off < 0 || (size_t)off >= ctx->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err + off, ctx->errlen - (size_t)off, fmt, ap);
    va_end(ap);
}

/* tok as a printable, bounded C string: "\xNN" for bytes outside ASCII
 * printables, cut with "..." past QUOTE_MAX input bytes. */
static const char *quote(const char *tok, size_t n, char out[QUOTE_MAX * 4 + 4])
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, 5, "\\x%02x", c);
            o += 4;
        }
    }
    if (n > QUOTE_MAX) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static int parse_lines(const char *buf, size_t len, struct entry_ctx *ctx, entry_fn fn)
{
    char q[QUOTE_MAX * 4 + 4];
    int count = 0;
    size_t pos = 0;
    /* a UTF-8 byte order mark from a Windows editor is not part of line 1 */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    ctx->line = 0;
    while (pos < len) {
        const char *line = buf + pos;
        const char *eol = memchr(line, '\n', len - pos);
        size_t n = eol ? (size_t)(eol - line) : len - pos;
        pos += n + (eol != NULL);
        ctx->line++;
        if (n > VR_SETFILE_LINE_MAX) {
            fail(ctx, "line is longer than %d bytes (expected one entry per line)", VR_SETFILE_LINE_MAX);
            return -EINVAL;
        }
        if (memchr(line, '\0', n) != NULL) {
            fail(ctx, "line contains a NUL byte (expected a text file)");
            return -EINVAL;
        }
        const char *hash = memchr(line, '#', n);
        if (hash != NULL)
            n = (size_t)(hash - line);
        while (n > 0 && is_space(line[n - 1]))
            n--;
        while (n > 0 && is_space(*line)) {
            line++;
            n--;
        }
        if (n == 0)
            continue;
        size_t tok = 0;
        while (tok < n && !is_space(line[tok]))
            tok++;
        if (tok < n) {
            fail(ctx, "unexpected \"%s\" after the entry (expected one entry per line)",
                 quote(line + tok + 1, n - tok - 1, q));
            return -EINVAL;
        }
        if (count == INT_MAX) {
            fail(ctx, "too many entries");
            return -E2BIG;
        }
        int r = fn(ctx, line, n);
        if (r < 0)
            return r;
        count++;
    }
    return count;
}

static int domain_entry(struct entry_ctx *ctx, const char *tok, size_t n)
{
    char name[VR_DOMAIN_MAX + 1], q[QUOTE_MAX * 4 + 4];
    const char *why = "invalid";
    if (vr_domain_normalize(tok, n, name, &why) < 0) {
        fail(ctx, "\"%s\" is not a domain name: %s (" DOMAIN_EXAMPLE ")", quote(tok, n, q), why);
        return -EINVAL;
    }
    int r = vr_domainset_add(ctx->set, name, VR_DOMAIN_SUFFIX);
    if (r < 0)
        fail(ctx, "cannot add \"%s\": %s", name, strerror(-r));
    return r;
}

/* Why text (NUL-terminated, already known not to parse) is not a CIDR. */
static void cidr_error(struct entry_ctx *ctx, char *text)
{
    char q[QUOTE_MAX * 4 + 4];
    quote(text, strlen(text), q);
    char *slash = strchr(text, '/');
    if (slash != NULL)
        *slash = '\0';
    struct vr_cidr c;
    if (vr_cidr_parse(text, &c) < 0) {
        fail(ctx, "\"%s\" is not a CIDR: not an IPv4 or IPv6 address (" CIDR_EXAMPLE ")", q);
        return;
    }
    int bits = c.family == AF_INET ? 32 : 128;
    char *end = NULL;
    long prefix = -1;
    if (slash != NULL && slash[1] >= '0' && slash[1] <= '9') {
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0' || errno != 0)
            prefix = -1;
    }
    if (prefix < 0 || prefix > bits) {
        fail(ctx, "\"%s\" is not a CIDR: the prefix length must be 0 to %d for %s (" CIDR_EXAMPLE ")", q, bits,
             c.family == AF_INET ? "IPv4" : "IPv6");
        return;
    }
    /* the only other failure: address bits set past the prefix */
    for (int i = 0; i < bits / 8; i++) {
        int keep = (int)prefix - i * 8;
        c.addr[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
    char net[INET6_ADDRSTRLEN];
    inet_ntop(c.family, c.addr, net, sizeof(net));
    fail(ctx, "\"%s\" is not a CIDR: address bits are set past the /%ld prefix (expected %s/%ld)", q, prefix, net,
         prefix);
}

static int cidr_entry(struct entry_ctx *ctx, const char *tok, size_t n)
{
    char text[INET6_ADDRSTRLEN + 8], q[QUOTE_MAX * 4 + 4];
    struct vr_cidr c;
    if (n >= sizeof(text)) {
        fail(ctx, "\"%s\" is not a CIDR: too long (" CIDR_EXAMPLE ")", quote(tok, n, q));
        return -EINVAL;
    }
    memcpy(text, tok, n);
    text[n] = '\0';
    if (vr_cidr_parse(text, &c) < 0) {
        cidr_error(ctx, text);
        return -EINVAL;
    }
    int r = vr_ipset_add(ctx->set, &c);
    if (r < 0)
        fail(ctx, "cannot add \"%s\": %s", text, strerror(-r));
    return r;
}

int vr_setfile_parse_domains(const char *buf, size_t len, const char *name, struct vr_domainset *set, char *err,
                             size_t errlen)
{
    struct entry_ctx ctx = {.name = name, .err = err, .errlen = errlen, .set = set};
    return parse_lines(buf, len, &ctx, domain_entry);
}

int vr_setfile_parse_cidrs(const char *buf, size_t len, const char *name, struct vr_ipset *set, char *err,
                           size_t errlen)
{
    struct entry_ctx ctx = {.name = name, .err = err, .errlen = errlen, .set = set};
    return parse_lines(buf, len, &ctx, cidr_entry);
}

static int file_error(const char *path, const char *what, int e, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s: %s", path, what, strerror(e));
    return -e;
}

static const char *not_regular(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device"
                                                       : S_ISBLK(m) ? "a block device" : "not a regular file";
}

/* The whole file in a malloc'd buffer. Only a regular file is read (/proc
 * files are regular, of size 0): a FIFO would block the open and the read,
 * freezing -t or a reload, and a device may never end. O_NONBLOCK lets the
 * open of a FIFO return at once so that fstat can refuse it. */
static int read_file(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return file_error(path, "cannot open", errno, err, errlen);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return file_error(path, "cannot read", e, err, errlen);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return file_error(path, "cannot read", EISDIR, err, errlen);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: is %s, not a regular file (a set file must be a plain file; a FIFO or device "
                     "would block vrouterd while it reads)", path, not_regular(st.st_mode));
        return -EINVAL;
    }
    if (fcntl(fd, F_SETFL, 0) < 0) { /* back to blocking reads (no-op for a regular file) */
        int e = errno;
        close(fd);
        return file_error(path, "cannot read", e, err, errlen);
    }
    size_t cap = 65536;
    if (st.st_size > 0)
        cap = (size_t)st.st_size + 1; /* +1: see EOF without growing */
    if (cap > VR_SETFILE_SIZE_MAX + 1) {
        close(fd);
        return file_error(path, "cannot read", EFBIG, err, errlen);
    }
    char *buf = malloc(cap);
    size_t len = 0;
    int e = buf ? 0 : ENOMEM;
    while (e == 0) {
        if (len == cap) {
            if (cap > VR_SETFILE_SIZE_MAX) {
                e = EFBIG;
                break;
            }
            char *p = realloc(buf, cap * 2);
            if (p == NULL) {
                e = ENOMEM;
                break;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno != EINTR)
                e = errno;
            continue;
        }
        len += (size_t)r;
    }
    close(fd);
    if (e != 0) {
        free(buf);
        return file_error(path, "cannot read", e, err, errlen);
    }
    *out = buf;
    *outlen = len;
    return 0;
}

int vr_setfile_load_domains(const char *path, struct vr_domainset *set, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    int r = read_file(path, &buf, &len, err, errlen);
    if (r < 0)
        return r;
    r = vr_setfile_parse_domains(buf, len, path, set, err, errlen);
    free(buf);
    return r;
}

int vr_setfile_load_cidrs(const char *path, struct vr_ipset *set, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    int r = read_file(path, &buf, &len, err, errlen);
    if (r < 0)
        return r;
    r = vr_setfile_parse_cidrs(buf, len, path, set, err, errlen);
    free(buf);
    if (r >= 0)
        vr_ipset_build(set);
    return r;
}
