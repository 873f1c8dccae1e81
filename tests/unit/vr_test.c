#include "vr_test.h"

int vr_test_passed;
int vr_test_failed;

int vr_test_report(void)
{
    printf("%d passed, %d failed\n", vr_test_passed, vr_test_failed);
    return vr_test_failed == 0 ? 0 : 1;
}
