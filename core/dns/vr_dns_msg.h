/* The DNS message codec of the resolver (RFC 1035, RFC 6891 EDNS0, RFC 2308
 * negative answers): parse a query, walk a response for its TTL and
 * addresses, build the answers the resolver makes itself.
 *
 * Hardened for hostile input: every read is bounded by the message length;
 * a compression pointer must point strictly before the label that holds it
 * (so a pointer chain always ends) and at most VR_DNS_MAX_JUMPS are followed;
 * names longer than 255 octets on the wire are refused. Nothing recurses. */
#ifndef VR_DNS_MSG_H
#define VR_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VR_DNS_HEADER 12
#define VR_DNS_NAME_MAX 253   /* presentation form, without the final dot */
#define VR_DNS_MAX_JUMPS 64
#define VR_DNS_MAX_MSG 65535
#define VR_DNS_UDP_MIN 512    /* a client without EDNS0 takes this much over UDP */
#define VR_DNS_MAX_ADDRS 16

enum vr_dns_rcode {
    VR_DNS_NOERROR = 0,
    VR_DNS_FORMERR = 1,
    VR_DNS_SERVFAIL = 2,
    VR_DNS_NXDOMAIN = 3,
    VR_DNS_NOTIMP = 4,
    VR_DNS_REFUSED = 5,
};

enum vr_dns_type {
    VR_DNS_T_A = 1,
    VR_DNS_T_NS = 2,
    VR_DNS_T_CNAME = 5,
    VR_DNS_T_SOA = 6,
    VR_DNS_T_PTR = 12,
    VR_DNS_T_MX = 15,
    VR_DNS_T_TXT = 16,
    VR_DNS_T_AAAA = 28,
    VR_DNS_T_SRV = 33,
    VR_DNS_T_OPT = 41,
    VR_DNS_T_SVCB = 64,
    VR_DNS_T_HTTPS = 65,
    VR_DNS_T_ANY = 255,
};

/* Header flag bits (host order of the 16-bit flags word). */
#define VR_DNS_F_QR 0x8000u
#define VR_DNS_F_AA 0x0400u
#define VR_DNS_F_TC 0x0200u
#define VR_DNS_F_RD 0x0100u
#define VR_DNS_F_RA 0x0080u
#define VR_DNS_OPCODE(f) (((f) >> 11) & 0xfu)
#define VR_DNS_RCODE(f) ((f) & 0xfu)

/* A query as the resolver needs it. */
struct vr_dns_query {
    uint16_t id;
    uint16_t flags;
    char name[VR_DNS_NAME_MAX + 1]; /* lower case, no final dot; "" is the root */
    uint16_t qtype, qclass;
    size_t question_end; /* offset just past the question */
    bool edns;           /* an OPT record came with it */
    bool do_bit;         /* DNSSEC OK (RFC 3225) */
    uint16_t udp_size;   /* the client's EDNS0 buffer, VR_DNS_UDP_MIN without EDNS */
};

/* What vr_dns_parse_query found. */
enum vr_dns_parse {
    VR_DNS_PARSE_OK = 0,
    VR_DNS_PARSE_DROP = -1,    /* too short for a header, or a response: answer nothing */
    VR_DNS_PARSE_FORMERR = -2, /* a header with a broken body: answer FORMERR */
    VR_DNS_PARSE_NOTIMP = -3,  /* an opcode other than QUERY: answer NOTIMP */
};

/* Reads a (possibly compressed) name at *off in msg into out (presentation
 * form, lower case, no final dot; cap >= VR_DNS_NAME_MAX + 1; NULL out just
 * skips it) and moves *off past it. Returns its length, or -1 when broken. */
int vr_dns_name_read(const uint8_t *msg, size_t len, size_t *off, char *out, size_t cap);

/* Parses a query: exactly one question, answer and authority sections
 * empty, at most one OPT in the additional section. */
enum vr_dns_parse vr_dns_parse_query(const uint8_t *msg, size_t len, struct vr_dns_query *q);

/* What a response says, for the cache and host->resolve. */
struct vr_dns_response_info {
    uint16_t id;
    uint16_t flags;
    int rcode;
    bool truncated;
    uint16_t ancount;
    uint32_t min_ttl;       /* smallest TTL of the answer section (not OPT); UINT32_MAX when none */
    uint32_t negative_ttl;  /* min(SOA TTL, SOA MINIMUM) of an authority SOA (RFC 2308); 0 when none */
    bool has_soa;
    /* A and AAAA records of the answer section whose owner is the question's
     * name or a CNAME target of it. */
    size_t n_addrs;
    struct {
        int family;
        uint8_t bytes[16];
    } addrs[VR_DNS_MAX_ADDRS];
};

/* Walks a response to query q (the question must match: name case-
 * insensitively, type and class). Returns 0, or -1 when the message is
 * broken or answers something else. */
int vr_dns_parse_response(const uint8_t *msg, size_t len, const struct vr_dns_query *q,
                          struct vr_dns_response_info *info);

/* A response made here for query q (msg is the query as received, its
 * question section is copied): header with rcode, the question, ans
 * answers (A or AAAA records of ttl holding addrs of addr_len 4 or 16
 * bytes, none when n == 0), and an OPT record if the query had one. For
 * FORMERR of a query whose question could not be parsed, q->question_end
 * == 0 and the question is left out. Returns the length, or 0 when cap is
 * too small. */
size_t vr_dns_build_answer(const uint8_t *msg, const struct vr_dns_query *q, int rcode, const uint8_t *addrs,
                           size_t addr_len, size_t n, uint32_t ttl, uint8_t *out, size_t cap);

/* A FORMERR / NOTIMP / REFUSED / SERVFAIL for a message whose header could be
 * read (len >= 12), with no question. */
size_t vr_dns_build_header_error(const uint8_t *msg, size_t len, int rcode, uint8_t *out, size_t cap);

/* A query of our own (host->resolve): RD set, with an OPT of 1232 bytes. */
size_t vr_dns_build_query(const char *name, uint16_t qtype, uint16_t id, uint8_t *out, size_t cap);

/* Truncates response msg (len) for a UDP client: header with TC set and
 * the question only. Returns the new length. */
size_t vr_dns_truncate(uint8_t *msg, size_t len, const struct vr_dns_query *q);

/* Subtracts elapsed seconds from every TTL of a cached response (not the
 * OPT pseudo-record's), never below 0. Returns 0, or -1 when broken. */
int vr_dns_age_ttls(uint8_t *msg, size_t len, uint32_t elapsed);

static inline uint16_t vr_dns_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void vr_dns_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* "A", "AAAA", "HTTPS" ... or "TYPE<n>" into buf. */
const char *vr_dns_type_name(uint16_t type, char *buf, size_t cap);
/* The type a name stands for ("A", "aaaa", "TYPE65", "65"), or -1. */
int vr_dns_type_parse(const char *text);
const char *vr_dns_rcode_name(int rcode);

#endif
