/*
 * libFuzzer harness for the http sniffer's request parser. Besides crashes
 * (ASan, UBSan), it checks the parser's contract: a valid status, a FOUND
 * name that is normalised, NOT_MINE within the first 10 bytes, and prefix
 * consistency (a prefix answers MORE or the same as the whole input; FOUND
 * is decided exactly at req.used).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vr_http_parse.h"
#include "vr_sniff_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void vr_fuzz_http_check_prefix(const uint8_t *data, size_t cut, int whole,
                                      const struct vr_http_request *wr)
{
    struct vr_http_request r;
    int st = vr_http_parse_request(data, cut, &r);
    if (st != VR_SNIFF_MORE && st != whole)
        abort();
    if (st == VR_SNIFF_FOUND && strcmp(r.domain, wr->domain) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vr_http_request r;
    int st = vr_http_parse_request(data, size, &r);
    if (st < VR_SNIFF_MORE || st > VR_SNIFF_INVALID)
        abort();
    if (st == VR_SNIFF_FOUND) {
        if (r.domain[0] != '\0' && !vr_sniff_name_is_normal(r.domain))
            abort();
        if (r.domain[0] != '\0' && r.host_is_ip)
            abort();
        if (r.used == 0 || r.used > size)
            abort();
        struct vr_http_request e;
        if (vr_http_parse_request(data, r.used - 1, &e) != VR_SNIFF_MORE)
            abort();
        vr_fuzz_http_check_prefix(data, r.used, st, &r);
    }
    if (size >= 10 && st == VR_SNIFF_MORE) {
        struct vr_http_request e;
        /* Still undecided after 10 bytes means it started with a method. */
        if (vr_http_parse_request(data, 10, &e) != VR_SNIFF_MORE || e.method[0] == '\0')
            abort();
    }
    if (size > 0) {
        vr_fuzz_http_check_prefix(data, size - 1, st, &r);
        vr_fuzz_http_check_prefix(data, size / 2, st, &r);
    }
    return 0;
}
