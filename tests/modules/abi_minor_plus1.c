/* Test module: descriptor built for a newer minor ABI than the host (refused). */
#define STUB_NAME "abi_minor_plus1"
#include "stub_outbound.h"

STUB_OUTBOUND_OPS(stub_ops, sizeof(struct vr_outbound_ops));

VR_EXPORT const struct vr_module_desc vr_module = {
    .abi_major = VR_ABI_MAJOR,
    .abi_minor = VR_ABI_MINOR + 1,
    .size = sizeof(struct vr_module_desc),
    .name = STUB_NAME,
    .version = "1.0.0",
    .kind = VR_KIND_OUTBOUND,
    .ops = &stub_ops,
    .init = stub_init,
};
