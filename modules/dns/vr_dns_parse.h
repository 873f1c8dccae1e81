/*
 * The DNS query parser behind the "dns" sniffer: pure functions over the
 * first datagram of a UDP session or the first bytes of a TCP stream,
 * linked directly by the unit test and the libFuzzer harness. No
 * allocation; reads only data[0..len).
 */
#ifndef VR_DNS_PARSE_H
#define VR_DNS_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <vrouter/vr_sniffer.h>

#define VR_DNS_HEADER_LEN 12
/* Smallest query: header, the root name (1 byte), QTYPE and QCLASS. */
#define VR_DNS_MIN_QUERY (VR_DNS_HEADER_LEN + 5)
/* Smallest resource record: root name, type, class, TTL, RDLENGTH. */
#define VR_DNS_MIN_RR 11
/* Longest name on the wire, length octets and the root included. */
#define VR_DNS_NAME_WIRE_MAX 255
/* The 2-byte message length in front of every message over TCP. */
#define VR_DNS_TCP_PREFIX 2

#define VR_DNS_OPCODE_QUERY 0
#define VR_DNS_OPCODE_NOTIFY 4
#define VR_DNS_OPCODE_UPDATE 5

struct vr_dns_query {
    uint16_t id;
    uint8_t opcode;           /* QUERY, NOTIFY or UPDATE */
    uint16_t ancount, nscount, arcount; /* qdcount is always 1 */
    uint16_t qtype, qclass;   /* of the first question */
    int name_is_host;         /* the QNAME passed the host-name normaliser */
    char qname[VR_SNIFF_DOMAIN_MAX]; /* normalised; empty for the root or a
                                        name that is not a host name */
    size_t msg_len;           /* the whole message (datagram, or TCP length) */
    size_t question_end;      /* offset in the message after QTYPE/QCLASS */
};

/*
 * Parse a DNS query message msg[0..len) whose full length is msg_len
 * (len < msg_len: only a prefix of it is here yet). Returns
 *   VR_SNIFF_MORE      a query so far; the first question is not complete;
 *   VR_SNIFF_NOT_MINE  the header is not a DNS query's: msg_len < 17, QR=1
 *                      (a response), an opcode other than QUERY, NOTIFY or
 *                      UPDATE, RCODE != 0, QDCOUNT != 1, or more records
 *                      claimed than msg_len can hold;
 *   VR_SNIFF_FOUND     the first question is complete and well formed; q
 *                      filled in;
 *   VR_SNIFF_INVALID   a DNS query header but a broken question: a
 *                      compression pointer or a reserved label type in the
 *                      QNAME, a name over 255 bytes, a question running past
 *                      msg_len, or more records claimed than fit after it.
 * Decides from the bytes present: a prefix answers MORE or the same.
 */
int vr_dns_parse_message(const uint8_t *msg, size_t len, size_t msg_len,
                         struct vr_dns_query *q);

/* The first datagram of a UDP session: the whole message, never MORE. */
int vr_dns_parse_datagram(const uint8_t *data, size_t len, struct vr_dns_query *q);

/*
 * Every byte of a TCP stream so far: the 2-byte length, then the message.
 * MORE until the first question is in; prefix-consistent.
 */
int vr_dns_parse_stream(const uint8_t *data, size_t len, struct vr_dns_query *q);

/* Every stream is decided (FOUND, NOT_MINE or INVALID) by this many bytes:
 * the length, the header, the longest name, QTYPE and QCLASS. */
#define VR_DNS_STREAM_DECIDED (VR_DNS_TCP_PREFIX + VR_DNS_HEADER_LEN + VR_DNS_NAME_WIRE_MAX + 4)

/* The dns sniffer's sniff_wake (ABI 1.1): 1 while the new bytes reach below
 * VR_DNS_STREAM_DECIDED, 0 after (the stream was decided by then). */
int vr_dns_wake(size_t seen, size_t len);

#endif
