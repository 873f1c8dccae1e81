/* The "dns" sniffer module: the name of the first question of a DNS query,
 * over UDP (the first datagram) and TCP (the length-prefixed stream). */
#include <vrouter/vr_plugin.h>

#include "vr_dns_parse.h"
#include "vr_sniff_name.h"

static int vr_dns_sniff_finish(int status, const struct vr_dns_query *q,
                               struct vr_sniff_out *out)
{
    if (status == VR_SNIFF_FOUND)
        vr_sniff_out_fill(out, q->qname, "dns", NULL);
    return status;
}

static int vr_dns_sniff_stream(void *state, const uint8_t *data, size_t len,
                               struct vr_sniff_out *out)
{
    struct vr_dns_query q;
    (void)state;
    return vr_dns_sniff_finish(vr_dns_parse_stream(data, len, &q), &q, out);
}

/* The stream is decided within its first few hundred bytes. */
static int vr_dns_sniff_wake(void *state, const uint8_t *data, size_t seen, size_t len, uint64_t *mark)
{
    (void)state;
    (void)data;
    (void)mark;
    return vr_dns_wake(seen, len);
}

/* Only the first datagram of a session is a client's query; later ones
 * (retries, other queries) change nothing. */
static int vr_dns_sniff_datagrams(void *state, const struct iovec *dgrams, size_t n,
                                  struct vr_sniff_out *out)
{
    struct vr_dns_query q;
    (void)state;
    if (n == 0 || dgrams == NULL)
        return VR_SNIFF_MORE;
    return vr_dns_sniff_finish(
        vr_dns_parse_datagram((const uint8_t *)dgrams[0].iov_base, dgrams[0].iov_len, &q), &q,
        out);
}

static const struct vr_sniffer_ops vr_dns_sniffer_ops = {
    .size = sizeof(struct vr_sniffer_ops),
    .protocol = "dns",
    .networks = VR_NET_TCP | VR_NET_UDP,
    .sniff = vr_dns_sniff_stream,
    .sniff_datagrams = vr_dns_sniff_datagrams,
    .sniff_wake = vr_dns_sniff_wake,
};

VR_MODULE_DEFINE(.name = "dns", .version = "1.1.0", .kind = VR_KIND_SNIFFER,
                 .ops = &vr_dns_sniffer_ops);
