#include "vr_tls_parse.h"

#include <string.h>

#include "vr_sniff_name.h"

#define VR_TLS_CONTENT_HANDSHAKE 0x16
#define VR_TLS_HANDSHAKE_CLIENT_HELLO 0x01
#define VR_TLS_RECORD_MAX 16384 /* 2^14, RFC 8446 5.1 */
#define VR_TLS_SNI_HOST_NAME 0x00

/* A bounds-checked cursor over the reassembled hello. */
struct vr_tls_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

static int vr_tls_read_u8(struct vr_tls_reader *r, size_t *v)
{
    if (r->len - r->pos < 1)
        return -1;
    *v = r->p[r->pos++];
    return 0;
}

static int vr_tls_read_u16(struct vr_tls_reader *r, size_t *v)
{
    if (r->len - r->pos < 2)
        return -1;
    *v = ((size_t)r->p[r->pos] << 8) | r->p[r->pos + 1];
    r->pos += 2;
    return 0;
}

/* Takes n bytes as a sub-reader. */
static int vr_tls_read_sub(struct vr_tls_reader *r, size_t n, struct vr_tls_reader *sub)
{
    if (r->len - r->pos < n)
        return -1;
    sub->p = r->p + r->pos;
    sub->len = n;
    sub->pos = 0;
    r->pos += n;
    return 0;
}

static int vr_tls_done(const struct vr_tls_reader *r)
{
    return r->pos == r->len;
}

/* server_name (RFC 6066 3): the first host_name entry is the name. */
static int vr_tls_parse_sni(struct vr_tls_reader *ext, struct vr_tls_hello *h)
{
    struct vr_tls_reader list;
    size_t list_len;
    if (vr_tls_read_u16(ext, &list_len) < 0 || list_len == 0 ||
        vr_tls_read_sub(ext, list_len, &list) < 0 || !vr_tls_done(ext))
        return -1;
    while (!vr_tls_done(&list)) {
        size_t type, name_len;
        struct vr_tls_reader name;
        if (vr_tls_read_u8(&list, &type) < 0 || vr_tls_read_u16(&list, &name_len) < 0 ||
            name_len == 0 || vr_tls_read_sub(&list, name_len, &name) < 0)
            return -1;
        if (type == VR_TLS_SNI_HOST_NAME && !h->has_sni) {
            h->has_sni = 1;
            /* Not a host name (an IP literal, garbage): recognised as TLS,
             * but no domain is passed on. */
            (void)vr_sniff_name_normalise((const char *)name.p, name.len, h->sni, sizeof(h->sni));
        }
    }
    return 0;
}

/* application_layer_protocol_negotiation (RFC 7301 3.1): keep the first. */
static int vr_tls_parse_alpn(struct vr_tls_reader *ext, struct vr_tls_hello *h)
{
    struct vr_tls_reader list;
    size_t list_len;
    int first = 1;
    if (vr_tls_read_u16(ext, &list_len) < 0 || list_len < 2 ||
        vr_tls_read_sub(ext, list_len, &list) < 0 || !vr_tls_done(ext))
        return -1;
    while (!vr_tls_done(&list)) {
        size_t plen;
        struct vr_tls_reader proto;
        if (vr_tls_read_u8(&list, &plen) < 0 || plen == 0 ||
            vr_tls_read_sub(&list, plen, &proto) < 0)
            return -1;
        if (!first)
            continue;
        first = 0;
        if (plen >= sizeof(h->alpn))
            continue;
        size_t i;
        for (i = 0; i < plen; i++)
            if (proto.p[i] < 0x21 || proto.p[i] > 0x7e)
                break;
        if (i == plen) {
            memcpy(h->alpn, proto.p, plen);
            h->alpn[plen] = '\0';
        }
    }
    return 0;
}

static int vr_tls_parse_versions(struct vr_tls_reader *ext, struct vr_tls_hello *h)
{
    struct vr_tls_reader list;
    size_t list_len;
    if (vr_tls_read_u8(ext, &list_len) < 0 || list_len < 2 || list_len % 2 != 0 ||
        vr_tls_read_sub(ext, list_len, &list) < 0 || !vr_tls_done(ext))
        return -1;
    while (!vr_tls_done(&list)) {
        size_t v;
        if (vr_tls_read_u16(&list, &v) < 0)
            return -1;
        if (v == 0x0304)
            h->offers_tls13 = 1;
    }
    return 0;
}

static int vr_tls_parse_extensions(struct vr_tls_reader *exts, struct vr_tls_hello *h)
{
    int seen_sni = 0, seen_alpn = 0, seen_versions = 0;
    while (!vr_tls_done(exts)) {
        size_t type, ext_len;
        struct vr_tls_reader ext;
        if (vr_tls_read_u16(exts, &type) < 0 || vr_tls_read_u16(exts, &ext_len) < 0 ||
            vr_tls_read_sub(exts, ext_len, &ext) < 0)
            return -1;
        switch (type) {
        case VR_TLS_EXT_SERVER_NAME:
            if (seen_sni++ || vr_tls_parse_sni(&ext, h) < 0)
                return -1;
            break;
        case VR_TLS_EXT_ALPN:
            if (seen_alpn++ || vr_tls_parse_alpn(&ext, h) < 0)
                return -1;
            h->has_alpn = 1;
            break;
        case VR_TLS_EXT_SUPPORTED_VERSIONS:
            if (seen_versions++ || vr_tls_parse_versions(&ext, h) < 0)
                return -1;
            break;
        case VR_TLS_EXT_QUIC_TP:
            h->has_quic_tp = 1; /* for the quic sniffer; not checked further */
            break;
        case VR_TLS_EXT_ECH:
            /* The outer hello's SNI (the client-facing server) is what we
             * route on; the inner one is encrypted. */
            h->has_ech = 1;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* The ClientHello body (RFC 8446 4.1.2, RFC 5246 7.4.1.2). */
static int vr_tls_parse_body(const uint8_t *body, size_t len, struct vr_tls_hello *h)
{
    struct vr_tls_reader r = {body, len, 0}, skip, exts;
    size_t version, n;
    if (vr_tls_read_u16(&r, &version) < 0 || (version >> 8) != 3)
        return -1;
    h->legacy_version = (uint16_t)version;
    if (vr_tls_read_sub(&r, 32, &skip) < 0) /* random */
        return -1;
    if (vr_tls_read_u8(&r, &n) < 0 || n > 32 || vr_tls_read_sub(&r, n, &skip) < 0)
        return -1; /* legacy_session_id */
    if (vr_tls_read_u16(&r, &n) < 0 || n < 2 || n % 2 != 0 || vr_tls_read_sub(&r, n, &skip) < 0)
        return -1; /* cipher_suites */
    if (vr_tls_read_u8(&r, &n) < 0 || n < 1 || vr_tls_read_sub(&r, n, &skip) < 0)
        return -1; /* compression_methods */
    if (vr_tls_done(&r))
        return 0; /* a hello without extensions (old TLS 1.0 clients) */
    if (vr_tls_read_u16(&r, &n) < 0 || vr_tls_read_sub(&r, n, &exts) < 0 || !vr_tls_done(&r))
        return -1;
    return vr_tls_parse_extensions(&exts, h);
}

/* Maps the result of vr_tls_parse_body to a status; a malformed hello
 * passes on no name. */
static int vr_tls_finish(int r, struct vr_tls_hello *h)
{
    if (r < 0) {
        h->sni[0] = '\0';
        h->alpn[0] = '\0';
        return VR_SNIFF_INVALID;
    }
    return VR_SNIFF_FOUND;
}

/* Checks the bytes of a record header that are present (up to 5). */
static int vr_tls_record_header_ok(const uint8_t *p, size_t avail)
{
    if (avail >= 1 && p[0] != VR_TLS_CONTENT_HANDSHAKE)
        return 0;
    if (avail >= 2 && p[1] != 3)
        return 0;
    if (avail >= 3 && p[2] > 4)
        return 0;
    return 1;
}

/* Copies the hello message (need bytes) out of the records it spans; the
 * records were checked by the caller. */
static void vr_tls_gather(const uint8_t *data, size_t need, uint8_t *msg)
{
    size_t off = 0, have = 0;
    while (have < need) {
        size_t rlen = ((size_t)data[off + 3] << 8) | data[off + 4];
        size_t take = rlen < need - have ? rlen : need - have;
        memcpy(msg + have, data + off + 5, take);
        have += take;
        off += 5 + rlen;
    }
}

int vr_tls_parse_client_hello(const uint8_t *data, size_t len, struct vr_tls_hello *h)
{
    /* First pass: walk the record headers and count handshake bytes, so an
     * incomplete hello costs O(records) per call, not a copy of everything
     * so far (the host calls again with every new segment). */
    uint8_t hs[4]; /* the handshake header, which may itself be split */
    size_t off = 0, have = 0, need = 0;

    memset(h, 0, sizeof(*h));
    /* The first bytes decide whether this is TLS at all: an SSLv2-style
     * hello starts with a byte >= 0x80, everything else not with 0x16. */
    if (!vr_tls_record_header_ok(data, len < 3 ? len : 3))
        return VR_SNIFF_NOT_MINE;

    for (;;) {
        size_t avail = len - off;
        if (!vr_tls_record_header_ok(data + off, avail < 3 ? avail : 3))
            return VR_SNIFF_INVALID; /* the hello is interrupted by another record type */
        if (avail < 5)
            return VR_SNIFF_MORE;
        size_t rlen = ((size_t)data[off + 3] << 8) | data[off + 4];
        if (rlen == 0 || rlen > VR_TLS_RECORD_MAX)
            return VR_SNIFF_INVALID;
        if (h->records == 0)
            h->record_version = (uint16_t)((data[off + 1] << 8) | data[off + 2]);
        h->records++;
        off += 5;

        size_t frag = rlen < len - off ? rlen : len - off;
        for (size_t i = 0; have + i < sizeof(hs) && i < frag; i++)
            hs[have + i] = data[off + i];
        size_t before = have;
        have += frag;
        if (have >= 1 && hs[0] != VR_TLS_HANDSHAKE_CLIENT_HELLO)
            return VR_SNIFF_INVALID;
        if (need == 0 && have >= sizeof(hs)) {
            size_t body_len = ((size_t)hs[1] << 16) | ((size_t)hs[2] << 8) | hs[3];
            if (body_len + 4 > VR_TLS_HELLO_MAX)
                return VR_SNIFF_INVALID;
            need = body_len + 4;
        }
        if (need != 0 && have >= need) {
            h->wire_len = off + (need - before);
            break;
        }
        if (frag < rlen)
            return VR_SNIFF_MORE; /* this record is not complete yet */
        off += rlen;
        if (off >= VR_TLS_WIRE_MAX)
            return VR_SNIFF_INVALID; /* too many tiny records */
    }

    /* Complete: parse in place when one record holds it all, else gather. */
    if (h->records == 1)
        return vr_tls_finish(vr_tls_parse_body(data + 5 + 4, need - 4, h), h);
    uint8_t msg[VR_TLS_HELLO_MAX];
    vr_tls_gather(data, need, msg);
    return vr_tls_finish(vr_tls_parse_body(msg + 4, need - 4, h), h);
}

/* The wake's progress through the records, kept in the host's mark word. */
struct vr_tls_wake_state {
    uint16_t hdr;  /* offset of the first record not yet complete */
    uint16_t have; /* handshake bytes in the records before hdr */
    uint16_t need; /* the hello with its 4-byte header; 0 while unknown */
    uint16_t spare;
};
_Static_assert(sizeof(struct vr_tls_wake_state) <= sizeof(uint64_t), "the wake state fits the host's mark");
_Static_assert(VR_TLS_WIRE_MAX + 5 + VR_TLS_RECORD_MAX <= UINT16_MAX, "record offsets fit 16 bits");

/* The 4-byte handshake header from the first records (headers checked,
 * at least 4 handshake bytes present). */
static void vr_tls_wake_hs_header(const uint8_t *data, size_t len, uint8_t hs[4])
{
    size_t off = 0, got = 0;
    while (got < 4 && off + 5 <= len) {
        size_t rlen = ((size_t)data[off + 3] << 8) | data[off + 4];
        for (size_t i = 0; i < rlen && got < 4 && off + 5 + i < len; i++)
            hs[got++] = data[off + 5 + i];
        off += 5 + rlen;
    }
}

int vr_tls_wake(const uint8_t *data, size_t seen, size_t len, uint64_t *mark)
{
    struct vr_tls_wake_state st;
    memcpy(&st, mark, sizeof(st));
    int wake = seen < 5; /* NOT_MINE is decided by the first header */
    for (;;) {
        size_t avail = len > st.hdr ? len - st.hdr : 0;
        if (avail == 0)
            break;
        if (!vr_tls_record_header_ok(data + st.hdr, avail < 3 ? avail : 3)) {
            wake = 1;
            break;
        }
        if (avail < 5)
            break;
        size_t rlen = ((size_t)data[st.hdr + 3] << 8) | data[st.hdr + 4];
        if (rlen == 0 || rlen > VR_TLS_RECORD_MAX) {
            wake = 1;
            break;
        }
        size_t frag = rlen < avail - 5 ? rlen : avail - 5;
        size_t total = st.have + frag;
        if (total < 4) {
            if (total > 0)
                wake = 1; /* the handshake type and length decide early */
        } else {
            if (st.need == 0) {
                uint8_t hs[4] = {0};
                vr_tls_wake_hs_header(data, len, hs);
                size_t body_len = ((size_t)hs[1] << 16) | ((size_t)hs[2] << 8) | hs[3];
                if (hs[0] != VR_TLS_HANDSHAKE_CLIENT_HELLO || body_len + 4 > VR_TLS_HELLO_MAX) {
                    wake = 1;
                    break;
                }
                st.need = (uint16_t)(body_len + 4);
            }
            if (total >= st.need) {
                wake = 1; /* the hello is complete */
                break;
            }
        }
        if (frag < rlen)
            break;
        st.have = (uint16_t)total;
        st.hdr = (uint16_t)(st.hdr + 5 + rlen);
        if (st.hdr >= VR_TLS_WIRE_MAX) {
            wake = 1;
            break;
        }
    }
    memcpy(mark, &st, sizeof(st));
    return wake;
}

int vr_tls_parse_handshake(const uint8_t *msg, size_t len, struct vr_tls_hello *h)
{
    memset(h, 0, sizeof(*h));
    if (len < 1)
        return VR_SNIFF_MORE;
    if (msg[0] != VR_TLS_HANDSHAKE_CLIENT_HELLO)
        return VR_SNIFF_NOT_MINE;
    if (len < 4)
        return VR_SNIFF_MORE;
    size_t body_len = ((size_t)msg[1] << 16) | ((size_t)msg[2] << 8) | msg[3];
    if (body_len + 4 > VR_TLS_HELLO_MAX)
        return VR_SNIFF_INVALID;
    if (len < body_len + 4)
        return VR_SNIFF_MORE;
    h->wire_len = body_len + 4;
    return vr_tls_finish(vr_tls_parse_body(msg + 4, body_len, h), h);
}
