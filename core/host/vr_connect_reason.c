#include "vr_connect_reason.h"

#include <stdbool.h>
#include <stdio.h>

/* Long enough for "socks5 proxy.example:1080: ..." and an errno text; the
 * close line is bounded anyway. */
#define VR_CONNECT_REASON_MAX 160

static _Thread_local struct {
    const struct vr_flow *flow; /* armed for this flow; NULL: not armed */
    bool set;
    char text[VR_CONNECT_REASON_MAX];
} slot;

void vr_connect_reason_arm(const struct vr_flow *flow)
{
    slot.flow = flow;
    slot.set = false;
    slot.text[0] = '\0';
}

const char *vr_connect_reason_take(const struct vr_flow *flow)
{
    bool mine = flow != NULL && slot.flow == flow && slot.set;
    slot.flow = NULL;
    return mine ? slot.text : NULL;
}

void vr_connect_reason_vset(const struct vr_flow *flow, const char *fmt, va_list ap)
{
    if (flow == NULL || flow != slot.flow || fmt == NULL)
        return; /* not inside a tcp_connect for this flow (a health probe's, or too late) */
    vsnprintf(slot.text, sizeof(slot.text), fmt, ap);
    slot.set = true;
}
