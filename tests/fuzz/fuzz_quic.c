/*
 * libFuzzer harness for the quic sniffer's Initial parser. The input is
 * split into 1..4 datagrams as modules/quic/vr_quic_corpus.h says. Two
 * modes, chosen by bit 0x80 of the first byte:
 *   clear: the datagrams are parsed as received (header parsing, header
 *          protection, AEAD on whatever the fuzzer makes; the seeds are
 *          real Initials);
 *   set:   each datagram is the *plaintext* of one client Initial (v1, or
 *          v2 when bit 0x40 is set too), sealed here with the keys of a
 *          fixed connection ID, so the fuzzer reaches the frame parser, the
 *          CRYPTO reassembly and the ClientHello parser behind the AEAD.
 * Besides crashes (ASan, UBSan), it checks the parser's contract: a valid
 * status; on FOUND a well-formed QUIC ClientHello as the parser promises
 * (TLS 1.3 offered, an ALPN extension, transport parameters; a name that is
 * normalised or empty, a printable ALPN or none; at least one Initial
 * decrypted; its version v1 or v2); nothing passed on otherwise; and prefix
 * consistency over the datagram count (fewer datagrams answer MORE or the
 * same, with the same name).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vr_quic_corpus.h"
#include "vr_quic_parse.h"
#include "vr_sniff_name.h"

/* The sealing side lives with the unit test; the fuzz target's source list
 * (tests/fuzz/CMakeLists.txt) names the parser only, so it is compiled in
 * here. */
#include "test_quic_seal.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void vr_fuzz_quic_check(const struct iovec *dg, size_t n)
{
    struct vr_quic_hello whole, h;
    int st = vr_quic_parse_initials(dg, n, &whole);
    if (st < VR_SNIFF_MORE || st > VR_SNIFF_INVALID)
        abort();
    if (n == 0 && st != VR_SNIFF_MORE)
        abort();
    if (st == VR_SNIFF_FOUND) {
        const struct vr_tls_hello *t = &whole.tls;
        if (!t->offers_tls13 || !t->has_alpn || !t->has_quic_tp)
            abort();
        if (t->sni[0] != '\0' && !vr_sniff_name_is_normal(t->sni))
            abort();
        for (const char *p = t->alpn; *p; p++)
            if (*p < 0x21 || *p > 0x7e)
                abort();
        if (whole.packets == 0 || (whole.version != VR_QUIC_V1 && whole.version != VR_QUIC_V2))
            abort();
        if (t->wire_len == 0 || t->wire_len > whole.crypto_len ||
            whole.crypto_len > VR_QUIC_CRYPTO_MAX)
            abort();
    } else if (whole.tls.sni[0] != '\0' || whole.tls.alpn[0] != '\0') {
        abort();
    }
    for (size_t k = 0; k < n; k++) {
        int s = vr_quic_parse_initials(dg, k, &h);
        if (s != VR_SNIFF_MORE && s != st)
            abort();
        if (s == VR_SNIFF_FOUND &&
            (strcmp(h.tls.sni, whole.tls.sni) != 0 || strcmp(h.tls.alpn, whole.tls.alpn) != 0))
            abort();
    }
}

static uint8_t vr_fuzz_sealed[VR_QUIC_CORPUS_DGRAMS_MAX][VR_QUIC_PAYLOAD_MAX + 128];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct iovec dg[VR_QUIC_CORPUS_DGRAMS_MAX];
    size_t n = vr_quic_corpus_split(data, size, dg);
    if (n == 0 || (data[0] & 0x80) == 0) {
        vr_fuzz_quic_check(dg, n);
        return 0;
    }
    static const struct tq_conn conn = {
        .dcid = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08}, .dcid_len = 8, .scid_len = 0};
    struct tq_conn c = conn;
    c.version = (data[0] & 0x40) ? VR_QUIC_V2 : VR_QUIC_V1;
    static uint8_t plain[VR_QUIC_PAYLOAD_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t len = dg[i].iov_len;
        if (len > 4000)
            len = 4000; /* the 2-byte Length the sealer writes */
        memcpy(plain, dg[i].iov_base, len);
        if (len < 4) {
            memset(plain + len, 0, 4 - len); /* PADDING up to the sample */
            len = 4;
        }
        size_t out = tq_seal(&c, TQ_INITIAL, i, 2, plain, len, vr_fuzz_sealed[i]);
        if (out == 0)
            abort();
        dg[i].iov_base = vr_fuzz_sealed[i];
        dg[i].iov_len = out;
    }
    vr_fuzz_quic_check(dg, n);
    return 0;
}
