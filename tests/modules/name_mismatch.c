/* Test module: descriptor name differs from the file name (refused). */
#define STUB_NAME "name_mismatch"
#include "stub_outbound.h"

STUB_OUTBOUND_OPS(stub_ops, sizeof(struct vr_outbound_ops));

VR_MODULE_DEFINE(.name = "not_the_file_name", .version = "1.0.0", .kind = VR_KIND_OUTBOUND, .ops = &stub_ops,
                 .init = stub_init);
