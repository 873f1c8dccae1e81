/* Test module: outbound ops table whose size is smaller than the 1.0 table
 * (refused before anything in it is called). */
#define STUB_NAME "ops_too_short"
#include "stub_outbound.h"

/* As if built against a header that ended before the UDP path. */
STUB_OUTBOUND_OPS(short_ops, offsetof(struct vr_outbound_ops, udp_open));

VR_MODULE_DEFINE(.name = STUB_NAME, .version = "1.0.0", .kind = VR_KIND_OUTBOUND, .ops = &short_ops,
                 .init = stub_init);
