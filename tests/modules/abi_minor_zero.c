/* Test module: descriptor for minor 0 written out by hand: a module built for
 * the oldest 1.x minor keeps loading on every 1.x host (loads). */
#define STUB_NAME "abi_minor_zero"
#include "stub_outbound.h"

STUB_OUTBOUND_OPS(stub_ops, sizeof(struct vr_outbound_ops));

VR_EXPORT const struct vr_module_desc vr_module = {
    .abi_major = VR_ABI_MAJOR,
    .abi_minor = 0,
    .size = sizeof(struct vr_module_desc),
    .name = STUB_NAME,
    .version = "1.0.0",
    .kind = VR_KIND_OUTBOUND,
    .ops = &stub_ops,
    .init = stub_init,
};
