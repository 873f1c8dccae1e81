/* The "quic" sniffer module: SNI and first ALPN from the ClientHello in the
 * client Initial packets of QUIC v1 and v2. */
#include <vrouter/vr_plugin.h>

#include "vr_quic_parse.h"
#include "vr_sniff_name.h"

/* QUIC runs over UDP only; a stream is never ours. */
static int vr_quic_sniff(void *state, const uint8_t *data, size_t len, struct vr_sniff_out *out)
{
    (void)state;
    (void)data;
    (void)len;
    (void)out;
    return VR_SNIFF_NOT_MINE;
}

/* The first run answers NOT_MINE; nothing after it matters. */
static int vr_quic_sniff_wake(void *state, const uint8_t *data, size_t seen, size_t len, uint64_t *mark)
{
    (void)state;
    (void)data;
    (void)len;
    (void)mark;
    return seen == 0;
}

static int vr_quic_sniff_datagrams(void *state, const struct iovec *dgrams, size_t n,
                                   struct vr_sniff_out *out)
{
    struct vr_quic_hello hello;
    (void)state;
    int status = vr_quic_parse_initials(dgrams, n, &hello);
    if (status == VR_SNIFF_FOUND)
        vr_sniff_out_fill(out, hello.tls.sni, "quic", hello.tls.alpn);
    return status;
}

static const struct vr_sniffer_ops vr_quic_sniffer_ops = {
    .size = sizeof(struct vr_sniffer_ops),
    .protocol = "quic",
    .networks = VR_NET_UDP,
    .sniff = vr_quic_sniff,
    .sniff_datagrams = vr_quic_sniff_datagrams,
    .sniff_wake = vr_quic_sniff_wake,
};

VR_MODULE_DEFINE(.name = "quic", .version = "1.1.0", .kind = VR_KIND_SNIFFER,
                 .ops = &vr_quic_sniffer_ops);
