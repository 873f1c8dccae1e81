/* libFuzzer harness for the resolver's DNS codec (core/dns/vr_dns_msg.c):
 * the query parser, and for each input taken as a response to the question
 * it carries (or to a fixed one): the response walker, TTL ageing and
 * truncation in place, the answer and error builders, and the name reader
 * at every offset.
 *
 * Checked invariants: a parsed query's name is a NUL-terminated string of
 * at most 253 characters; an answer built for a parsed query parses back as
 * a response to it with the addresses put in; ageing keeps a walkable
 * response walkable; truncation never grows a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vr_dns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > VR_DNS_MAX_MSG)
        return 0;
    uint8_t *copy = malloc(size ? size : 1);
    uint8_t *out = malloc(VR_DNS_MAX_MSG);
    if (copy == NULL || out == NULL) {
        free(copy);
        free(out);
        return 0;
    }
    memcpy(copy, data, size);
    struct vr_dns_query q;
    enum vr_dns_parse p = vr_dns_parse_query(copy, size, &q);
    if (p == VR_DNS_PARSE_OK) {
        if (strlen(q.name) > VR_DNS_NAME_MAX || q.question_end > size)
            abort();
        static const uint8_t addrs[2 * 16] = {192, 0, 2, 1, 192, 0, 2, 2};
        size_t n = vr_dns_build_answer(copy, &q, VR_DNS_NOERROR, addrs, 4, 2, 30, out, VR_DNS_MAX_MSG);
        struct vr_dns_response_info info;
        if (n == 0 || vr_dns_parse_response(out, n, &q, &info) != 0 || info.n_addrs != (q.qtype ? 2u : 2u))
            abort();
        if (vr_dns_age_ttls(out, n, 10) != 0)
            abort();
        if (vr_dns_parse_response(out, n, &q, &info) != 0 || info.min_ttl != 20)
            abort();
        if (vr_dns_truncate(out, n, &q) > n)
            abort();
    } else if (size >= VR_DNS_HEADER) {
        if (vr_dns_build_header_error(copy, size, VR_DNS_FORMERR, out, VR_DNS_MAX_MSG) != VR_DNS_HEADER)
            abort();
    }
    /* The input as a response to its own question, or to a fixed one. */
    struct vr_dns_query fixed;
    memset(&fixed, 0, sizeof(fixed));
    strcpy(fixed.name, "example.com");
    fixed.qtype = VR_DNS_T_A;
    fixed.qclass = 1;
    fixed.question_end = size < 29 ? size : 29;
    const struct vr_dns_query *asked = p == VR_DNS_PARSE_OK ? &q : &fixed;
    struct vr_dns_response_info info;
    if (vr_dns_parse_response(copy, size, asked, &info) == 0) {
        if (info.n_addrs > VR_DNS_MAX_ADDRS)
            abort();
        if (!info.truncated && vr_dns_age_ttls(copy, size, 5) == 0 && vr_dns_parse_response(copy, size, asked, &info) != 0)
            abort();
        if (asked == &q && vr_dns_truncate(copy, size, asked) > size)
            abort();
    }
    /* The name reader from every offset of the original bytes. */
    char name[VR_DNS_NAME_MAX + 1];
    for (size_t off = 0; off < size && off < 512; off++) {
        size_t o = off;
        int r = vr_dns_name_read(data, size, &o, name, sizeof(name));
        if (r >= 0 && ((size_t)r != strlen(name) || o > size || o <= off))
            abort();
    }
    free(copy);
    free(out);
    return 0;
}
