/* Test module: a well-formed outbound whose ELF constructor, which dlopen
 * runs before the host can look at anything, appends "constructor ran as uid
 * N" to the file named by $VR_TEST_CTOR_MARKER. A test that expects vrouterd
 * to refuse the module's path checks the marker never appears: the refusal
 * must come before dlopen. */
#define STUB_NAME "ctor_marker"
#include "stub_outbound.h"

#include <unistd.h>

__attribute__((constructor)) static void leave_marker(void)
{
    const char *path = getenv("VR_TEST_CTOR_MARKER");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "constructor ran as uid %u\n", (unsigned)geteuid());
        fclose(f);
    }
}

STUB_OUTBOUND_OPS(stub_ops, sizeof(struct vr_outbound_ops));

VR_MODULE_DEFINE(.name = STUB_NAME, .version = "1.0.0", .kind = VR_KIND_OUTBOUND, .ops = &stub_ops,
                 .init = stub_init);
