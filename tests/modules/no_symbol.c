/* Test module: a shared object that exports a symbol, but not "vr_module"
 * (refused: not a vrouterd module). */
#include <vrouter/vr_abi.h>

VR_EXPORT const int vr_module_v0 = 1;
