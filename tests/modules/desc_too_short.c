/* Test module: descriptor whose size is smaller than the 1.0 descriptor (refused). */
#define STUB_NAME "desc_too_short"
#include "stub_outbound.h"

STUB_OUTBOUND_OPS(stub_ops, sizeof(struct vr_outbound_ops));

/* Claims to end before fini: the host must not trust anything past size. */
VR_EXPORT const struct vr_module_desc vr_module = {
    .abi_major = VR_ABI_MAJOR,
    .abi_minor = VR_ABI_MINOR,
    .size = offsetof(struct vr_module_desc, fini),
    .name = STUB_NAME,
    .version = "1.0.0",
    .kind = VR_KIND_OUTBOUND,
    .ops = &stub_ops,
    .init = stub_init,
};
