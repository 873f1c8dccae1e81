/*
 * The TLS ClientHello parser behind the "tls" sniffer: a pure function over
 * the first bytes of a stream, linked directly by the unit test and the
 * libFuzzer harness. The "quic" sniffer shares it for the ClientHello it
 * reassembles from CRYPTO frames.
 */
#ifndef VR_TLS_PARSE_H
#define VR_TLS_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <vrouter/vr_sniffer.h>

/* Largest ClientHello handshake message we reassemble (4-byte header
 * included); a bigger one is INVALID. */
#define VR_TLS_HELLO_MAX 16384
/* Largest number of stream bytes we look at: the message plus room for the
 * 5-byte headers of the records it is split into. */
#define VR_TLS_WIRE_MAX (VR_TLS_HELLO_MAX + 1024)

#define VR_TLS_EXT_SERVER_NAME 0x0000
#define VR_TLS_EXT_ALPN 0x0010
#define VR_TLS_EXT_SUPPORTED_VERSIONS 0x002b
#define VR_TLS_EXT_QUIC_TP 0x0039 /* quic_transport_parameters (RFC 9001 8.2) */
#define VR_TLS_EXT_ECH 0xfe0d

struct vr_tls_hello {
    uint16_t record_version; /* of the first record */
    uint16_t legacy_version; /* client_version inside the hello */
    int has_sni;             /* a host_name entry was present */
    int has_ech;             /* encrypted_client_hello was offered */
    int offers_tls13;        /* supported_versions lists 0x0304 */
    int has_alpn;            /* an ALPN extension was present (alpn may be empty) */
    int has_quic_tp;         /* quic_transport_parameters was present */
    char sni[VR_SNIFF_DOMAIN_MAX];  /* normalised; empty if absent or not a host name */
    char alpn[VR_SNIFF_ALPN_MAX];   /* first ALPN offered (printable only); else empty */
    size_t records;          /* TLS records the hello spans */
    size_t wire_len;         /* stream bytes up to the end of the hello */
};

/*
 * Parse the ClientHello at the start of data[0..len). Returns
 *   VR_SNIFF_MORE      a ClientHello so far; more bytes needed;
 *   VR_SNIFF_NOT_MINE  not a TLS handshake (first bytes; SSLv2 hellos too);
 *   VR_SNIFF_FOUND     a complete, well-formed ClientHello; hello filled in;
 *   VR_SNIFF_INVALID   TLS records, but malformed, not a ClientHello, or
 *                      bigger than VR_TLS_HELLO_MAX.
 * Reads only data[0..len); decides from the bytes present, so a prefix of an
 * input returns MORE or the same answer as the whole input.
 */
int vr_tls_parse_client_hello(const uint8_t *data, size_t len, struct vr_tls_hello *hello);

/*
 * The tls sniffer's sniff_wake (ABI 1.1): walks the record headers of
 * data[seen..len) once, with its progress in *mark (0 at the start), and
 * returns 1 when vr_tls_parse_client_hello on data[0..len) may answer other
 * than MORE: within the first record header and the 4-byte handshake
 * header, at a bad record header or handshake header, when the hello's last
 * byte is in, and past VR_TLS_WIRE_MAX. Cost O(new bytes / record).
 */
int vr_tls_wake(const uint8_t *data, size_t seen, size_t len, uint64_t *mark);

/*
 * Parse a bare ClientHello handshake message (type 1, 24-bit length, body),
 * without the record layer, as QUIC carries it in CRYPTO frames. msg[0..len)
 * is the message from its first byte. Returns
 *   VR_SNIFF_MORE      a ClientHello so far; more bytes needed;
 *   VR_SNIFF_NOT_MINE  the first byte is not ClientHello;
 *   VR_SNIFF_FOUND     complete and well-formed (bytes past the message are
 *                      ignored); hello filled in, records 0, wire_len the
 *                      message length;
 *   VR_SNIFF_INVALID   malformed or bigger than VR_TLS_HELLO_MAX.
 */
int vr_tls_parse_handshake(const uint8_t *msg, size_t len, struct vr_tls_hello *hello);

#endif
