/*
 * A test-side QUIC client Initial *encryptor* for unit.sniff_quic: the same
 * key derivation as the parser (vr_quic_initial_keys, checked against the
 * RFC vectors by the test), then AES-128-GCM seal and header protection
 * (RFC 9001 5.3, 5.4) written independently of the parser's open path.
 */
#ifndef TEST_QUIC_SEAL_H
#define TEST_QUIC_SEAL_H

#include <stddef.h>
#include <stdint.h>

enum { TQ_INITIAL = 0, TQ_0RTT = 1, TQ_HANDSHAKE = 2 };

struct tq_conn {
    uint32_t version;    /* VR_QUIC_V1 or VR_QUIC_V2 */
    uint8_t dcid[20];
    size_t dcid_len;
    uint8_t scid[20];
    size_t scid_len;
};

/* Writes one protected long-header packet of type (TQ_*) with packet
 * number pn encoded in pn_len bytes, payload[0..n) as its plaintext, to
 * out. Returns the packet length, or 0 if libcrypto failed. */
size_t tq_seal(const struct tq_conn *c, int type, uint64_t pn, size_t pn_len,
               const uint8_t *payload, size_t n, uint8_t *out);

/* The same for a header given unprotected (first byte to packet number
 * included, pn_len from its low bits): used to reproduce the RFC packets. */
size_t tq_seal_header(uint32_t version, const uint8_t *dcid, size_t dcid_len,
                      const uint8_t *hdr, size_t hdr_len, uint64_t pn,
                      const uint8_t *payload, size_t n, uint8_t *out);

/* Frame writers; each returns the bytes written at out. */
size_t tq_varint(uint8_t *out, uint64_t v);
size_t tq_crypto_frame(uint8_t *out, uint64_t off, const uint8_t *d, size_t n);

#endif
