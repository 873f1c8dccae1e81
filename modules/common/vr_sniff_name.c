#include "vr_sniff_name.h"

#include <errno.h>
#include <string.h>

static int vr_sniff_name_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static char vr_sniff_name_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

int vr_sniff_name_normalise(const char *name, size_t len, char *out, size_t outsz)
{
    if (out == NULL || outsz == 0)
        return -ENOSPC;
    out[0] = '\0';
    if (name == NULL)
        return -EINVAL;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > VR_SNIFF_NAME_MAX)
        return -EINVAL;
    if (len + 1 > outsz)
        return -ENOSPC;

    size_t label_start = 0;
    int label_all_digits = 1;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || name[i] == '.') {
            size_t label_len = i - label_start;
            if (label_len == 0 || label_len > 63)
                goto bad;
            if (out[label_start] == '-' || out[i - 1] == '-')
                goto bad;
            if (i == len && label_all_digits)
                goto bad;
            if (i < len)
                out[i] = '.';
            label_start = i + 1;
            label_all_digits = 1;
            continue;
        }
        char c = vr_sniff_name_lower(name[i]);
        if (!vr_sniff_name_char_ok((unsigned char)c))
            goto bad;
        if (c < '0' || c > '9')
            label_all_digits = 0;
        out[i] = c;
    }
    out[len] = '\0';
    return 0;
bad:
    out[0] = '\0';
    return -EINVAL;
}

int vr_sniff_name_is_normal(const char *s)
{
    char buf[VR_SNIFF_NAME_MAX + 1];
    size_t len = strlen(s);
    if (vr_sniff_name_normalise(s, len, buf, sizeof(buf)) != 0)
        return 0;
    return strcmp(buf, s) == 0;
}

/* Copies src into dst[dstsz] only if it fits whole; otherwise dst is empty. */
static void vr_sniff_out_copy(char *dst, size_t dstsz, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;
    if (n >= dstsz)
        n = 0;
    if (n > 0)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void vr_sniff_out_fill(struct vr_sniff_out *out, const char *domain, const char *protocol,
                       const char *alpn)
{
    if (out == NULL)
        return;
    if (VR_HAS(out, domain))
        vr_sniff_out_copy(out->domain, sizeof(out->domain), domain);
    if (VR_HAS(out, protocol))
        vr_sniff_out_copy(out->protocol, sizeof(out->protocol), protocol);
    if (VR_HAS(out, alpn))
        vr_sniff_out_copy(out->alpn, sizeof(out->alpn), alpn);
}
