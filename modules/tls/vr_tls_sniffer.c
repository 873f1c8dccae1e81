/* The "tls" sniffer module: SNI and first ALPN from a TLS ClientHello. */
#include <vrouter/vr_plugin.h>

#include "vr_sniff_name.h"
#include "vr_tls_parse.h"

static int vr_tls_sniff(void *state, const uint8_t *data, size_t len, struct vr_sniff_out *out)
{
    struct vr_tls_hello hello;
    (void)state;
    int status = vr_tls_parse_client_hello(data, len, &hello);
    if (status == VR_SNIFF_FOUND)
        vr_sniff_out_fill(out, hello.sni, "tls", hello.alpn);
    return status;
}

static int vr_tls_sniff_wake(void *state, const uint8_t *data, size_t seen, size_t len, uint64_t *mark)
{
    (void)state;
    return vr_tls_wake(data, seen, len, mark);
}

static const struct vr_sniffer_ops vr_tls_sniffer_ops = {
    .size = sizeof(struct vr_sniffer_ops),
    .protocol = "tls",
    .networks = VR_NET_TCP,
    .sniff = vr_tls_sniff,
    .sniff_wake = vr_tls_sniff_wake,
};

VR_MODULE_DEFINE(.name = "tls", .version = "1.1.0", .kind = VR_KIND_SNIFFER,
                 .ops = &vr_tls_sniffer_ops);
