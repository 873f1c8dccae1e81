/* Test module: a well-formed sniffer. Named in `outbounds` it is a config
 * error naming both kinds; named in a listener's `sniff` it loads. */
#include <string.h>

#include <vrouter/vr_plugin.h>

/* Recognises a client that starts with "WK:". */
static int wk_sniff(void *state, const uint8_t *data, size_t len, struct vr_sniff_out *out)
{
    (void)state;
    static const char magic[] = "WK:";
    size_t n = len < 3 ? len : 3;
    if (memcmp(data, magic, n) != 0)
        return VR_SNIFF_NOT_MINE;
    if (len < 3)
        return VR_SNIFF_MORE;
    out->domain[0] = '\0';
    memcpy(out->protocol, "wk", 3);
    return VR_SNIFF_FOUND;
}

static const struct vr_sniffer_ops wk_ops = {
    .size = sizeof(struct vr_sniffer_ops),
    .protocol = "wk",
    .networks = VR_NET_TCP,
    .sniff = wk_sniff,
};

VR_MODULE_DEFINE(.name = "wrong_kind", .version = "1.0.0", .kind = VR_KIND_SNIFFER, .ops = &wk_ops);
