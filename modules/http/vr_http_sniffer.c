/* The "http" sniffer module: the Host of an HTTP/1.x request. */
#include <vrouter/vr_plugin.h>

#include "vr_http_parse.h"
#include "vr_sniff_name.h"

static int vr_http_sniff(void *state, const uint8_t *data, size_t len, struct vr_sniff_out *out)
{
    struct vr_http_request req;
    (void)state;
    int status = vr_http_parse_request(data, len, &req);
    if (status == VR_SNIFF_FOUND)
        vr_sniff_out_fill(out, req.domain, "http", NULL);
    return status;
}

static int vr_http_sniff_wake(void *state, const uint8_t *data, size_t seen, size_t len, uint64_t *mark)
{
    (void)state;
    return vr_http_wake(data, seen, len, mark);
}

static const struct vr_sniffer_ops vr_http_sniffer_ops = {
    .size = sizeof(struct vr_sniffer_ops),
    .protocol = "http",
    .networks = VR_NET_TCP,
    .sniff = vr_http_sniff,
    .sniff_wake = vr_http_sniff_wake,
};

VR_MODULE_DEFINE(.name = "http", .version = "1.1.0", .kind = VR_KIND_SNIFFER,
                 .ops = &vr_http_sniffer_ops);
