/*
 * unit.sniff_quic: the QUIC Initial parser on the RFC 9001 / RFC 9369
 * vectors, on Initials built here by a test-side encryptor around real
 * ClientHellos (split, reordered, coalesced, mixed with other packets and
 * other connections, damaged), on live Initials of the real QUIC client
 * gtlsclient (package ngtcp2-client, required) sent to sockets this test
 * binds on 127.0.0.1 and ::1, on the committed corpus, and the built
 * quic.so through its ops table.
 *
 * usage: test_sniff_quic --module quic.so --corpus DIR [--save DIR]
 *   --save DIR  also write the live captures and the synthetic cases there
 *               as corpus files (vr_quic_corpus.h format)
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vrouter/vr_plugin.h>

#include "test_quic_client.h"
#include "test_quic_seal.h"
#include "vr_quic_corpus.h"
#include "vr_quic_parse.h"
#include "vr_sniff_name.h"
#include "vr_test.h"
#include "vr_test_corpus.h"

#define DG_MAX 8
#define PKT_MAX 4096

static const struct vr_sniffer_ops *quic_ops;
static const char *save_dir;

static const char *status_name(int st)
{
    switch (st) {
    case VR_SNIFF_MORE: return "more";
    case VR_SNIFF_NOT_MINE: return "not_mine";
    case VR_SNIFF_FOUND: return "found";
    case VR_SNIFF_INVALID: return "invalid";
    default: return "?";
    }
}

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (const char *p = hex; p[0] != '\0' && p[1] != '\0'; p += 2) {
        unsigned v;
        sscanf(p, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* ---- parsing helpers ---------------------------------------------------- */

/* Parses exact-size heap copies of the datagrams, so ASan sees overreads. */
static int parse(const struct iovec *dg, size_t n, struct vr_quic_hello *h)
{
    struct iovec copy[DG_MAX] = {{0}};
    for (size_t i = 0; i < n; i++) {
        size_t len = dg[i].iov_len;
        copy[i].iov_base = malloc(len ? len : 1);
        copy[i].iov_len = len;
        memcpy(copy[i].iov_base, dg[i].iov_base, len);
    }
    int st = vr_quic_parse_initials(copy, n, h);
    for (size_t i = 0; i < n; i++)
        free(copy[i].iov_base);
    return st;
}

/* Through the module, as the host calls it. */
static int module_parse(const struct iovec *dg, size_t n, struct vr_sniff_out *out)
{
    memset(out, 0, sizeof(*out));
    out->size = sizeof(*out);
    return quic_ops->sniff_datagrams(NULL, dg, n, out);
}

/* Prefix property: fewer datagrams answer MORE or the same as all of them,
 * with the same name; the module agrees with the parser. Returns 0 when it
 * held. */
static int check_prefixes(const char *what, const struct iovec *dg, size_t n)
{
    struct vr_quic_hello whole, h;
    struct vr_sniff_out out;
    int wst = parse(dg, n, &whole), bad = 0;
    for (size_t k = 0; k <= n; k++) {
        int st = parse(dg, k, &h);
        if ((st != VR_SNIFF_MORE && st != wst) ||
            (st == VR_SNIFF_FOUND &&
             (strcmp(h.tls.sni, whole.tls.sni) != 0 || strcmp(h.tls.alpn, whole.tls.alpn) != 0))) {
            fprintf(stderr, "%s: %zu of %zu datagrams answer %s, all of them %s\n", what, k, n,
                    status_name(st), status_name(wst));
            bad = 1;
        }
        int mst = module_parse(dg, k, &out);
        if (mst != st || (st == VR_SNIFF_FOUND && (strcmp(out.domain, h.tls.sni) != 0 ||
                                                   strcmp(out.protocol, "quic") != 0 ||
                                                   strcmp(out.alpn, h.tls.alpn) != 0))) {
            fprintf(stderr, "%s: module answers %s, parser %s\n", what, status_name(mst),
                    status_name(st));
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

/* Parses, checks the answer (and name/ALPN on FOUND) and the prefix
 * property. */
static void expect(const char *what, const struct iovec *dg, size_t n, int want,
                   const char *sni, const char *alpn)
{
    struct vr_quic_hello h;
    int st = parse(dg, n, &h);
    int ok = st == want;
    if (ok && want == VR_SNIFF_FOUND)
        ok = sni != NULL && strcmp(h.tls.sni, sni) == 0 && (alpn == NULL || strcmp(h.tls.alpn, alpn) == 0);
    if (!ok)
        fprintf(stderr, "%s: %s sni '%s' alpn '%s' (want %s '%s' '%s')\n", what,
                status_name(st), h.tls.sni, h.tls.alpn, status_name(want), sni ? sni : "",
                alpn ? alpn : "");
    CHECK(ok);
    CHECK(check_prefixes(what, dg, n) == 0);
}

/* ---- corpus files ------------------------------------------------------- */

/* Writes dg[0..n) as <save_dir>/<name>.bin (vr_quic_corpus.h format) with
 * its .expect, and checks that the file splits back into the same
 * datagrams. */
static void save_case(const char *name, const struct iovec *dg, size_t n, int st,
                      const char *sni, const char *alpn)
{
    if (save_dir == NULL || n == 0 || n > VR_QUIC_CORPUS_DGRAMS_MAX)
        return;
    static uint8_t file[4 * TQC_DGRAM_MAX];
    size_t len = 1 + 2 * (n - 1);
    file[0] = (uint8_t)(n - 1);
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n) {
            file[1 + 2 * i] = (uint8_t)(dg[i].iov_len >> 8);
            file[2 + 2 * i] = (uint8_t)dg[i].iov_len;
        }
        memcpy(file + len, dg[i].iov_base, dg[i].iov_len);
        len += dg[i].iov_len;
    }
    struct iovec back[VR_QUIC_CORPUS_DGRAMS_MAX] = {{0}};
    CHECK(vr_quic_corpus_split(file, len, back) == n);
    for (size_t i = 0; i < n; i++)
        CHECK(back[i].iov_len == dg[i].iov_len &&
              memcmp(back[i].iov_base, dg[i].iov_base, dg[i].iov_len) == 0);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.bin", save_dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    CHECK(fwrite(file, 1, len, f) == len);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.expect", save_dir, name);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fprintf(f, "status=%s\ndomain=%s\nalpn=%s\n", status_name(st), sni ? sni : "",
            alpn ? alpn : "");
    fclose(f);
}

/* One <name>.bin of a corpus, split as the fuzzer splits it: the answer
 * and name of <name>.expect (status=, domain=, alpn=), the prefix
 * property. */
static int check_corpus_file(const char *path, const char *exp, const char *name, void *arg)
{
    char status[32], domain[300], alpn[100];
    size_t len;
    (void)name;
    (void)arg;
    CHECK(vr_test_read_expect(exp, "status", status, sizeof(status)) == 0);
    vr_test_read_expect(exp, "domain", domain, sizeof(domain));
    vr_test_read_expect(exp, "alpn", alpn, sizeof(alpn));
    uint8_t *buf = vr_test_read_file(path, 4 * TQC_DGRAM_MAX, &len);
    CHECK(buf != NULL);
    if (buf == NULL)
        return -1;
    struct iovec dg[VR_QUIC_CORPUS_DGRAMS_MAX];
    size_t n = vr_quic_corpus_split(buf, len, dg);
    int want = -1;
    for (int s = VR_SNIFF_MORE; s <= VR_SNIFF_INVALID; s++)
        if (strcmp(status, status_name(s)) == 0)
            want = s;
    CHECK(want >= 0);
    expect(path, dg, n, want, domain, alpn);
    free(buf);
    return 0;
}

/* Every <name>.bin of dir; returns how many. */
static int check_corpus(const char *dir)
{
    return vr_test_corpus_each(dir, check_corpus_file, NULL);
}

/* ---- RFC vectors -------------------------------------------------------- */

static const uint8_t rfc_dcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};

/* RFC 9001 A.2 (and RFC 9369 A.2, the same payload): the CRYPTO frame
 * holding the ClientHello; PADDING follows up to 1162 bytes. */
static const char rfc_crypto_hex[] =
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
    "75300901100f088394c8f03e51570806048000ffff";
#define RFC_PAYLOAD_LEN 1162

static const char rfc9001_header_hex[] = "c300000001088394c8f03e5157080000449e00000002";
static const char rfc9369_header_hex[] = "d36b3343cf088394c8f03e5157080000449e00000002";

/* RFC 9001 A.2: the protected client Initial. */
static const char rfc9001_packet_hex[] =
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
    "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
    "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
    "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
    "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
    "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
    "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
    "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
    "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
    "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
    "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
    "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
    "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
    "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
    "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
    "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
    "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
    "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
    "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
    "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
    "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
    "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
    "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
    "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
    "e221af44860018ab0856972e194cd934";

/* RFC 9369 A.2: the protected QUIC v2 client Initial. */
static const char rfc9369_packet_hex[] =
    "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485"
    "dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04"
    "9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d"
    "250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a"
    "12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500"
    "cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68"
    "18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33"
    "12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3"
    "d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd"
    "6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520"
    "bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045"
    "636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f"
    "ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12"
    "16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5"
    "4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4"
    "fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b"
    "8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7"
    "14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9"
    "9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91"
    "abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd"
    "80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db"
    "848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18"
    "d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15"
    "c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc"
    "7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61"
    "f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710"
    "10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b"
    "3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e"
    "06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce"
    "8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1"
    "34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1"
    "e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd"
    "5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3"
    "8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89"
    "d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53"
    "6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19"
    "9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b"
    "a18b2faa745b6fe189cf772a9f84cbfc";

/* The ClientHello of the RFC packets (the CRYPTO frame's data). */
static uint8_t rfc_hello[256];
static size_t rfc_hello_len;

static void check_keys(uint32_t version, const char *key, const char *iv, const char *hp)
{
    struct vr_quic_keys k;
    uint8_t want[16];
    CHECK(vr_quic_initial_keys(version, rfc_dcid, sizeof(rfc_dcid), &k) == 0);
    CHECK(unhex(key, want) == 16 && memcmp(k.key, want, 16) == 0);
    CHECK(unhex(iv, want) == 12 && memcmp(k.iv, want, 12) == 0);
    CHECK(unhex(hp, want) == 16 && memcmp(k.hp, want, 16) == 0);
}

static void check_rfc_packet(const char *name, uint32_t version, const char *hdr_hex,
                             const char *pkt_hex)
{
    static uint8_t pkt[1300], mine[1300], hdr[64], payload[RFC_PAYLOAD_LEN];
    size_t n = unhex(pkt_hex, pkt), hn = unhex(hdr_hex, hdr);
    CHECK(n == 1200);
    memset(payload, 0, sizeof(payload));
    unhex(rfc_crypto_hex, payload);
    /* The test's encryptor reproduces the RFC's packet byte for byte. */
    CHECK(tq_seal_header(version, rfc_dcid, sizeof(rfc_dcid), hdr, hn, 2, payload,
                         sizeof(payload), mine) == n);
    CHECK(memcmp(mine, pkt, n) == 0);

    struct iovec dg = {.iov_base = pkt, .iov_len = n};
    struct vr_quic_hello h;
    CHECK(parse(&dg, 1, &h) == VR_SNIFF_FOUND);
    CHECK(strcmp(h.tls.sni, "example.com") == 0 && strcmp(h.tls.alpn, "alpn") == 0);
    CHECK(h.version == version && h.packets == 1 && h.crypto_len == 241);
    struct vr_sniff_out out;
    CHECK(module_parse(&dg, 1, &out) == VR_SNIFF_FOUND);
    CHECK(strcmp(out.domain, "example.com") == 0 && strcmp(out.protocol, "quic") == 0 &&
          strcmp(out.alpn, "alpn") == 0);
    save_case(name, &dg, 1, VR_SNIFF_FOUND, "example.com", "alpn");

    /* Any flipped bit of the protected payload or tag breaks it. */
    int invalid = 0;
    for (size_t i = 22; i < n; i += 37) {
        pkt[i] ^= 0x10;
        invalid += parse(&dg, 1, &h) == VR_SNIFF_INVALID;
        pkt[i] ^= 0x10;
    }
    CHECK(invalid == (int)((n - 22 + 36) / 37));
    pkt[n - 1] ^= 1; /* the tag */
    expect("rfc tampered tag", &dg, 1, VR_SNIFF_INVALID, NULL, NULL);
    pkt[n - 1] ^= 1;
    /* A changed DCID derives other keys: the tag fails. */
    pkt[6] ^= 1;
    CHECK(parse(&dg, 1, &h) == VR_SNIFF_INVALID);
    pkt[6] ^= 1;
    /* Cut short: the Length no longer fits, so it is not a QUIC Initial. */
    dg.iov_len = 1199;
    CHECK(parse(&dg, 1, &h) == VR_SNIFF_NOT_MINE);
}

static void test_rfc_vectors(void)
{
    /* RFC 9001 A.1 and RFC 9369 A.1: client keys for DCID 8394c8f03e515708. */
    check_keys(VR_QUIC_V1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c",
               "9f50449e04a0e810283a1e9933adedd2");
    check_keys(VR_QUIC_V2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f",
               "45b95e15235d6f45a6b19cbcb0294ba9");
    struct vr_quic_keys k;
    CHECK(vr_quic_initial_keys(0xff00001d, rfc_dcid, 8, &k) == -22);
    uint8_t long_cid[21] = {0};
    CHECK(vr_quic_initial_keys(VR_QUIC_V1, long_cid, 21, &k) == -22);
    CHECK(vr_quic_initial_keys(VR_QUIC_V1, long_cid, 0, &k) == 0);

    uint8_t frame[300];
    size_t fn = unhex(rfc_crypto_hex, frame);
    CHECK(fn == 245);
    rfc_hello_len = fn - 4;
    memcpy(rfc_hello, frame + 4, rfc_hello_len);
    CHECK(rfc_hello[0] == 1 && rfc_hello_len == 241);

    check_rfc_packet("rfc9001_client_initial", VR_QUIC_V1, rfc9001_header_hex, rfc9001_packet_hex);
    check_rfc_packet("rfc9369_v2_client_initial", VR_QUIC_V2, rfc9369_header_hex,
                     rfc9369_packet_hex);
}

/* ---- a ClientHello builder and Initials around it ------------------------ */

struct wbuf {
    uint8_t *b;
    size_t n;
};

static void put8(struct wbuf *w, unsigned v) { w->b[w->n++] = (uint8_t)v; }
static void put16(struct wbuf *w, unsigned v) { put8(w, v >> 8); put8(w, v); }
static void putn(struct wbuf *w, const void *p, size_t n) { memcpy(w->b + w->n, p, n); w->n += n; }

struct hello_spec {
    const char *sni;  /* NULL: none */
    const char *alpn; /* one protocol; NULL: no ALPN extension */
    int no_tp;        /* no quic_transport_parameters */
    int tls12;        /* supported_versions without TLS 1.3 */
    size_t pad;       /* an extra extension of this size (a big key share) */
};

/* A TLS 1.3 ClientHello handshake message as a QUIC client sends it. */
static size_t build_hello(uint8_t *out, const struct hello_spec *s)
{
    struct wbuf w = {out, 0};
    put8(&w, 1);
    put8(&w, 0);
    put16(&w, 0); /* length, patched */
    put16(&w, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(&w, (unsigned)(i * 7 + 1));
    put8(&w, 0); /* no legacy session id (RFC 9001 8.4) */
    put16(&w, 6);
    put16(&w, 0x1301);
    put16(&w, 0x1302);
    put16(&w, 0x1303);
    put8(&w, 1);
    put8(&w, 0);
    size_t ext_at = w.n;
    put16(&w, 0);
    if (s->sni != NULL) {
        size_t l = strlen(s->sni);
        put16(&w, 0x0000);
        put16(&w, (unsigned)(l + 5));
        put16(&w, (unsigned)(l + 3));
        put8(&w, 0);
        put16(&w, (unsigned)l);
        putn(&w, s->sni, l);
    }
    if (s->alpn != NULL) {
        size_t l = strlen(s->alpn);
        put16(&w, 0x0010);
        put16(&w, (unsigned)(l + 3));
        put16(&w, (unsigned)(l + 1));
        put8(&w, (unsigned)l);
        putn(&w, s->alpn, l);
    }
    put16(&w, 0x002b);
    put16(&w, 3);
    put8(&w, 2);
    put16(&w, s->tls12 ? 0x0303 : 0x0304);
    put16(&w, 0x0033); /* key_share: one x25519 share */
    put16(&w, 38);
    put16(&w, 36);
    put16(&w, 0x001d);
    put16(&w, 32);
    for (int i = 0; i < 32; i++)
        put8(&w, (unsigned)(0x90 + i));
    if (!s->no_tp) {
        static const uint8_t tp[] = {0x04, 0x04, 0x80, 0x10, 0x00, 0x00, 0x0f, 0x04,
                                     0x11, 0x22, 0x33, 0x44};
        put16(&w, 0x0039);
        put16(&w, sizeof(tp));
        putn(&w, tp, sizeof(tp));
    }
    if (s->pad > 0) {
        put16(&w, 0x11ec); /* X25519MLKEM768-sized filler in an unknown extension */
        put16(&w, (unsigned)s->pad);
        memset(w.b + w.n, 0x5c, s->pad);
        w.n += s->pad;
    }
    size_t ext_len = w.n - ext_at - 2, body = w.n - 4;
    out[ext_at] = (uint8_t)(ext_len >> 8);
    out[ext_at + 1] = (uint8_t)ext_len;
    out[1] = (uint8_t)(body >> 16);
    out[2] = (uint8_t)(body >> 8);
    out[3] = (uint8_t)body;
    return w.n;
}

/* Datagrams under construction. */
static uint8_t dbuf[DG_MAX][PKT_MAX];
static struct iovec dgs[DG_MAX];

static void dg_reset(void)
{
    for (size_t i = 0; i < DG_MAX; i++) {
        dgs[i].iov_base = dbuf[i];
        dgs[i].iov_len = 0;
    }
}

/* Appends a packet of type to datagram i: frames[0..n) padded with PADDING
 * frames to pad_to bytes of plaintext (0: no padding). */
static void dg_add(size_t i, const struct tq_conn *c, int type, uint64_t pn, const uint8_t *frames,
                   size_t n, size_t pad_to)
{
    static uint8_t plain[PKT_MAX];
    memcpy(plain, frames, n);
    if (pad_to > n) {
        memset(plain + n, 0, pad_to - n);
        n = pad_to;
    }
    size_t len = tq_seal(c, type, pn, 2, plain, n, dbuf[i] + dgs[i].iov_len);
    CHECK(len > 0);
    dgs[i].iov_len += len;
}

/* Appends raw bytes to datagram i. */
static void dg_raw(size_t i, const void *p, size_t n)
{
    memcpy(dbuf[i] + dgs[i].iov_len, p, n);
    dgs[i].iov_len += n;
}

static const struct tq_conn conn_a_v1 = {
    .version = VR_QUIC_V1,
    .dcid = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac},
    .dcid_len = 12,
    .scid = {0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58},
    .scid_len = 8,
};
static const struct tq_conn conn_a_v2 = {
    .version = VR_QUIC_V2,
    .dcid = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8},
    .dcid_len = 8,
    .scid_len = 0,
};
static const struct tq_conn conn_b_v1 = {
    .version = VR_QUIC_V1,
    .dcid = {0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8},
    .dcid_len = 8,
    .scid = {0x61, 0x62, 0x63, 0x64},
    .scid_len = 4,
};

static uint8_t fr[DG_MAX][PKT_MAX];

/* A Chromium-size hello split across two Initials in two datagrams, in
 * order and reversed, for one connection. */
static void test_split(const struct tq_conn *c, const char *tag)
{
    static uint8_t hello[4096];
    char what[128];
    struct hello_spec s = {.sni = "Split.Example.ORG.", .alpn = "h3", .pad = 1200};
    size_t hn = build_hello(hello, &s), cut = 1000;
    CHECK(hn > 1300);
    dg_reset();
    size_t f0 = tq_crypto_frame(fr[0], 0, hello, cut);
    size_t f1 = tq_crypto_frame(fr[1], cut, hello + cut, hn - cut);
    dg_add(0, c, TQ_INITIAL, 0, fr[0], f0, 1180);
    dg_add(1, c, TQ_INITIAL, 1, fr[1], f1, 1180);
    snprintf(what, sizeof(what), "%s split, first half", tag);
    expect(what, dgs, 1, VR_SNIFF_MORE, NULL, NULL);
    snprintf(what, sizeof(what), "%s split, both halves", tag);
    expect(what, dgs, 2, VR_SNIFF_FOUND, "split.example.org", "h3");
    struct vr_quic_hello h;
    CHECK(parse(dgs, 2, &h) == VR_SNIFF_FOUND && h.packets == 2 && h.crypto_len == hn &&
          h.version == c->version);
    snprintf(what, sizeof(what), "quic_%s_split", tag);
    save_case(what, dgs, 2, VR_SNIFF_FOUND, "split.example.org", "h3");

    /* The second half first (it overtook the first on the way). */
    struct iovec rev[2] = {dgs[1], dgs[0]};
    snprintf(what, sizeof(what), "%s split reversed, second half", tag);
    expect(what, rev, 1, VR_SNIFF_MORE, NULL, NULL);
    snprintf(what, sizeof(what), "%s split reversed", tag);
    expect(what, rev, 2, VR_SNIFF_FOUND, "split.example.org", "h3");
    snprintf(what, sizeof(what), "quic_%s_split_reversed", tag);
    save_case(what, rev, 2, VR_SNIFF_FOUND, "split.example.org", "h3");

    /* A retransmission of the first half (a new packet number) changes
     * nothing. */
    dg_add(2, c, TQ_INITIAL, 2, fr[0], f0, 1180);
    struct iovec again[3] = {dgs[0], dgs[2], dgs[1]};
    snprintf(what, sizeof(what), "%s split, first half twice", tag);
    expect(what, again, 3, VR_SNIFF_FOUND, "split.example.org", "h3");
    CHECK(parse(again, 2, &h) == VR_SNIFF_MORE);
}

/* CRYPTO frames out of order and overlapping, within one packet and across
 * packets; coalesced packets in one datagram. */
static void test_reassembly(void)
{
    static uint8_t hello[4096];
    struct hello_spec s = {.sni = "reasm.example", .alpn = "h3", .pad = 900};
    size_t hn = build_hello(hello, &s);
    const struct tq_conn *c = &conn_a_v1;

    /* One packet: [700, end), [0, 400), [300, 800). */
    dg_reset();
    size_t n = tq_crypto_frame(fr[0], 700, hello + 700, hn - 700);
    n += tq_crypto_frame(fr[0] + n, 0, hello, 400);
    n += tq_crypto_frame(fr[0] + n, 300, hello + 300, 500);
    dg_add(0, c, TQ_INITIAL, 0, fr[0], n, 1180);
    expect("out of order, overlapping, one packet", dgs, 1, VR_SNIFF_FOUND, "reasm.example", "h3");
    save_case("quic_out_of_order", dgs, 1, VR_SNIFF_FOUND, "reasm.example", "h3");

    /* Three datagrams; the middle of the hello comes last. Overlaps carry
     * the same bytes, as retransmissions do. */
    dg_reset();
    size_t a = tq_crypto_frame(fr[0], 0, hello, 500);
    size_t b = tq_crypto_frame(fr[1], 900, hello + 900, hn - 900);
    size_t m = tq_crypto_frame(fr[2], 450, hello + 450, 500);
    dg_add(0, c, TQ_INITIAL, 0, fr[0], a, 1180);
    dg_add(1, c, TQ_INITIAL, 1, fr[1], b, 1180);
    dg_add(2, c, TQ_INITIAL, 2, fr[2], m, 1180);
    expect("gap until the third datagram", dgs, 3, VR_SNIFF_FOUND, "reasm.example", "h3");
    struct vr_quic_hello h;
    CHECK(parse(dgs, 2, &h) == VR_SNIFF_MORE && h.crypto_len == 500);
    CHECK(parse(dgs, 1, &h) == VR_SNIFF_MORE);

    /* Coalesced: both halves in one datagram, then PADDING-only junk
     * after the packets (zeros outside any packet). */
    dg_reset();
    a = tq_crypto_frame(fr[0], 0, hello, 800);
    b = tq_crypto_frame(fr[1], 800, hello + 800, hn - 800);
    dg_add(0, c, TQ_INITIAL, 0, fr[0], a, 0);
    dg_add(0, c, TQ_INITIAL, 1, fr[1], b, 0);
    static const uint8_t zeros[64];
    dg_raw(0, zeros, sizeof(zeros));
    expect("coalesced Initials", dgs, 1, VR_SNIFF_FOUND, "reasm.example", "h3");
    CHECK(parse(dgs, 1, &h) == VR_SNIFF_FOUND && h.packets == 2);
    save_case("quic_coalesced", dgs, 1, VR_SNIFF_FOUND, "reasm.example", "h3");

    /* ACK, PING, CONNECTION_CLOSE (0x1c) and PADDING frames are allowed
     * in an Initial around the CRYPTO frame. */
    dg_reset();
    n = 0;
    fr[0][n++] = 0x01;                                 /* PING */
    fr[0][n++] = 0x02;                                 /* ACK largest 3, delay 0, */
    fr[0][n++] = 3; fr[0][n++] = 0; fr[0][n++] = 1;    /* one more range, first 0 */
    fr[0][n++] = 0; fr[0][n++] = 0; fr[0][n++] = 0;    /* gap 0, len 0 */
    fr[0][n++] = 0x03;                                 /* ACK_ECN */
    fr[0][n++] = 3; fr[0][n++] = 0; fr[0][n++] = 0; fr[0][n++] = 0;
    fr[0][n++] = 1; fr[0][n++] = 2; fr[0][n++] = 3;    /* ECN counts */
    n += tq_crypto_frame(fr[0] + n, 0, hello, hn);
    fr[0][n++] = 0x1c;                                 /* CONNECTION_CLOSE */
    fr[0][n++] = 0; fr[0][n++] = 0; fr[0][n++] = 2; fr[0][n++] = 'n'; fr[0][n++] = 'o';
    dg_add(0, c, TQ_INITIAL, 0, fr[0], n, 1180);
    expect("allowed frames", dgs, 1, VR_SNIFF_FOUND, "reasm.example", "h3");
}

/* 0-RTT and Handshake packets are skipped; another connection's Initial
 * is ignored. */
static void test_other_packets(void)
{
    static uint8_t hello[4096], other[4096];
    struct hello_spec s = {.sni = "mine.example", .alpn = "h3", .pad = 1200};
    struct hello_spec so = {.sni = "other.example", .alpn = "h3"};
    size_t hn = build_hello(hello, &s), on = build_hello(other, &so);
    const struct tq_conn *c = &conn_a_v1;
    static const uint8_t junk[200] = {0x08, 0x00, 0x41}; /* a STREAM frame: fine in 0-RTT */

    dg_reset();
    size_t a = tq_crypto_frame(fr[0], 0, hello, 900);
    size_t b = tq_crypto_frame(fr[1], 900, hello + 900, hn - 900);
    dg_add(0, c, TQ_INITIAL, 0, fr[0], a, 0);
    dg_add(0, c, TQ_0RTT, 0, junk, sizeof(junk), 0);
    dg_add(1, c, TQ_HANDSHAKE, 0, junk, sizeof(junk), 0);
    dg_add(1, c, TQ_INITIAL, 1, fr[1], b, 0);
    dg_add(1, c, TQ_0RTT, 1, junk, sizeof(junk), 0);
    expect("0-RTT and Handshake skipped, first datagram", dgs, 1, VR_SNIFF_MORE, NULL, NULL);
    expect("0-RTT and Handshake skipped", dgs, 2, VR_SNIFF_FOUND, "mine.example", "h3");
    save_case("quic_0rtt_handshake_skipped", dgs, 2, VR_SNIFF_FOUND, "mine.example", "h3");

    /* A datagram starting with 0-RTT: a client's flow starts with an
     * Initial. */
    struct iovec only = {.iov_base = dbuf[1], .iov_len = dgs[1].iov_len};
    expect("Handshake first", &only, 1, VR_SNIFF_NOT_MINE, NULL, NULL);

    /* Connection B's Initial (complete, another name) between A's halves;
     * then a datagram of B coalescing more. */
    dg_reset();
    dg_add(0, c, TQ_INITIAL, 0, fr[0], a, 1180);
    size_t o = tq_crypto_frame(fr[2], 0, other, on);
    dg_add(1, &conn_b_v1, TQ_INITIAL, 0, fr[2], o, 1180);
    dg_add(2, c, TQ_INITIAL, 1, fr[1], b, 1180);
    expect("another connection ignored", dgs, 3, VR_SNIFF_FOUND, "mine.example", "h3");
    struct vr_quic_hello h;
    CHECK(parse(dgs, 2, &h) == VR_SNIFF_MORE);
    save_case("quic_other_connection", dgs, 3, VR_SNIFF_FOUND, "mine.example", "h3");
    /* B first: B is the connection, A is ignored. */
    struct iovec bfirst[3] = {dgs[1], dgs[0], dgs[2]};
    expect("the first Initial picks the connection", bfirst, 3, VR_SNIFF_FOUND, "other.example",
           "h3");
    /* B's Initial with a broken tag is still only another connection's. */
    ((uint8_t *)dgs[1].iov_base)[dgs[1].iov_len - 1] ^= 0xff;
    expect("another connection, tampered", dgs, 3, VR_SNIFF_FOUND, "mine.example", "h3");
    /* The same connection ID in v2 is not the same connection either. */
    dg_reset();
    struct tq_conn v2 = conn_a_v1;
    v2.version = VR_QUIC_V2;
    dg_add(0, c, TQ_INITIAL, 0, fr[0], a, 1180);
    dg_add(1, &v2, TQ_INITIAL, 0, fr[1], b, 1180);
    expect("other version ignored", dgs, 2, VR_SNIFF_MORE, NULL, NULL);
    /* Short-header junk after the first datagram is not ours either. */
    dg_reset();
    dg_add(0, c, TQ_INITIAL, 0, fr[0], a, 1180);
    dg_raw(1, "\x41\x01\x02\x03 short header", 18);
    dg_add(2, c, TQ_INITIAL, 1, fr[1], b, 1180);
    expect("short header in between", dgs, 3, VR_SNIFF_FOUND, "mine.example", "h3");
}

/* INVALID: tampered tag, forbidden frames, CRYPTO beyond the limit, hellos
 * no QUIC server accepts. */
static void test_invalid(void)
{
    static uint8_t hello[4096];
    struct hello_spec s = {.sni = "bad.example", .alpn = "h3"};
    size_t hn = build_hello(hello, &s);
    const struct tq_conn *c = &conn_a_v2;
    struct vr_quic_hello h;

    /* A tampered second datagram of the connection. */
    dg_reset();
    size_t a = tq_crypto_frame(fr[0], 0, hello, 100);
    size_t b = tq_crypto_frame(fr[1], 100, hello + 100, hn - 100);
    dg_add(0, c, TQ_INITIAL, 0, fr[0], a, 1180);
    dg_add(1, c, TQ_INITIAL, 1, fr[1], b, 1180);
    CHECK(parse(dgs, 2, &h) == VR_SNIFF_FOUND);
    ((uint8_t *)dgs[1].iov_base)[dgs[1].iov_len - 3] ^= 0x40;
    expect("tampered tag, second datagram", dgs, 2, VR_SNIFF_INVALID, NULL, NULL);
    save_case("quic_tampered_tag", dgs, 2, VR_SNIFF_INVALID, NULL, NULL);
    ((uint8_t *)dgs[0].iov_base)[40] ^= 0x01;
    expect("tampered ciphertext, first datagram", dgs, 2, VR_SNIFF_INVALID, NULL, NULL);

    /* Frames not allowed in an Initial: STREAM, NEW_TOKEN, HANDSHAKE_DONE,
     * application CONNECTION_CLOSE, an unknown type; a truncated frame. */
    static const struct {
        size_t len;
        int truncated; /* runs to the end of the packet: no padding after */
        uint8_t b[8];
    } bad_frames[] = {
        {4, 0, {0x08, 0x00, 0x01, 'x'}},             /* STREAM */
        {3, 0, {0x07, 0x01, 0x00}},                  /* NEW_TOKEN */
        {1, 0, {0x1e}},                              /* HANDSHAKE_DONE */
        {3, 0, {0x1d, 0x00, 0x00}},                  /* application CONNECTION_CLOSE */
        {2, 0, {0x40, 0x21}},                        /* an unknown type, 2-byte varint */
        {4, 1, {0x06, 0x00, 0x10, 0x01}},            /* CRYPTO longer than the packet */
        {2, 1, {0x02, 0x05}},                        /* ACK cut short */
        {5, 1, {0x1c, 0x00, 0x00, 0x20, 'a'}},       /* CONNECTION_CLOSE reason cut short */
    };
    for (size_t i = 0; i < sizeof(bad_frames) / sizeof(bad_frames[0]); i++) {
        dg_reset();
        size_t n = tq_crypto_frame(fr[0], 0, hello, 50);
        memcpy(fr[0] + n, bad_frames[i].b, bad_frames[i].len);
        n += bad_frames[i].len;
        dg_add(0, c, TQ_INITIAL, 0, fr[0], n, bad_frames[i].truncated ? 0 : 1180);
        char what[64];
        snprintf(what, sizeof(what), "bad frame %zu", i);
        expect(what, dgs, 1, VR_SNIFF_INVALID, NULL, NULL);
        if (i == 0)
            save_case("quic_stream_frame_in_initial", dgs, 1, VR_SNIFF_INVALID, NULL, NULL);
    }

    /* CRYPTO beyond VR_QUIC_CRYPTO_MAX. */
    dg_reset();
    size_t n = tq_crypto_frame(fr[0], 0, hello, 100);
    n += tq_crypto_frame(fr[0] + n, VR_QUIC_CRYPTO_MAX - 4, hello, 5);
    dg_add(0, c, TQ_INITIAL, 0, fr[0], n, 1180);
    expect("CRYPTO beyond the limit", dgs, 1, VR_SNIFF_INVALID, NULL, NULL);
    save_case("quic_crypto_beyond_limit", dgs, 1, VR_SNIFF_INVALID, NULL, NULL);
    dg_reset();
    n = tq_crypto_frame(fr[0], 0, hello, 100);
    n += tq_crypto_frame(fr[0] + n, VR_QUIC_CRYPTO_MAX - 4, hello, 4); /* up to the limit */
    dg_add(0, c, TQ_INITIAL, 0, fr[0], n, 1180);
    expect("CRYPTO up to the limit", dgs, 1, VR_SNIFF_MORE, NULL, NULL);
    dg_reset();
    n = 0;
    fr[0][n++] = 0x06;
    n += tq_varint(fr[0] + n, (uint64_t)1 << 29);
    fr[0][n++] = 1;
    fr[0][n++] = 0;
    dg_add(0, c, TQ_INITIAL, 0, fr[0], n, 1180);
    expect("CRYPTO at a huge offset", dgs, 1, VR_SNIFF_INVALID, NULL, NULL);

    /* The CRYPTO stream is not a ClientHello; a hello too big. */
    dg_reset();
    static const uint8_t server_hello[] = {0x02, 0x00, 0x00, 0x10};
    n = tq_crypto_frame(fr[0], 0, server_hello, sizeof(server_hello));
    dg_add(0, c, TQ_INITIAL, 0, fr[0], n, 1180);
    expect("not a ClientHello", dgs, 1, VR_SNIFF_INVALID, NULL, NULL);
    dg_reset();
    static const uint8_t huge[] = {0x01, 0x01, 0x00, 0x00};
    n = tq_crypto_frame(fr[0], 0, huge, sizeof(huge));
    dg_add(0, c, TQ_INITIAL, 0, fr[0], n, 1180);
    expect("ClientHello over 16 KiB", dgs, 1, VR_SNIFF_INVALID, NULL, NULL);

    /* Hellos a QUIC server must refuse: no ALPN, no transport parameters,
     * no TLS 1.3. */
    struct hello_spec bad[] = {
        {.sni = "bad.example", .alpn = NULL},
        {.sni = "bad.example", .alpn = "h3", .no_tp = 1},
        {.sni = "bad.example", .alpn = "h3", .tls12 = 1},
    };
    for (size_t i = 0; i < 3; i++) {
        dg_reset();
        hn = build_hello(hello, &bad[i]);
        n = tq_crypto_frame(fr[0], 0, hello, hn);
        dg_add(0, c, TQ_INITIAL, 0, fr[0], n, 1180);
        expect("hello without ALPN / transport parameters / TLS 1.3", dgs, 1, VR_SNIFF_INVALID,
               NULL, NULL);
    }
    /* Without SNI (an IP literal server) or with an unprintable ALPN it is
     * still QUIC: FOUND, empty domain / empty alpn. */
    struct hello_spec ok[] = {
        {.sni = NULL, .alpn = "h3"},
        {.sni = "192.0.2.1", .alpn = "h3"},
        {.sni = "noalpn.example", .alpn = "\x0a\x0a"},
    };
    const char *want_sni[] = {"", "", "noalpn.example"}, *want_alpn[] = {"h3", "h3", ""};
    for (size_t i = 0; i < 3; i++) {
        dg_reset();
        hn = build_hello(hello, &ok[i]);
        n = tq_crypto_frame(fr[0], 0, hello, hn);
        dg_add(0, c, TQ_INITIAL, 0, fr[0], n, 1180);
        expect("hello without a name", dgs, 1, VR_SNIFF_FOUND, want_sni[i], want_alpn[i]);
    }

    /* Reserved header bits set (under the protection). */
    dg_reset();
    hn = build_hello(hello, &s);
    n = tq_crypto_frame(fr[0], 0, hello, hn);
    uint8_t hdr[64];
    size_t hl = 0;
    hdr[hl++] = 0xc0 | 0x10 | 0x0c | 1; /* v2 Initial, reserved bits, 2-byte pn */
    hdr[hl++] = 0x6b; hdr[hl++] = 0x33; hdr[hl++] = 0x43; hdr[hl++] = 0xcf;
    hdr[hl++] = 8;
    memcpy(hdr + hl, c->dcid, 8);
    hl += 8;
    hdr[hl++] = 0;
    hdr[hl++] = 0;
    size_t plen = 2 + 1180 + 16;
    hdr[hl++] = (uint8_t)(0x40 | (plen >> 8));
    hdr[hl++] = (uint8_t)plen;
    hdr[hl++] = 0;
    hdr[hl++] = 0;
    static uint8_t plain[1180];
    memset(plain, 0, sizeof(plain));
    memcpy(plain, fr[0], n);
    dgs[0].iov_len = tq_seal_header(VR_QUIC_V2, c->dcid, 8, hdr, hl, 0, plain, sizeof(plain),
                                    dbuf[0]);
    expect("reserved bits", dgs, 1, VR_SNIFF_INVALID, NULL, NULL);
    /* The same header without them is fine: the builder above is right. */
    hdr[0] &= (uint8_t)~0x0c;
    dgs[0].iov_len = tq_seal_header(VR_QUIC_V2, c->dcid, 8, hdr, hl, 0, plain, sizeof(plain),
                                    dbuf[0]);
    expect("reserved bits clear", dgs, 1, VR_SNIFF_FOUND, "bad.example", "h3");
}

/* NOT_MINE: what is not a client's QUIC v1/v2 Initial. */
static void test_not_mine(void)
{
    static const uint8_t dns[] = {0x12, 0x34, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x01, 0x03, 'w',  'w',  'w',  0x07, 'e',
                                  'x',  'a',  'm',  'p',  'l',  'e',  0x03, 'c',  'o',
                                  'm',  0x00, 0x00, 0x01, 0x00, 0x01};
    struct iovec dg = {.iov_base = (void *)dns, .iov_len = sizeof(dns)};
    expect("DNS query", &dg, 1, VR_SNIFF_NOT_MINE, NULL, NULL);
    save_case("not_mine_dns_query", &dg, 1, VR_SNIFF_NOT_MINE, NULL, NULL);

    static uint8_t p[1300];
    unhex(rfc9001_packet_hex, p);
    dg.iov_base = p;
    dg.iov_len = 1200;
    struct vr_quic_hello h;
    CHECK(parse(&dg, 1, &h) == VR_SNIFF_FOUND);

    p[0] = 0x41; /* a short header */
    expect("short header", &dg, 1, VR_SNIFF_NOT_MINE, NULL, NULL);
    p[0] = 0xc0;
    static const uint32_t versions[] = {0x00000000, 0xff00001d, 0x709a50c4, 0x1a2a3a4a,
                                        0x00000002, 0x51303530};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        p[1] = (uint8_t)(versions[i] >> 24);
        p[2] = (uint8_t)(versions[i] >> 16);
        p[3] = (uint8_t)(versions[i] >> 8);
        p[4] = (uint8_t)versions[i];
        expect("version negotiation / unknown version", &dg, 1, VR_SNIFF_NOT_MINE, NULL, NULL);
        if (i == 0)
            save_case("not_mine_version_negotiation", &dg, 1, VR_SNIFF_NOT_MINE, NULL, NULL);
    }
    p[1] = p[2] = p[3] = 0;
    p[4] = 1;
    CHECK(parse(&dg, 1, &h) == VR_SNIFF_FOUND);
    p[0] = 0xf0; /* Retry: a server sends it, never a client */
    expect("Retry", &dg, 1, VR_SNIFF_NOT_MINE, NULL, NULL);
    p[0] = 0xc0;
    p[5] = 21; /* a DCID longer than 20 */
    expect("DCID over 20", &dg, 1, VR_SNIFF_NOT_MINE, NULL, NULL);
    p[5] = 8;
    /* Empty and tiny datagrams; every prefix of the packet is NOT_MINE (the
     * Length no longer fits) or INVALID, never MORE or FOUND. */
    int bad = 0;
    for (size_t i = 0; i < 1200; i++) {
        dg.iov_len = i;
        int st = parse(&dg, 1, &h);
        bad += st != VR_SNIFF_NOT_MINE;
    }
    CHECK(bad == 0);
    dg.iov_len = 1200;

    /* A TLS ClientHello over UDP is not QUIC. */
    static uint8_t rec[300];
    rec[0] = 0x16;
    rec[1] = 3;
    rec[2] = 1;
    rec[3] = (uint8_t)(rfc_hello_len >> 8);
    rec[4] = (uint8_t)rfc_hello_len;
    memcpy(rec + 5, rfc_hello, rfc_hello_len);
    struct iovec tls = {.iov_base = rec, .iov_len = rfc_hello_len + 5};
    expect("TLS over UDP", &tls, 1, VR_SNIFF_NOT_MINE, NULL, NULL);

    /* No datagram yet. */
    CHECK(parse(NULL, 0, &h) == VR_SNIFF_MORE);

    /* Over TCP (ops->sniff): never ours, whatever the bytes. */
    struct vr_sniff_out out = {.size = sizeof(out)};
    CHECK(quic_ops->sniff(NULL, p, 1200, &out) == VR_SNIFF_NOT_MINE);
    CHECK(quic_ops->sniff(NULL, rec, rfc_hello_len + 5, &out) == VR_SNIFF_NOT_MINE);
    CHECK(quic_ops->sniff(NULL, dns, sizeof(dns), &out) == VR_SNIFF_NOT_MINE);
    CHECK(quic_ops->sniff(NULL, NULL, 0, &out) == VR_SNIFF_NOT_MINE);
}

/* Every single-byte change of a split Initial pair: no crash, a valid
 * status, the prefix property, never FOUND with another name. */
static void test_mutations(void)
{
    static uint8_t hello[4096];
    struct hello_spec s = {.sni = "mut.example", .alpn = "h3", .pad = 300};
    size_t hn = build_hello(hello, &s);
    dg_reset();
    size_t a = tq_crypto_frame(fr[0], 0, hello, 200);
    size_t b = tq_crypto_frame(fr[1], 200, hello + 200, hn - 200);
    dg_add(0, &conn_a_v1, TQ_INITIAL, 0, fr[0], a, 0);
    dg_add(1, &conn_a_v1, TQ_INITIAL, 1, fr[1], b, 0);
    CHECK(parse(dgs, 2, &(struct vr_quic_hello){0}) == VR_SNIFF_FOUND);
    int bad = 0, prefix = 0, found = 0;
    for (size_t d = 0; d < 2; d++) {
        uint8_t *p = dgs[d].iov_base;
        for (size_t i = 0; i < dgs[d].iov_len; i++) {
            uint8_t keep = p[i];
            p[i] ^= (uint8_t)(1u << (i % 8));
            struct vr_quic_hello h;
            int st = parse(dgs, 2, &h);
            if (st < VR_SNIFF_MORE || st > VR_SNIFF_INVALID)
                bad++;
            if (st == VR_SNIFF_FOUND) {
                found++;
                if (strcmp(h.tls.sni, "mut.example") != 0)
                    bad++;
            }
            int st1 = parse(dgs, 1, &h);
            if (st1 != VR_SNIFF_MORE && st1 != st)
                prefix++;
            p[i] = keep;
        }
    }
    CHECK(bad == 0);
    CHECK(prefix == 0);
    /* Only bytes outside the protected header and AEAD input may change:
     * none here (no padding after the packets). */
    CHECK(found == 0);
}

/* ---- live captures ------------------------------------------------------ */

static void test_live(void)
{
    if (!tqc_client_present()) {
        fprintf(stderr, "gtlsclient not found on PATH: install the package ngtcp2-client "
                        "(a test dependency); the live QUIC captures cannot run\n");
        CHECK(!"gtlsclient present");
        return;
    }
    static struct tqc_capture cap;
    /* gtlsclient 0.12 (the GnuTLS build Debian ships) ignores --sni: its
     * SNI is the host argument, or "localhost" for an address literal. */
    struct {
        const char *addr, *want, *name;
    } cases[] = {
        {"127.0.0.1", "localhost", "gtlsclient_v4"},
        {"::1", "localhost", "gtlsclient_v6"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = tqc_capture(cases[i].addr, NULL, &cap);
        if (n <= 0)
            fprintf(stderr, "gtlsclient to %s sent nothing\n", cases[i].addr);
        CHECK(n > 0);
        if (n <= 0)
            continue;
        struct vr_quic_hello h;
        int st = parse(cap.dg, cap.n, &h);
        printf("live %s: %zu datagram(s), first %zu bytes: %s sni '%s' alpn '%s'\n",
               cases[i].name, cap.n, cap.dg[0].iov_len, status_name(st), h.tls.sni, h.tls.alpn);
        CHECK(st == VR_SNIFF_FOUND);
        CHECK(strcmp(h.tls.sni, cases[i].want) == 0);
        CHECK(h.tls.alpn[0] != '\0');
        CHECK(h.version == VR_QUIC_V1 && h.packets >= 1);
        CHECK(cap.dg[0].iov_len >= 1200); /* RFC 9000 14.1 */
        /* The first datagram alone decides (gtlsclient's hello fits). */
        CHECK(parse(cap.dg, 1, &h) == VR_SNIFF_FOUND);
        CHECK(check_prefixes(cases[i].name, cap.dg, cap.n) == 0);
        struct vr_sniff_out out;
        CHECK(module_parse(cap.dg, cap.n, &out) == VR_SNIFF_FOUND &&
              strcmp(out.domain, cases[i].want) == 0 && strcmp(out.protocol, "quic") == 0 &&
              out.alpn[0] != '\0');
        size_t keep = cap.n < VR_QUIC_CORPUS_DGRAMS_MAX ? cap.n : VR_QUIC_CORPUS_DGRAMS_MAX;
        save_case(cases[i].name, cap.dg, keep, VR_SNIFF_FOUND, cases[i].want, h.tls.alpn);
    }
}

/* ---- the module --------------------------------------------------------- */

static void test_module_out_size(void)
{
    static uint8_t pkt[1300];
    unhex(rfc9001_packet_hex, pkt);
    struct iovec dg = {.iov_base = pkt, .iov_len = 1200};
    struct vr_sniff_out out;
    memset(&out, 0x5a, sizeof(out));
    out.size = offsetof(struct vr_sniff_out, protocol); /* domain only */
    CHECK(quic_ops->sniff_datagrams(NULL, &dg, 1, &out) == VR_SNIFF_FOUND);
    CHECK(strcmp(out.domain, "example.com") == 0);
    CHECK((uint8_t)out.protocol[0] == 0x5a && (uint8_t)out.alpn[0] == 0x5a);
    memset(&out, 0x5a, sizeof(out));
    out.size = offsetof(struct vr_sniff_out, alpn);
    CHECK(quic_ops->sniff_datagrams(NULL, &dg, 1, &out) == VR_SNIFF_FOUND);
    CHECK(strcmp(out.protocol, "quic") == 0 && (uint8_t)out.alpn[0] == 0x5a);
    memset(&out, 0x5a, sizeof(out));
    out.size = sizeof(uint32_t);
    CHECK(quic_ops->sniff_datagrams(NULL, &dg, 1, &out) == VR_SNIFF_FOUND);
    CHECK((uint8_t)out.domain[0] == 0x5a);
    /* Not FOUND: out is not touched. */
    memset(&out, 0x5a, sizeof(out));
    out.size = sizeof(out);
    pkt[100] ^= 1;
    CHECK(quic_ops->sniff_datagrams(NULL, &dg, 1, &out) == VR_SNIFF_INVALID);
    CHECK((uint8_t)out.domain[0] == 0x5a);
    CHECK(quic_ops->sniff_datagrams(NULL, NULL, 0, &out) == VR_SNIFF_MORE);
}

static int load_module(const char *path)
{
    quic_ops = vr_test_load_sniffer(path, "quic");
    if (quic_ops == NULL)
        return -1;
    CHECK(quic_ops->networks == VR_NET_UDP);
    CHECK(quic_ops->create == NULL && quic_ops->destroy == NULL);
    return quic_ops->sniff != NULL && quic_ops->sniff_datagrams != NULL ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *module, *corpus;
    if (vr_test_sniffer_args(argc, argv, "--save", &module, &corpus, &save_dir) < 0 || load_module(module) < 0) {
        fprintf(stderr, "usage: %s --module quic.so --corpus DIR [--save DIR]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    test_rfc_vectors();
    test_split(&conn_a_v1, "v1");
    test_split(&conn_a_v2, "v2");
    test_reassembly();
    test_other_packets();
    test_invalid();
    test_not_mine();
    test_mutations();
    test_module_out_size();
    test_live();
    int got = check_corpus(corpus);
    printf("committed corpus: %d files checked\n", got);
    CHECK(got >= 8);
    return vr_test_report();
}
