#include "vr_dns_parse.h"

#include <string.h>

#include "vr_sniff_name.h"

static uint16_t vr_dns_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/* The header alone (12 bytes present): is this a query we read? */
static int vr_dns_header_check(const uint8_t *msg, size_t msg_len, struct vr_dns_query *q)
{
    uint8_t flags1 = msg[2], flags2 = msg[3];
    unsigned opcode = (flags1 >> 3) & 0x0f;
    if (flags1 & 0x80) /* QR: a response */
        return VR_SNIFF_NOT_MINE;
    if (opcode != VR_DNS_OPCODE_QUERY && opcode != VR_DNS_OPCODE_NOTIFY &&
        opcode != VR_DNS_OPCODE_UPDATE)
        return VR_SNIFF_NOT_MINE;
    if ((flags2 & 0x0f) != 0) /* RCODE is set by responders only */
        return VR_SNIFF_NOT_MINE;
    /* One question (RFC 9619; NOTIFY and UPDATE's zone section alike). */
    if (vr_dns_get16(msg + 4) != 1)
        return VR_SNIFF_NOT_MINE;
    q->id = vr_dns_get16(msg);
    q->opcode = (uint8_t)opcode;
    q->ancount = vr_dns_get16(msg + 6);
    q->nscount = vr_dns_get16(msg + 8);
    q->arcount = vr_dns_get16(msg + 10);
    size_t records = (size_t)q->ancount + q->nscount + q->arcount;
    if (VR_DNS_MIN_QUERY + records * VR_DNS_MIN_RR > msg_len)
        return VR_SNIFF_NOT_MINE;
    return VR_SNIFF_MORE;
}

/*
 * Walks the QNAME at msg[off..): sets *end past its root octet and writes
 * its text form (labels joined by '.') into text. *dotted is set when a
 * label itself holds a '.', which would change the name once joined.
 */
static int vr_dns_qname_read(const uint8_t *msg, size_t len, size_t msg_len, size_t off,
                             size_t *end, char *text, size_t *text_len, int *dotted)
{
    size_t wire = 0, tl = 0;
    *dotted = 0;
    for (;;) {
        if (off >= msg_len)
            return VR_SNIFF_INVALID;
        if (off >= len)
            return VR_SNIFF_MORE;
        uint8_t l = msg[off];
        if ((l & 0xc0) == 0xc0) /* compression pointer: none before any name */
            return VR_SNIFF_INVALID;
        if ((l & 0xc0) != 0) /* 0x40 extended, 0x80 reserved label types */
            return VR_SNIFF_INVALID;
        wire += 1u + l;
        if (wire > VR_DNS_NAME_WIRE_MAX)
            return VR_SNIFF_INVALID;
        if (l == 0) {
            *end = off + 1;
            *text_len = tl;
            return VR_SNIFF_FOUND;
        }
        if (off + 1 + l > msg_len)
            return VR_SNIFF_INVALID;
        if (off + 1 + l > len)
            return VR_SNIFF_MORE;
        /* wire <= 255 keeps tl + l + 1 within text (VR_DNS_NAME_WIRE_MAX). */
        if (tl > 0)
            text[tl++] = '.';
        for (size_t i = 0; i < l; i++) {
            char c = (char)msg[off + 1 + i];
            if (c == '.')
                *dotted = 1;
            text[tl++] = c;
        }
        off += 1u + l;
    }
}

int vr_dns_parse_message(const uint8_t *msg, size_t len, size_t msg_len,
                         struct vr_dns_query *q)
{
    memset(q, 0, sizeof(*q));
    q->msg_len = msg_len;
    if (msg_len < VR_DNS_MIN_QUERY)
        return VR_SNIFF_NOT_MINE;
    if (len > msg_len)
        len = msg_len;
    if (len < VR_DNS_HEADER_LEN)
        return VR_SNIFF_MORE;
    int st = vr_dns_header_check(msg, msg_len, q);
    if (st != VR_SNIFF_MORE)
        return st;

    char text[VR_DNS_NAME_WIRE_MAX];
    size_t text_len = 0, name_end = 0;
    int dotted = 0;
    st = vr_dns_qname_read(msg, len, msg_len, VR_DNS_HEADER_LEN, &name_end, text, &text_len,
                           &dotted);
    if (st != VR_SNIFF_FOUND)
        return st;
    if (name_end + 4 > msg_len)
        return VR_SNIFF_INVALID;
    if (name_end + 4 > len)
        return VR_SNIFF_MORE;
    q->qtype = vr_dns_get16(msg + name_end);
    q->qclass = vr_dns_get16(msg + name_end + 2);
    q->question_end = name_end + 4;
    size_t records = (size_t)q->ancount + q->nscount + q->arcount;
    if (q->question_end + records * VR_DNS_MIN_RR > msg_len)
        return VR_SNIFF_INVALID;
    /* The root name, a label with a '.', an address-like or otherwise
     * non-host name: still DNS, routed without a domain. */
    if (!dotted && vr_sniff_name_normalise(text, text_len, q->qname, sizeof(q->qname)) == 0)
        q->name_is_host = 1;
    else
        q->qname[0] = '\0';
    return VR_SNIFF_FOUND;
}

int vr_dns_parse_datagram(const uint8_t *data, size_t len, struct vr_dns_query *q)
{
    return vr_dns_parse_message(data, len, len, q);
}

int vr_dns_parse_stream(const uint8_t *data, size_t len, struct vr_dns_query *q)
{
    if (len < VR_DNS_TCP_PREFIX) {
        memset(q, 0, sizeof(*q));
        return VR_SNIFF_MORE;
    }
    size_t msg_len = vr_dns_get16(data);
    return vr_dns_parse_message(data + VR_DNS_TCP_PREFIX, len - VR_DNS_TCP_PREFIX, msg_len, q);
}

int vr_dns_wake(size_t seen, size_t len)
{
    return seen < len && seen < VR_DNS_STREAM_DECIDED;
}
