/* A list of error messages ("FILE:LINE: what is wrong, what is expected")
 * collected while a config generation is built. */
#ifndef VR_ERRORS_H
#define VR_ERRORS_H

#include <stddef.h>

struct vr_errors {
    char **msgs;
    size_t n;
};

void vr_errors_add(struct vr_errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "FILE:LINE: " prefix, or "FILE: " when line is 0. */
void vr_errors_at(struct vr_errors *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void vr_errors_clear(struct vr_errors *e);
/* Joined with newlines into a static-free caller buffer. */
const char *vr_errors_first(const struct vr_errors *e);

#endif
