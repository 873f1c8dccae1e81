#include "test_quic_seal.h"

#include <string.h>

#include <openssl/evp.h>

#include "vr_quic_parse.h"

size_t tq_varint(uint8_t *out, uint64_t v)
{
    if (v < 64) {
        out[0] = (uint8_t)v;
        return 1;
    }
    if (v < 16384) {
        out[0] = (uint8_t)(0x40 | (v >> 8));
        out[1] = (uint8_t)v;
        return 2;
    }
    out[0] = (uint8_t)(0x80 | (v >> 24));
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
    return 4;
}

size_t tq_crypto_frame(uint8_t *out, uint64_t off, const uint8_t *d, size_t n)
{
    size_t k = 0;
    out[k++] = 0x06;
    k += tq_varint(out + k, off);
    k += tq_varint(out + k, n);
    memcpy(out + k, d, n);
    return k + n;
}

size_t tq_seal_header(uint32_t version, const uint8_t *dcid, size_t dcid_len,
                      const uint8_t *hdr, size_t hdr_len, uint64_t pn,
                      const uint8_t *payload, size_t n, uint8_t *out)
{
    struct vr_quic_keys k;
    uint8_t nonce[12], mask[32];
    size_t pn_len = (size_t)(hdr[0] & 3) + 1, pn_off = hdr_len - pn_len;
    int outl = 0, ok = 0;
    if (vr_quic_initial_keys(version, dcid, dcid_len, &k) != 0)
        return 0;
    memcpy(out, hdr, hdr_len);
    memcpy(nonce, k.iv, sizeof(nonce));
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));

    EVP_CIPHER_CTX *gcm = EVP_CIPHER_CTX_new(), *ecb = EVP_CIPHER_CTX_new();
    if (gcm != NULL && ecb != NULL &&
        EVP_EncryptInit_ex(gcm, EVP_aes_128_gcm(), NULL, k.key, nonce) == 1 &&
        EVP_EncryptUpdate(gcm, NULL, &outl, out, (int)hdr_len) == 1 &&
        EVP_EncryptUpdate(gcm, out + hdr_len, &outl, payload, (int)n) == 1 &&
        EVP_EncryptFinal_ex(gcm, out + hdr_len + n, &outl) == 1 &&
        EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_GET_TAG, 16, out + hdr_len + n) == 1 &&
        EVP_EncryptInit_ex(ecb, EVP_aes_128_ecb(), NULL, k.hp, NULL) == 1 &&
        EVP_CIPHER_CTX_set_padding(ecb, 0) == 1 &&
        EVP_EncryptUpdate(ecb, mask, &outl, out + pn_off + 4, 16) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(gcm);
    EVP_CIPHER_CTX_free(ecb);
    if (!ok)
        return 0;
    out[0] ^= mask[0] & 0x0f;
    for (size_t i = 0; i < pn_len; i++)
        out[pn_off + i] ^= mask[1 + i];
    return hdr_len + n + 16;
}

size_t tq_seal(const struct tq_conn *c, int type, uint64_t pn, size_t pn_len,
               const uint8_t *payload, size_t n, uint8_t *out)
{
    uint8_t hdr[80];
    size_t h = 0;
    /* v2 numbers the long-header types one up (RFC 9369 3.2). */
    unsigned bits = c->version == VR_QUIC_V2 ? (unsigned)(type + 1) & 3 : (unsigned)type;
    hdr[h++] = (uint8_t)(0xc0 | (bits << 4) | (pn_len - 1));
    hdr[h++] = (uint8_t)(c->version >> 24);
    hdr[h++] = (uint8_t)(c->version >> 16);
    hdr[h++] = (uint8_t)(c->version >> 8);
    hdr[h++] = (uint8_t)c->version;
    hdr[h++] = (uint8_t)c->dcid_len;
    memcpy(hdr + h, c->dcid, c->dcid_len);
    h += c->dcid_len;
    hdr[h++] = (uint8_t)c->scid_len;
    memcpy(hdr + h, c->scid, c->scid_len);
    h += c->scid_len;
    if (type == TQ_INITIAL)
        hdr[h++] = 0; /* no token */
    size_t len = pn_len + n + 16;
    hdr[h++] = (uint8_t)(0x40 | (len >> 8)); /* always the 2-byte form */
    hdr[h++] = (uint8_t)len;
    for (size_t i = 0; i < pn_len; i++)
        hdr[h++] = (uint8_t)(pn >> (8 * (pn_len - 1 - i)));
    return tq_seal_header(c->version, c->dcid, c->dcid_len, hdr, h, pn, payload, n, out);
}
