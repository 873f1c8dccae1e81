/*
 * The QUIC Initial parser behind the "quic" sniffer: a pure function over
 * the first datagrams a client sent. It removes the Initial protection of
 * QUIC v1 (RFC 9001 5) and v2 (RFC 9369 3.3), reassembles the CRYPTO stream
 * and hands the ClientHello to the tls sniffer's parser. Linked directly by
 * the unit test and the libFuzzer harness.
 */
#ifndef VR_QUIC_PARSE_H
#define VR_QUIC_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vr_tls_parse.h"

#define VR_QUIC_V1 0x00000001u
#define VR_QUIC_V2 0x6b3343cfu

/* Largest connection ID of QUIC v1/v2 (RFC 9000 17.2). */
#define VR_QUIC_CID_MAX 20
/* CRYPTO stream bytes we reassemble: the whole ClientHello must fit. */
#define VR_QUIC_CRYPTO_MAX VR_TLS_HELLO_MAX
/* Largest protected payload of one Initial packet we decrypt; a bigger one
 * is INVALID (clients send 1200..1500-byte datagrams before the path MTU is
 * known). */
#define VR_QUIC_PAYLOAD_MAX 16384

/* The client Initial protection keys of one connection. */
struct vr_quic_keys {
    uint8_t key[16]; /* AEAD_AES_128_GCM */
    uint8_t iv[12];
    uint8_t hp[16]; /* AES-128-ECB header protection */
};

struct vr_quic_hello {
    uint32_t version;   /* of the first Initial */
    size_t packets;     /* Initial packets decrypted */
    size_t crypto_len;  /* CRYPTO bytes contiguous from offset 0 */
    struct vr_tls_hello tls; /* sni, alpn, ... on FOUND */
};

/*
 * Derive the client Initial keys of version (VR_QUIC_V1 or VR_QUIC_V2) from
 * the client's original Destination Connection ID. Returns 0, -EINVAL for
 * another version or a DCID longer than VR_QUIC_CID_MAX, -EIO if libcrypto
 * fails.
 */
int vr_quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
                         struct vr_quic_keys *keys);

/*
 * Parse the ClientHello carried by the client Initial packets of
 * dgrams[0..n), in the order received. Returns
 *   VR_SNIFF_MORE      QUIC Initials so far, the ClientHello is incomplete;
 *   VR_SNIFF_NOT_MINE  the first datagram does not start with a QUIC v1/v2
 *                      long-header Initial (short header, other version,
 *                      version negotiation, lengths that do not fit);
 *   VR_SNIFF_FOUND     the ClientHello is complete and well-formed, offers
 *                      TLS 1.3 and carries ALPN and quic_transport_parameters
 *                      (out->tls.offers_tls13, has_alpn, has_quic_tp are all
 *                      set; sni and alpn may still be empty); out is filled
 *                      in;
 *   VR_SNIFF_INVALID   an Initial of the connection that fails to decrypt,
 *                      forbidden or malformed frames, CRYPTO data beyond
 *                      VR_QUIC_CRYPTO_MAX, a malformed ClientHello or one
 *                      no QUIC server accepts (no TLS 1.3, ALPN or transport
 *                      parameters). On any answer but FOUND out->tls is
 *                      zeroed.
 * Datagrams are walked in order and the answer is given as soon as it is
 * known, so fewer datagrams answer MORE or the same as more. Reads only the
 * datagrams; keeps no state; uses a bounded stack buffer.
 */
int vr_quic_parse_initials(const struct iovec *dgrams, size_t n, struct vr_quic_hello *out);

#endif
