#include "vr_quic_parse.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* Long-header packet types, numbered as in QUIC v1 (RFC 9000 17.2). */
enum { VR_QUIC_INITIAL = 0, VR_QUIC_0RTT = 1, VR_QUIC_HANDSHAKE = 2, VR_QUIC_RETRY = 3 };

/* Frame types allowed in an Initial packet (RFC 9000 12.4, table 3). */
#define VR_QUIC_FRAME_PADDING 0x00
#define VR_QUIC_FRAME_PING 0x01
#define VR_QUIC_FRAME_ACK 0x02
#define VR_QUIC_FRAME_ACK_ECN 0x03
#define VR_QUIC_FRAME_CRYPTO 0x06
#define VR_QUIC_FRAME_CLOSE 0x1c

#define VR_QUIC_SAMPLE_LEN 16
#define VR_QUIC_TAG_LEN 16
/* Header protection samples 16 bytes starting 4 after the packet number
 * offset (RFC 9001 5.4.2): a shorter packet cannot be an Initial. */
#define VR_QUIC_MIN_PROTECTED (4 + VR_QUIC_SAMPLE_LEN)

/* Not an answer yet: go on with the next packet or datagram. */
#define VR_QUIC_GO (-1)

/* The largest UDP payload; also keeps every offset within an int for the
 * libcrypto calls. */
#define VR_QUIC_DGRAM_MAX 65535

static const uint8_t vr_quic_salt_v1[20] = {
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
    0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
static const uint8_t vr_quic_salt_v2[20] = {
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
    0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};

/* A long-header packet as far as it is readable without keys. */
struct vr_quic_long {
    uint32_t version;
    int type;            /* VR_QUIC_INITIAL, ... */
    const uint8_t *dcid;
    size_t dcid_len;
    size_t pn_off;       /* packet number offset from the packet start */
    size_t end;          /* packet length, header included */
};

/* Everything one call needs; lives on the caller's stack. */
struct vr_quic_ctx {
    int have_keys;
    uint32_t version;
    uint8_t dcid[VR_QUIC_CID_MAX];
    size_t dcid_len;
    struct vr_quic_keys keys;
    int64_t largest_pn;
    EVP_CIPHER_CTX *ecb;
    EVP_CIPHER_CTX *gcm;
    size_t contig; /* CRYPTO bytes present from offset 0 */
    uint8_t have[VR_QUIC_CRYPTO_MAX / 8];
    uint8_t crypto[VR_QUIC_CRYPTO_MAX];
    uint8_t plain[VR_QUIC_PAYLOAD_MAX];
};

/* ---- keys --------------------------------------------------------------- */

/* HKDF-Expand-Label (RFC 8446 7.1) with an empty context, for outputs of at
 * most one SHA-256 block: T(1) = HMAC(secret, info || 0x01). */
static int vr_quic_expand_label(const uint8_t secret[32], const char *label, uint8_t *out,
                                size_t out_len)
{
    uint8_t info[2 + 1 + 255 + 1 + 1], md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    size_t label_len = strlen(label), n = 0;
    if (out_len > 32 || 6 + label_len > 255)
        return -EINVAL;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + label_len);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, label_len);
    n += label_len;
    info[n++] = 0; /* context length */
    info[n++] = 1; /* block counter */
    if (HMAC(EVP_sha256(), secret, 32, info, n, md, &md_len) == NULL || md_len != 32)
        return -EIO;
    memcpy(out, md, out_len);
    return 0;
}

int vr_quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
                         struct vr_quic_keys *keys)
{
    const uint8_t *salt;
    const char *lkey, *liv, *lhp;
    uint8_t initial[EVP_MAX_MD_SIZE], client[32];
    unsigned int initial_len = 0;
    static const uint8_t empty[1];

    if (version == VR_QUIC_V1) {
        salt = vr_quic_salt_v1;
        lkey = "quic key";
        liv = "quic iv";
        lhp = "quic hp";
    } else if (version == VR_QUIC_V2) {
        salt = vr_quic_salt_v2;
        lkey = "quicv2 key";
        liv = "quicv2 iv";
        lhp = "quicv2 hp";
    } else {
        return -EINVAL;
    }
    if (dcid_len > VR_QUIC_CID_MAX)
        return -EINVAL;
    /* HKDF-Extract(salt, dcid) = HMAC(salt, dcid) */
    if (HMAC(EVP_sha256(), salt, sizeof(vr_quic_salt_v1), dcid_len ? dcid : empty, dcid_len,
             initial, &initial_len) == NULL ||
        initial_len != 32)
        return -EIO;
    int r = vr_quic_expand_label(initial, "client in", client, sizeof(client));
    if (r == 0)
        r = vr_quic_expand_label(client, lkey, keys->key, sizeof(keys->key));
    if (r == 0)
        r = vr_quic_expand_label(client, liv, keys->iv, sizeof(keys->iv));
    if (r == 0)
        r = vr_quic_expand_label(client, lhp, keys->hp, sizeof(keys->hp));
    return r;
}

/* ---- wire reading ------------------------------------------------------- */

/* A variable-length integer (RFC 9000 16) at p[*pos..len). */
static int vr_quic_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    if (*pos >= len)
        return -1;
    size_t n = (size_t)1 << (p[*pos] >> 6);
    if (len - *pos < n)
        return -1;
    uint64_t x = p[*pos] & 0x3f;
    for (size_t i = 1; i < n; i++)
        x = (x << 8) | p[*pos + i];
    *pos += n;
    *v = x;
    return 0;
}

/* Reads the long header at p[0..len). Returns 0, or -1 when it is not a
 * long header of QUIC v1/v2 whose lengths fit in len (Retry included: a
 * client does not send one). */
static int vr_quic_read_long(const uint8_t *p, size_t len, struct vr_quic_long *h)
{
    size_t pos = 0;
    uint64_t v;
    if (len < 7 || (p[0] & 0x80) == 0)
        return -1;
    h->version = ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4];
    if (h->version != VR_QUIC_V1 && h->version != VR_QUIC_V2)
        return -1; /* version negotiation (0), other versions */
    int bits = (p[0] >> 4) & 3;
    /* v2 rotates the types by one: Initial is 0b01 (RFC 9369 3.2). */
    h->type = h->version == VR_QUIC_V1 ? bits : (bits + 3) & 3;
    if (h->type == VR_QUIC_RETRY)
        return -1;
    pos = 5;
    h->dcid_len = p[pos++];
    if (h->dcid_len > VR_QUIC_CID_MAX || len - pos < h->dcid_len + 1)
        return -1;
    h->dcid = p + pos;
    pos += h->dcid_len;
    size_t scid_len = p[pos++];
    if (scid_len > VR_QUIC_CID_MAX || len - pos < scid_len)
        return -1;
    pos += scid_len;
    if (h->type == VR_QUIC_INITIAL) {
        if (vr_quic_varint(p, len, &pos, &v) < 0 || v > len - pos)
            return -1; /* token */
        pos += (size_t)v;
    }
    if (vr_quic_varint(p, len, &pos, &v) < 0 || v > len - pos)
        return -1; /* Length: packet number and payload */
    h->pn_off = pos;
    h->end = pos + (size_t)v;
    return 0;
}

/* ---- packet protection -------------------------------------------------- */

static int vr_quic_setup(struct vr_quic_ctx *c, const struct vr_quic_long *h)
{
    if (vr_quic_initial_keys(h->version, h->dcid, h->dcid_len, &c->keys) < 0)
        return -EIO;
    c->version = h->version;
    memcpy(c->dcid, h->dcid, h->dcid_len);
    c->dcid_len = h->dcid_len;
    c->ecb = EVP_CIPHER_CTX_new();
    c->gcm = EVP_CIPHER_CTX_new();
    if (c->ecb == NULL || c->gcm == NULL ||
        EVP_EncryptInit_ex(c->ecb, EVP_aes_128_ecb(), NULL, c->keys.hp, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(c->ecb, 0) != 1 ||
        EVP_DecryptInit_ex(c->gcm, EVP_aes_128_gcm(), NULL, NULL, NULL) != 1)
        return -EIO;
    c->have_keys = 1;
    return 0;
}

/* The full packet number from its truncated encoding (RFC 9000 A.3). */
static int64_t vr_quic_pn_decode(int64_t largest, uint64_t truncated, size_t pn_len)
{
    int64_t expected = largest + 1;
    int64_t win = (int64_t)1 << (pn_len * 8), hwin = win / 2, mask = win - 1;
    int64_t candidate = (expected & ~mask) | (int64_t)truncated;
    if (candidate <= expected - hwin && candidate < ((int64_t)1 << 62) - win)
        return candidate + win;
    if (candidate > expected + hwin && candidate >= win)
        return candidate - win;
    return candidate;
}

/* Removes header protection and decrypts the Initial at p (RFC 9001 5.3,
 * 5.4) into c->plain. Returns the plaintext length or VR_SNIFF_INVALID. */
static int vr_quic_open(struct vr_quic_ctx *c, const uint8_t *p, const struct vr_quic_long *h,
                        size_t *plain_len)
{
    uint8_t mask[VR_QUIC_SAMPLE_LEN + 16], pn_bytes[4], nonce[12], tag[VR_QUIC_TAG_LEN];
    int outl = 0;
    if (EVP_EncryptUpdate(c->ecb, mask, &outl, p + h->pn_off + 4, VR_QUIC_SAMPLE_LEN) != 1 ||
        outl != VR_QUIC_SAMPLE_LEN)
        return VR_SNIFF_INVALID;
    uint8_t first = p[0] ^ (mask[0] & 0x0f);
    size_t pn_len = (size_t)(first & 3) + 1;
    if (h->end - h->pn_off < pn_len + VR_QUIC_TAG_LEN + 1)
        return VR_SNIFF_INVALID; /* no room for a frame */
    uint64_t truncated = 0;
    for (size_t i = 0; i < pn_len; i++) {
        pn_bytes[i] = p[h->pn_off + i] ^ mask[1 + i];
        truncated = (truncated << 8) | pn_bytes[i];
    }
    int64_t pn = vr_quic_pn_decode(c->largest_pn, truncated, pn_len);

    memcpy(nonce, c->keys.iv, sizeof(nonce));
    for (size_t i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)((uint64_t)pn >> (8 * i));
    const uint8_t *ct = p + h->pn_off + pn_len;
    size_t ct_len = h->end - h->pn_off - pn_len - VR_QUIC_TAG_LEN;
    if (ct_len > sizeof(c->plain))
        return VR_SNIFF_INVALID;
    memcpy(tag, ct + ct_len, sizeof(tag));

    /* The associated data is the unprotected header, fed in three parts so
     * that the (possibly long) token is not copied. */
    int ok = EVP_DecryptInit_ex(c->gcm, NULL, NULL, c->keys.key, nonce) == 1 &&
             EVP_DecryptUpdate(c->gcm, NULL, &outl, &first, 1) == 1 &&
             EVP_DecryptUpdate(c->gcm, NULL, &outl, p + 1, (int)h->pn_off - 1) == 1 &&
             EVP_DecryptUpdate(c->gcm, NULL, &outl, pn_bytes, (int)pn_len) == 1 &&
             EVP_DecryptUpdate(c->gcm, c->plain, &outl, ct, (int)ct_len) == 1 &&
             (size_t)outl == ct_len &&
             EVP_CIPHER_CTX_ctrl(c->gcm, EVP_CTRL_GCM_SET_TAG, sizeof(tag), tag) == 1 &&
             EVP_DecryptFinal_ex(c->gcm, c->plain + ct_len, &outl) == 1;
    if (!ok)
        return VR_SNIFF_INVALID;
    if ((first & 0x0c) != 0)
        return VR_SNIFF_INVALID; /* reserved bits (RFC 9000 17.2) */
    if (pn > c->largest_pn)
        c->largest_pn = pn;
    *plain_len = ct_len;
    return 0;
}

/* ---- frames ------------------------------------------------------------- */

/* Stores CRYPTO data at stream offset off; bytes already present win, so
 * overlapping retransmissions do not rewrite what was read. */
static void vr_quic_crypto_add(struct vr_quic_ctx *c, size_t off, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t at = off + i;
        uint8_t bit = (uint8_t)(1u << (at & 7));
        if ((c->have[at >> 3] & bit) == 0) {
            c->have[at >> 3] |= bit;
            c->crypto[at] = d[i];
        }
    }
    while (c->contig < VR_QUIC_CRYPTO_MAX && (c->have[c->contig >> 3] & (1u << (c->contig & 7))))
        c->contig++;
}

/* Walks the frames of one decrypted Initial. Returns VR_QUIC_GO or
 * VR_SNIFF_INVALID. */
static int vr_quic_frames(struct vr_quic_ctx *c, const uint8_t *p, size_t len)
{
    size_t pos = 0;
    uint64_t type, a, b, count;
    while (pos < len) {
        if (vr_quic_varint(p, len, &pos, &type) < 0)
            return VR_SNIFF_INVALID;
        switch (type) {
        case VR_QUIC_FRAME_PADDING:
        case VR_QUIC_FRAME_PING:
            break;
        case VR_QUIC_FRAME_ACK:
        case VR_QUIC_FRAME_ACK_ECN:
            /* largest acknowledged, delay, range count, first range */
            if (vr_quic_varint(p, len, &pos, &a) < 0 || vr_quic_varint(p, len, &pos, &a) < 0 ||
                vr_quic_varint(p, len, &pos, &count) < 0 || vr_quic_varint(p, len, &pos, &a) < 0)
                return VR_SNIFF_INVALID;
            /* Each range takes at least two bytes: the count is bounded by
             * the packet, not trusted. */
            for (uint64_t i = 0; i < count; i++)
                if (vr_quic_varint(p, len, &pos, &a) < 0 || vr_quic_varint(p, len, &pos, &b) < 0)
                    return VR_SNIFF_INVALID;
            if (type == VR_QUIC_FRAME_ACK_ECN)
                for (int i = 0; i < 3; i++)
                    if (vr_quic_varint(p, len, &pos, &a) < 0)
                        return VR_SNIFF_INVALID;
            break;
        case VR_QUIC_FRAME_CRYPTO:
            if (vr_quic_varint(p, len, &pos, &a) < 0 || vr_quic_varint(p, len, &pos, &b) < 0 ||
                b > len - pos)
                return VR_SNIFF_INVALID;
            if (a > VR_QUIC_CRYPTO_MAX || b > VR_QUIC_CRYPTO_MAX - a)
                return VR_SNIFF_INVALID; /* beyond any ClientHello we accept */
            vr_quic_crypto_add(c, (size_t)a, p + pos, (size_t)b);
            pos += (size_t)b;
            break;
        case VR_QUIC_FRAME_CLOSE:
            /* error code, frame type, reason phrase */
            if (vr_quic_varint(p, len, &pos, &a) < 0 || vr_quic_varint(p, len, &pos, &a) < 0 ||
                vr_quic_varint(p, len, &pos, &b) < 0 || b > len - pos)
                return VR_SNIFF_INVALID;
            pos += (size_t)b;
            break;
        default:
            return VR_SNIFF_INVALID; /* not allowed in an Initial */
        }
    }
    return VR_QUIC_GO;
}

/* ---- datagrams ---------------------------------------------------------- */

/* Walks the coalesced packets of one datagram. first says whether this is
 * the first datagram, whose first packet decides NOT_MINE. */
static int vr_quic_datagram(struct vr_quic_ctx *c, const uint8_t *d, size_t len, int first,
                            struct vr_quic_hello *out)
{
    size_t off = 0;
    if (first && (len == 0 || len > VR_QUIC_DGRAM_MAX))
        return VR_SNIFF_NOT_MINE;
    if (len > VR_QUIC_DGRAM_MAX)
        return VR_QUIC_GO; /* not a UDP payload */
    while (off < len) {
        const uint8_t *p = d + off;
        struct vr_quic_long h;
        if (vr_quic_read_long(p, len - off, &h) < 0)
            return first ? VR_SNIFF_NOT_MINE : VR_QUIC_GO; /* the rest is not ours */
        if (c->have_keys && (h.version != c->version || h.dcid_len != c->dcid_len ||
                             memcmp(h.dcid, c->dcid, c->dcid_len) != 0))
            return VR_QUIC_GO; /* another connection (RFC 9000 12.2) */
        if (h.type != VR_QUIC_INITIAL) {
            if (first)
                return VR_SNIFF_NOT_MINE; /* a client's flow starts with an Initial */
            off += h.end; /* 0-RTT, Handshake: skipped */
            continue;
        }
        if (h.end - h.pn_off < VR_QUIC_MIN_PROTECTED)
            return first ? VR_SNIFF_NOT_MINE : VR_SNIFF_INVALID;
        if (!c->have_keys && vr_quic_setup(c, &h) < 0)
            return VR_SNIFF_INVALID;
        size_t plain_len = 0;
        if (vr_quic_open(c, p, &h, &plain_len) != 0)
            return VR_SNIFF_INVALID;
        if (vr_quic_frames(c, c->plain, plain_len) != VR_QUIC_GO)
            return VR_SNIFF_INVALID;
        if (out->packets++ == 0)
            out->version = h.version;
        out->crypto_len = c->contig;
        int st = vr_tls_parse_handshake(c->crypto, c->contig, &out->tls);
        if (st == VR_SNIFF_NOT_MINE)
            return VR_SNIFF_INVALID; /* the CRYPTO stream is not a ClientHello */
        /* A ClientHello no QUIC server may accept (RFC 9001 4.2, 8.1, 8.2):
         * no TLS 1.3, no ALPN or no transport parameters. */
        if (st == VR_SNIFF_FOUND &&
            (!out->tls.offers_tls13 || !out->tls.has_alpn || !out->tls.has_quic_tp))
            return VR_SNIFF_INVALID;
        if (st != VR_SNIFF_MORE)
            return st;
        first = 0;
        off += h.end;
    }
    return VR_QUIC_GO;
}

int vr_quic_parse_initials(const struct iovec *dgrams, size_t n, struct vr_quic_hello *out)
{
    struct vr_quic_ctx c;
    int st = VR_QUIC_GO;

    memset(out, 0, sizeof(*out));
    c.have_keys = 0;
    c.largest_pn = -1;
    c.ecb = NULL;
    c.gcm = NULL;
    c.contig = 0;
    memset(c.have, 0, sizeof(c.have));
    for (size_t i = 0; i < n && st == VR_QUIC_GO; i++)
        st = vr_quic_datagram(&c, dgrams[i].iov_base, dgrams[i].iov_len, i == 0, out);
    EVP_CIPHER_CTX_free(c.ecb);
    EVP_CIPHER_CTX_free(c.gcm);
    if (st == VR_QUIC_GO)
        return VR_SNIFF_MORE;
    if (st != VR_SNIFF_FOUND)
        memset(&out->tls, 0, sizeof(out->tls));
    return st;
}
