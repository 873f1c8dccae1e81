#include "vr_dns_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int vr_dns_name_read(const uint8_t *msg, size_t len, size_t *off, char *out, size_t cap)
{
    size_t pos = *off, end = 0, wire = 0, n = 0;
    bool jumped = false;
    int jumps = 0;
    /* A pointer must go strictly backwards from the label that holds it: the
     * chain of positions falls every jump, so it ends. */
    size_t limit = pos;
    for (;;) {
        if (pos >= len)
            return -1;
        uint8_t l = msg[pos];
        if ((l & 0xc0) == 0xc0) {
            if (pos + 1 >= len || ++jumps > VR_DNS_MAX_JUMPS)
                return -1;
            size_t target = (size_t)(l & 0x3f) << 8 | msg[pos + 1];
            if (target >= limit)
                return -1;
            if (!jumped)
                end = pos + 2;
            jumped = true;
            pos = limit = target;
            continue;
        }
        if (l & 0xc0) /* 0x40 / 0x80: extended label types, obsolete */
            return -1;
        if (l == 0) {
            if (!jumped)
                end = pos + 1;
            break;
        }
        if (pos + 1 + l > len)
            return -1;
        wire += 1u + l;
        if (wire + 1 > 255)
            return -1;
        if (out) {
            if (n + (n ? 1u : 0u) + l + 1 > cap)
                return -1;
            if (n)
                out[n++] = '.';
            for (size_t i = 0; i < l; i++) {
                char c = (char)msg[pos + 1 + i];
                /* A NUL or a dot inside a label has no unambiguous text form:
                 * "a.b" as one label would share a cache key and rules with
                 * a.b as two. Refused. */
                if (c == '\0' || c == '.')
                    return -1;
                out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
        } else {
            if (memchr(msg + pos + 1, '\0', l) || memchr(msg + pos + 1, '.', l))
                return -1;
            n += (n ? 1u : 0u) + l;
        }
        pos += 1u + l;
    }
    if (out)
        out[n] = '\0';
    *off = end;
    return (int)n;
}

/* Skips one resource record at *off; gives its type, class, TTL position
 * and rdata bounds. */
struct rr {
    uint16_t type, klass;
    size_t ttl_at;
    size_t rdata, rdlen;
};

static int rr_read(const uint8_t *msg, size_t len, size_t *off, char *name, size_t cap, struct rr *rr)
{
    if (vr_dns_name_read(msg, len, off, name, cap) < 0 || *off + 10 > len)
        return -1;
    const uint8_t *p = msg + *off;
    rr->type = vr_dns_get16(p);
    rr->klass = vr_dns_get16(p + 2);
    rr->ttl_at = *off + 4;
    rr->rdlen = vr_dns_get16(p + 8);
    rr->rdata = *off + 10;
    if (rr->rdata + rr->rdlen > len)
        return -1;
    *off = rr->rdata + rr->rdlen;
    return 0;
}

enum vr_dns_parse vr_dns_parse_query(const uint8_t *msg, size_t len, struct vr_dns_query *q)
{
    memset(q, 0, sizeof(*q));
    if (len < VR_DNS_HEADER)
        return VR_DNS_PARSE_DROP;
    q->id = vr_dns_get16(msg);
    q->flags = vr_dns_get16(msg + 2);
    q->udp_size = VR_DNS_UDP_MIN;
    if (q->flags & VR_DNS_F_QR)
        return VR_DNS_PARSE_DROP; /* never answer a response: no reflection loops */
    if (VR_DNS_OPCODE(q->flags) != 0)
        return VR_DNS_PARSE_NOTIMP;
    uint16_t qd = vr_dns_get16(msg + 4), an = vr_dns_get16(msg + 6), ns = vr_dns_get16(msg + 8),
             ar = vr_dns_get16(msg + 10);
    if (qd != 1 || an != 0 || ns != 0 || ar > 1)
        return VR_DNS_PARSE_FORMERR;
    size_t off = VR_DNS_HEADER;
    if (vr_dns_name_read(msg, len, &off, q->name, sizeof(q->name)) < 0 || off + 4 > len)
        return VR_DNS_PARSE_FORMERR;
    /* The question's name is copied into answers as it stands: a pointer in
     * it (into the query's header, the only thing before it) would point at
     * other bytes there. No client compresses it. */
    for (size_t p = VR_DNS_HEADER; msg[p] != 0; p += 1u + msg[p])
        if (msg[p] & 0xc0)
            return VR_DNS_PARSE_FORMERR;
    q->qtype = vr_dns_get16(msg + off);
    q->qclass = vr_dns_get16(msg + off + 2);
    off += 4;
    q->question_end = off;
    if (ar == 1) {
        char name[VR_DNS_NAME_MAX + 1];
        struct rr rr;
        if (rr_read(msg, len, &off, name, sizeof(name), &rr) < 0 || rr.type != VR_DNS_T_OPT || name[0] != '\0')
            return VR_DNS_PARSE_FORMERR;
        q->edns = true;
        q->udp_size = rr.klass < VR_DNS_UDP_MIN ? VR_DNS_UDP_MIN : rr.klass;
        q->do_bit = (msg[rr.ttl_at + 2] & 0x80) != 0;
    }
    if (off != len)
        return VR_DNS_PARSE_FORMERR; /* trailing garbage */
    return VR_DNS_PARSE_OK;
}

int vr_dns_parse_response(const uint8_t *msg, size_t len, const struct vr_dns_query *q,
                          struct vr_dns_response_info *info)
{
    memset(info, 0, sizeof(*info));
    info->min_ttl = UINT32_MAX;
    if (len < VR_DNS_HEADER)
        return -1;
    info->id = vr_dns_get16(msg);
    info->flags = vr_dns_get16(msg + 2);
    info->rcode = VR_DNS_RCODE(info->flags);
    info->truncated = (info->flags & VR_DNS_F_TC) != 0;
    if (!(info->flags & VR_DNS_F_QR))
        return -1;
    uint16_t qd = vr_dns_get16(msg + 4), an = vr_dns_get16(msg + 6), ns = vr_dns_get16(msg + 8);
    info->ancount = an;
    if (qd != 1)
        return -1;
    size_t off = VR_DNS_HEADER;
    char name[VR_DNS_NAME_MAX + 1], want[VR_DNS_NAME_MAX + 1];
    if (vr_dns_name_read(msg, len, &off, name, sizeof(name)) < 0 || off + 4 > len)
        return -1;
    if (strcmp(name, q->name) != 0 || vr_dns_get16(msg + off) != q->qtype || vr_dns_get16(msg + off + 2) != q->qclass)
        return -1;
    off += 4;
    if (info->truncated)
        return 0; /* the rest may be cut anywhere */
    snprintf(want, sizeof(want), "%s", q->name);
    for (uint16_t i = 0; i < an; i++) {
        struct rr rr;
        if (rr_read(msg, len, &off, name, sizeof(name), &rr) < 0)
            return -1;
        uint32_t ttl = get32(msg + rr.ttl_at);
        if (ttl < info->min_ttl)
            info->min_ttl = ttl;
        if (strcmp(name, want) != 0)
            continue;
        if (rr.type == VR_DNS_T_CNAME) {
            size_t p = rr.rdata;
            if (vr_dns_name_read(msg, len, &p, want, sizeof(want)) < 0)
                return -1;
        } else if (((rr.type == VR_DNS_T_A && rr.rdlen == 4) || (rr.type == VR_DNS_T_AAAA && rr.rdlen == 16)) &&
                   info->n_addrs < VR_DNS_MAX_ADDRS) {
            info->addrs[info->n_addrs].family = rr.rdlen == 4 ? 2 /* AF_INET */ : 10 /* AF_INET6 */;
            memcpy(info->addrs[info->n_addrs].bytes, msg + rr.rdata, rr.rdlen);
            info->n_addrs++;
        }
    }
    for (uint16_t i = 0; i < ns; i++) {
        struct rr rr;
        if (rr_read(msg, len, &off, name, sizeof(name), &rr) < 0)
            return -1;
        if (rr.type != VR_DNS_T_SOA)
            continue;
        /* MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM. */
        size_t p = rr.rdata;
        if (vr_dns_name_read(msg, len, &p, NULL, 0) < 0 || vr_dns_name_read(msg, len, &p, NULL, 0) < 0 ||
            p + 20 > rr.rdata + rr.rdlen)
            return -1;
        uint32_t ttl = get32(msg + rr.ttl_at), minimum = get32(msg + p + 16);
        info->negative_ttl = ttl < minimum ? ttl : minimum;
        info->has_soa = true;
    }
    /* The additional section is not needed; its OPT is not a TTL. */
    return 0;
}

static size_t put_opt(uint8_t *out, size_t at, size_t cap, bool do_bit)
{
    if (at + 11 > cap)
        return 0;
    uint8_t *p = out + at;
    p[0] = 0; /* root */
    vr_dns_put16(p + 1, VR_DNS_T_OPT);
    vr_dns_put16(p + 3, 1232); /* our UDP payload size (DNS flag day 2020) */
    p[5] = 0;                   /* extended rcode */
    p[6] = 0;                   /* version */
    p[7] = do_bit ? 0x80 : 0;
    p[8] = 0;
    vr_dns_put16(p + 9, 0);
    return at + 11;
}

size_t vr_dns_build_answer(const uint8_t *msg, const struct vr_dns_query *q, int rcode, const uint8_t *addrs,
                           size_t addr_len, size_t n, uint32_t ttl, uint8_t *out, size_t cap)
{
    size_t qlen = q->question_end > VR_DNS_HEADER ? q->question_end - VR_DNS_HEADER : 0;
    if (cap < VR_DNS_HEADER + qlen)
        return 0;
    vr_dns_put16(out, q->id);
    uint16_t flags = VR_DNS_F_QR | VR_DNS_F_RA | (q->flags & VR_DNS_F_RD) | (uint16_t)(rcode & 0xf);
    vr_dns_put16(out + 2, flags);
    vr_dns_put16(out + 4, qlen ? 1 : 0);
    vr_dns_put16(out + 6, (uint16_t)n);
    vr_dns_put16(out + 8, 0);
    vr_dns_put16(out + 10, q->edns ? 1 : 0);
    memcpy(out + VR_DNS_HEADER, msg + VR_DNS_HEADER, qlen);
    size_t at = VR_DNS_HEADER + qlen;
    for (size_t i = 0; i < n; i++) {
        if (at + 12 + addr_len > cap)
            return 0;
        uint8_t *p = out + at;
        vr_dns_put16(p, 0xc000 | VR_DNS_HEADER); /* the question's name */
        vr_dns_put16(p + 2, addr_len == 4 ? VR_DNS_T_A : VR_DNS_T_AAAA);
        vr_dns_put16(p + 4, 1);
        put32(p + 6, ttl);
        vr_dns_put16(p + 10, (uint16_t)addr_len);
        memcpy(p + 12, addrs + i * addr_len, addr_len);
        at += 12 + addr_len;
    }
    if (q->edns && (at = put_opt(out, at, cap, q->do_bit)) == 0)
        return 0;
    return at;
}

size_t vr_dns_build_header_error(const uint8_t *msg, size_t len, int rcode, uint8_t *out, size_t cap)
{
    if (len < VR_DNS_HEADER || cap < VR_DNS_HEADER)
        return 0;
    uint16_t qflags = vr_dns_get16(msg + 2);
    memcpy(out, msg, 2);
    /* Keep the opcode and RD, as RFC 1035 servers do. */
    vr_dns_put16(out + 2, (uint16_t)(VR_DNS_F_QR | (qflags & 0x7800u) | (qflags & VR_DNS_F_RD) | (rcode & 0xf)));
    memset(out + 4, 0, 8);
    return VR_DNS_HEADER;
}

size_t vr_dns_build_query(const char *name, uint16_t qtype, uint16_t id, uint8_t *out, size_t cap)
{
    size_t nlen = strlen(name);
    if (nlen > VR_DNS_NAME_MAX || cap < VR_DNS_HEADER + nlen + 2 + 4 + 11)
        return 0;
    vr_dns_put16(out, id);
    vr_dns_put16(out + 2, VR_DNS_F_RD);
    vr_dns_put16(out + 4, 1);
    vr_dns_put16(out + 6, 0);
    vr_dns_put16(out + 8, 0);
    vr_dns_put16(out + 10, 1);
    size_t at = VR_DNS_HEADER;
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        if (l == 0 || l > 63)
            return 0;
        out[at++] = (uint8_t)l;
        memcpy(out + at, s, l);
        at += l;
        s += l;
        if (*s == '.')
            s++;
    }
    out[at++] = 0;
    vr_dns_put16(out + at, qtype);
    vr_dns_put16(out + at + 2, 1);
    at += 4;
    return put_opt(out, at, cap, false);
}

size_t vr_dns_truncate(uint8_t *msg, size_t len, const struct vr_dns_query *q)
{
    if (len < q->question_end || q->question_end < VR_DNS_HEADER)
        return len < VR_DNS_HEADER ? len : VR_DNS_HEADER;
    vr_dns_put16(msg + 2, vr_dns_get16(msg + 2) | VR_DNS_F_TC);
    vr_dns_put16(msg + 6, 0);
    vr_dns_put16(msg + 8, 0);
    vr_dns_put16(msg + 10, 0);
    return q->question_end;
}

int vr_dns_age_ttls(uint8_t *msg, size_t len, uint32_t elapsed)
{
    if (len < VR_DNS_HEADER)
        return -1;
    uint32_t counts = (uint32_t)vr_dns_get16(msg + 6) + vr_dns_get16(msg + 8) + vr_dns_get16(msg + 10);
    size_t off = VR_DNS_HEADER;
    for (uint16_t i = 0; i < vr_dns_get16(msg + 4); i++) {
        if (vr_dns_name_read(msg, len, &off, NULL, 0) < 0 || off + 4 > len)
            return -1;
        off += 4;
    }
    for (uint32_t i = 0; i < counts; i++) {
        struct rr rr;
        if (rr_read(msg, len, &off, NULL, 0, &rr) < 0)
            return -1;
        if (rr.type == VR_DNS_T_OPT)
            continue;
        uint32_t ttl = get32(msg + rr.ttl_at);
        put32(msg + rr.ttl_at, ttl > elapsed ? ttl - elapsed : 0);
    }
    return 0;
}

static const struct {
    uint16_t type;
    const char *name;
} types[] = {
    {VR_DNS_T_A, "A"},     {VR_DNS_T_NS, "NS"},     {VR_DNS_T_CNAME, "CNAME"}, {VR_DNS_T_SOA, "SOA"},
    {VR_DNS_T_PTR, "PTR"}, {VR_DNS_T_MX, "MX"},     {VR_DNS_T_TXT, "TXT"},     {VR_DNS_T_AAAA, "AAAA"},
    {VR_DNS_T_SRV, "SRV"}, {VR_DNS_T_SVCB, "SVCB"}, {VR_DNS_T_HTTPS, "HTTPS"}, {VR_DNS_T_ANY, "ANY"},
};

const char *vr_dns_type_name(uint16_t type, char *buf, size_t cap)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].type == type)
            return types[i].name;
    snprintf(buf, cap, "TYPE%u", type);
    return buf;
}

int vr_dns_type_parse(const char *text)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(types[i].name, text) == 0)
            return types[i].type;
    const char *digits = strncasecmp(text, "TYPE", 4) == 0 ? text + 4 : text;
    char *end;
    long v = strtol(digits, &end, 10);
    if (end == digits || *end != '\0' || v < 1 || v > 65535)
        return -1;
    return (int)v;
}

const char *vr_dns_rcode_name(int rcode)
{
    static const char *names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
    return rcode >= 0 && rcode < 6 ? names[rcode] : "RCODE?";
}
