#include "vr_errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void push(struct vr_errors *e, char *msg)
{
    char **n = realloc(e->msgs, (e->n + 1) * sizeof(*n));
    if (n == NULL) {
        free(msg);
        return;
    }
    e->msgs = n;
    e->msgs[e->n++] = msg;
}

void vr_errors_add(struct vr_errors *e, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (msg)
        push(e, msg);
}

void vr_errors_at(struct vr_errors *e, const char *file, int line, const char *fmt, ...)
{
    char *body = NULL, *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&body, fmt, ap) < 0)
        body = NULL;
    va_end(ap);
    if (body == NULL)
        return;
    int r = line > 0 ? asprintf(&msg, "%s:%d: %s", file ? file : "(config)", line, body)
                     : asprintf(&msg, "%s: %s", file ? file : "(config)", body);
    free(body);
    if (r >= 0)
        push(e, msg);
}

void vr_errors_clear(struct vr_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    e->msgs = NULL;
    e->n = 0;
}

const char *vr_errors_first(const struct vr_errors *e)
{
    return e->n > 0 ? e->msgs[0] : NULL;
}
