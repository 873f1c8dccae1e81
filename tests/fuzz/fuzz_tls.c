/*
 * libFuzzer harness for the tls sniffer's ClientHello parser. Besides
 * crashes (ASan, UBSan), it checks the parser's contract: a valid status, a
 * FOUND name that is normalised, and prefix consistency (a prefix answers
 * MORE or the same as the whole input; FOUND is decided exactly at the end
 * of the hello).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vr_sniff_name.h"
#include "vr_tls_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void vr_fuzz_tls_check_prefix(const uint8_t *data, size_t cut, int whole,
                                     const struct vr_tls_hello *wh)
{
    struct vr_tls_hello h;
    int st = vr_tls_parse_client_hello(data, cut, &h);
    if (st != VR_SNIFF_MORE && st != whole)
        abort();
    if (st == VR_SNIFF_FOUND && (strcmp(h.sni, wh->sni) != 0 || strcmp(h.alpn, wh->alpn) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vr_tls_hello h;
    int st = vr_tls_parse_client_hello(data, size, &h);
    if (st < VR_SNIFF_MORE || st > VR_SNIFF_INVALID)
        abort();
    if (st == VR_SNIFF_FOUND) {
        if (h.sni[0] != '\0' && !vr_sniff_name_is_normal(h.sni))
            abort();
        for (const char *p = h.alpn; *p; p++)
            if (*p < 0x21 || *p > 0x7e)
                abort();
        if (h.wire_len == 0 || h.wire_len > size || h.records == 0)
            abort();
        struct vr_tls_hello e;
        if (vr_tls_parse_client_hello(data, h.wire_len - 1, &e) != VR_SNIFF_MORE)
            abort();
        vr_fuzz_tls_check_prefix(data, h.wire_len, st, &h);
    }
    if (size > 0) {
        vr_fuzz_tls_check_prefix(data, size - 1, st, &h);
        vr_fuzz_tls_check_prefix(data, size / 2, st, &h);
    }
    return 0;
}
