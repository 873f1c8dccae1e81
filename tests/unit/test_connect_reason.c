/* The host side of ABI 1.1 connect_fail_reason (core/host/vr_connect_reason.c):
 * a reason counts only for the flow armed around tcp_connect, the last one
 * wins, it is copied, and taking it disarms. */
#include <stdarg.h>
#include <string.h>

#include "vr_connect_reason.h"
#include "vr_test.h"

static void set(const struct vr_flow *flow, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set(const struct vr_flow *flow, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vr_connect_reason_vset(flow, fmt, ap);
    va_end(ap);
}

int main(void)
{
    struct vr_flow a = {.size = sizeof(a), .id = 1}, b = {.size = sizeof(b), .id = 2};

    /* Not armed: ignored. */
    set(&a, "too early");
    CHECK(vr_connect_reason_take(&a) == NULL);

    /* Armed for a: b's reason (a health probe's flow) is ignored; a's last one wins. */
    vr_connect_reason_arm(&a);
    set(&b, "probe");
    set(&a, "member %s: %d", "wg1", 5);
    set(&a, "ecmp %s: no healthy member left", "lb");
    char scratch[32] = "transient";
    set(&a, "copied: %s", scratch);
    memset(scratch, 'x', sizeof(scratch) - 1); /* the caller's buffer goes away */
    const char *r = vr_connect_reason_take(&a);
    CHECK(r != NULL && strcmp(r, "copied: transient") == 0);

    /* Taking disarms: neither a second take nor a late set sees anything. */
    CHECK(vr_connect_reason_take(&a) == NULL);
    set(&a, "late");
    CHECK(vr_connect_reason_take(&a) == NULL);

    /* Arming again forgets an earlier reason; a connect that gave none has none. */
    vr_connect_reason_arm(&a);
    set(&a, "first connect");
    vr_connect_reason_arm(&a);
    CHECK(vr_connect_reason_take(&a) == NULL);

    /* Taken for another flow than the armed one: nothing. */
    vr_connect_reason_arm(&a);
    set(&a, "for a");
    CHECK(vr_connect_reason_take(&b) == NULL);

    /* A long reason is cut, never overrun. */
    char big[1024];
    memset(big, 'r', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    vr_connect_reason_arm(&a);
    set(&a, "%s", big);
    r = vr_connect_reason_take(&a);
    CHECK(r != NULL && strlen(r) > 100 && strlen(r) < sizeof(big) - 1);
    return vr_test_report();
}
