#include "vr_http_parse.h"

#include <errno.h>
#include <string.h>

#include "vr_sniff_name.h"

/* RFC 9110 methods and the common WebDAV ones, each with its space. */
static const char *const vr_http_methods[] = {
    "GET ",    "HEAD ",  "POST ",     "PUT ",       "DELETE ", "CONNECT ", "OPTIONS ",
    "TRACE ",  "PATCH ", "PROPFIND ", "PROPPATCH ", "MKCOL ",  "COPY ",    "MOVE ",
    "LOCK ",   "UNLOCK ",
};
#define VR_HTTP_N_METHODS (sizeof(vr_http_methods) / sizeof(vr_http_methods[0]))

static int vr_http_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int vr_http_is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int vr_http_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* tchar of RFC 9110 5.6.2 */
static int vr_http_is_tchar(int c)
{
    if (vr_http_is_alpha(c) || vr_http_is_digit(c))
        return 1;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

/* Matches the method; returns the length including its space, 0 while a
 * prefix of some method (MORE), -1 when no method can match. */
static int vr_http_match_method(const uint8_t *d, size_t len, struct vr_http_request *req)
{
    int prefix = 0;
    for (size_t m = 0; m < VR_HTTP_N_METHODS; m++) {
        const char *name = vr_http_methods[m];
        size_t n = strlen(name);
        size_t k = len < n ? len : n;
        if (memcmp(d, name, k) != 0)
            continue;
        if (k == n) {
            memcpy(req->method, name, n - 1);
            req->method[n - 1] = '\0';
            return (int)n;
        }
        prefix = 1;
    }
    return prefix ? 0 : -1;
}

static int vr_http_is_ipv4(const char *s, size_t len)
{
    int dots = 0, digits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (digits == 0)
                return 0;
            dots++;
            digits = 0;
        } else if (vr_http_is_digit((unsigned char)s[i]) && digits < 3) {
            digits++;
        } else {
            return 0;
        }
    }
    return dots == 3 && digits > 0;
}

/* Characters of an RFC 3986 reg-name (unreserved, sub-delims, pct). */
static int vr_http_is_regname_char(int c)
{
    return vr_http_is_alpha(c) || vr_http_is_digit(c) ||
           (c != 0 && strchr("-._~!$&'()*+,;=%", c));
}

int vr_http_parse_authority(const char *s, size_t len, struct vr_http_request *req)
{
    size_t host_len;
    req->domain[0] = '\0';
    req->host_is_ip = 0;
    if (len > 0 && s[0] == '[') {
        /* IP-literal: only an address, never a domain. */
        const char *close = memchr(s, ']', len);
        if (close == NULL || close == s + 1)
            return -EINVAL;
        for (const char *p = s + 1; p < close; p++)
            if (!(vr_http_is_digit((unsigned char)*p) || strchr("abcdefABCDEF:.", *p) != NULL) ||
                *p == '\0')
                return -EINVAL;
        host_len = (size_t)(close - s) + 1;
        req->host_is_ip = 1;
    } else {
        const char *colon = memchr(s, ':', len);
        host_len = colon != NULL ? (size_t)(colon - s) : len;
        for (size_t i = 0; i < host_len; i++)
            if (!vr_http_is_regname_char((unsigned char)s[i]))
                return -EINVAL;
    }
    /* Optional ":port", digits only (an empty port is allowed by RFC 3986). */
    if (host_len < len) {
        if (s[host_len] != ':' || len - host_len - 1 > 5)
            return -EINVAL;
        for (size_t i = host_len + 1; i < len; i++)
            if (!vr_http_is_digit((unsigned char)s[i]))
                return -EINVAL;
    }
    if (req->host_is_ip)
        return 0;
    if (vr_http_is_ipv4(s, host_len)) {
        req->host_is_ip = 1;
        return 0;
    }
    /* Anything else that is not a host name (percent-encoding, '!'...) is
     * accepted as HTTP but not passed on as a domain. */
    (void)vr_sniff_name_normalise(s, host_len, req->domain, sizeof(req->domain));
    return 0;
}

/* The authority of an absolute-form target "scheme://[userinfo@]authority/..."
 * Returns 1 and fills req if there is a non-empty authority, 0 for an empty
 * authority ("file:///x"), -1 when the authority is malformed, -2 when the
 * target is not absolute-form at all. */
static int vr_http_target_authority(const char *t, size_t len, struct vr_http_request *req)
{
    size_t i = 0;
    if (len == 0 || !vr_http_is_alpha((unsigned char)t[0]))
        return -2;
    while (i < len && (vr_http_is_alpha((unsigned char)t[i]) ||
                       vr_http_is_digit((unsigned char)t[i]) || strchr("+-.", t[i]) != NULL))
        i++;
    if (len - i < 3 || memcmp(t + i, "://", 3) != 0)
        return -2;
    size_t start = i + 3, end = start;
    while (end < len && t[end] != '/' && t[end] != '?' && t[end] != '#')
        end++;
    for (size_t k = end; k > start; k--)
        if (t[k - 1] == '@') {
            start = k;
            break;
        }
    if (end == start)
        return 0;
    return vr_http_parse_authority(t + start, end - start, req) == 0 ? 1 : -1;
}

/* Finds the end of the line starting at pos: returns the index of its LF,
 * -1 if not there yet (MORE), -2 if it runs over max (INVALID). */
static long vr_http_find_lf(const uint8_t *d, size_t len, size_t pos, size_t max)
{
    size_t lim = len < max ? len : max;
    const uint8_t *lf = pos < lim ? memchr(d + pos, '\n', lim - pos) : NULL;
    if (lf != NULL)
        return (long)(lf - d);
    return len >= max ? -2 : -1;
}

/* The request line after the method: "target SP HTTP/1.x CRLF". Returns the
 * offset of the first header line, 0 for MORE, -1 for INVALID. */
static long vr_http_parse_request_line(const uint8_t *d, size_t len, size_t pos,
                                       struct vr_http_request *req, size_t *target,
                                       size_t *target_len)
{
    size_t t = pos;
    while (pos < len && pos < VR_HTTP_LINE_MAX && d[pos] > 0x20 && d[pos] < 0x7f)
        pos++;
    if (pos == len)
        return 0;
    if (pos >= VR_HTTP_LINE_MAX || d[pos] != ' ' || pos == t)
        return -1;
    *target = t;
    *target_len = pos - t;
    pos++;
    static const char version[] = "HTTP/1.";
    for (size_t i = 0; i < sizeof(version) - 1; i++, pos++) {
        if (pos == len)
            return 0;
        if (d[pos] != (uint8_t)version[i])
            return -1;
    }
    if (pos == len)
        return 0;
    if (!vr_http_is_digit(d[pos]))
        return -1;
    req->version_minor = d[pos++] - '0';
    if (pos < len && d[pos] == '\r')
        pos++;
    if (pos == len)
        return 0;
    if (d[pos] != '\n')
        return -1;
    return (long)pos + 1;
}

/* A header line d[pos..lf): returns 1 if it is Host (value in *v, *vlen),
 * 0 for another field, -1 if malformed. */
static int vr_http_parse_field(const uint8_t *d, size_t pos, size_t lf, const uint8_t **v,
                               size_t *vlen)
{
    size_t end = lf;
    if (end > pos && d[end - 1] == '\r')
        end--;
    size_t name = pos;
    while (pos < end && vr_http_is_tchar(d[pos]))
        pos++;
    if (pos == name || pos == end || d[pos] != ':')
        return -1; /* no name, no colon, or space before the colon */
    int is_host = pos - name == 4 && vr_http_lower(d[name]) == 'h' &&
                  vr_http_lower(d[name + 1]) == 'o' && vr_http_lower(d[name + 2]) == 's' &&
                  vr_http_lower(d[name + 3]) == 't';
    pos++;
    /* Other fields' values are the server's business: not scanning them
     * keeps a head fed one byte per call from costing a full re-check. */
    if (!is_host)
        return 0;
    for (size_t i = pos; i < end; i++)
        if ((d[i] < 0x20 && d[i] != '\t') || d[i] == 0x7f)
            return -1; /* a bare CR or another control in the value */
    while (pos < end && (d[pos] == ' ' || d[pos] == '\t'))
        pos++;
    while (end > pos && (d[end - 1] == ' ' || d[end - 1] == '\t'))
        end--;
    *v = d + pos;
    *vlen = end - pos;
    return 1;
}

int vr_http_parse_request(const uint8_t *d, size_t len, struct vr_http_request *req)
{
    size_t target, target_len;
    memset(req, 0, sizeof(*req));

    int m = vr_http_match_method(d, len, req);
    if (m < 0)
        return VR_SNIFF_NOT_MINE;
    if (m == 0)
        return VR_SNIFF_MORE;

    long next = vr_http_parse_request_line(d, len, (size_t)m, req, &target, &target_len);
    if (next < 0)
        return VR_SNIFF_INVALID;
    if (next == 0)
        return VR_SNIFF_MORE;
    req->used = (size_t)next;

    /* The target's authority, when there is one, is the host (RFC 9112
     * 3.2.2: a Host header is then ignored). */
    const char *t = (const char *)d + target;
    int r;
    if (strcmp(req->method, "CONNECT") == 0)
        r = vr_http_parse_authority(t, target_len, req) == 0 ? 1 : -1;
    else if (t[0] == '/' || (target_len == 1 && t[0] == '*'))
        r = 0;
    else
        r = vr_http_target_authority(t, target_len, req); /* -2: no known form */
    if (r < 0)
        return VR_SNIFF_INVALID;
    if (r > 0) {
        req->host_source = VR_HTTP_HOST_TARGET;
        return VR_SNIFF_FOUND;
    }

    /* Header lines until the Host header or the end of the head. */
    size_t pos = (size_t)next;
    for (;;) {
        long lf = vr_http_find_lf(d, len, pos, VR_HTTP_HEAD_MAX);
        if (lf == -1)
            return VR_SNIFF_MORE;
        if (lf == -2)
            return VR_SNIFF_INVALID;
        size_t line_end = (size_t)lf;
        if (line_end == pos || (line_end == pos + 1 && d[pos] == '\r')) {
            req->used = line_end + 1;
            /* End of the head without a Host: fine for 1.0 only. */
            return req->version_minor == 0 ? VR_SNIFF_FOUND : VR_SNIFF_INVALID;
        }
        if (d[pos] == ' ' || d[pos] == '\t')
            return VR_SNIFF_INVALID; /* obs-fold */
        const uint8_t *v;
        size_t vlen;
        int f = vr_http_parse_field(d, pos, line_end, &v, &vlen);
        if (f < 0)
            return VR_SNIFF_INVALID;
        pos = line_end + 1;
        if (f == 0)
            continue;
        /* The Host line is complete; one more byte says it is not folded. */
        if (pos == len)
            return VR_SNIFF_MORE;
        if (d[pos] == ' ' || d[pos] == '\t')
            return VR_SNIFF_INVALID;
        if (vr_http_parse_authority((const char *)v, vlen, req) < 0)
            return VR_SNIFF_INVALID;
        req->host_source = VR_HTTP_HOST_HEADER;
        req->used = pos + 1;
        return VR_SNIFF_FOUND;
    }
}

/* The wake's progress through the stream, kept in the host's mark word. */
struct vr_http_wake_state {
    uint8_t in_headers; /* the request line's LF went by */
    uint8_t line_len;   /* bytes of the current line, saturating */
    uint8_t first_cr;   /* the current line started with CR */
    uint8_t host_match; /* 0-4: "host" matched so far, 5: "host:", 6: another line */
    uint8_t host_ended; /* the first Host line's LF went by */
};
_Static_assert(sizeof(struct vr_http_wake_state) <= sizeof(uint64_t), "the wake state fits the host's mark");

#define VR_HTTP_WAKE_METHOD 16 /* NOT_MINE is decided within the first bytes */
#define VR_HTTP_NOT_HOST 6

int vr_http_wake(const uint8_t *d, size_t seen, size_t len, uint64_t *mark)
{
    struct vr_http_wake_state st;
    memcpy(&st, mark, sizeof(st));
    int wake = seen < VR_HTTP_WAKE_METHOD || len >= VR_HTTP_HEAD_MAX;
    if (!st.in_headers && seen < VR_HTTP_LINE_MAX && len >= VR_HTTP_LINE_MAX)
        wake = 1; /* the request line may have run over */
    for (size_t i = seen; i < len; i++) {
        uint8_t c = d[i];
        if (st.host_ended) {
            /* A byte after the first Host line's LF: FOUND or INVALID now
             * (lines after it never matter). */
            wake = 1;
            break;
        }
        if (!st.in_headers) {
            if (c == '\n') {
                st.in_headers = 1;
                wake = 1;
            }
            continue;
        }
        if (c == '\n') {
            if (st.line_len == 0 || (st.line_len == 1 && st.first_cr))
                wake = 1; /* an empty line: the end of the head */
            if (st.host_match == 5)
                st.host_ended = 1; /* decided at the next byte (a fold or not) */
            st.line_len = st.first_cr = st.host_match = 0;
            continue;
        }
        if (st.line_len == 0 && c == '\r')
            st.first_cr = 1;
        if (st.line_len < UINT8_MAX)
            st.line_len++;
        if (st.host_match < 4)
            st.host_match = vr_http_lower(c) == "host"[st.host_match] ? st.host_match + 1 : VR_HTTP_NOT_HOST;
        else if (st.host_match == 4)
            st.host_match = c == ':' ? 5 : VR_HTTP_NOT_HOST;
    }
    memcpy(mark, &st, sizeof(st));
    return wake;
}
