/* A minimal unit test harness: CHECK records a failure and goes on; the
 * program prints "N passed, N failed" and exits non-zero on any failure. */
#ifndef VR_TEST_H
#define VR_TEST_H

#include <stdio.h>
#include <string.h>

extern int vr_test_passed;
extern int vr_test_failed;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (cond) {                                                                 \
            vr_test_passed++;                                                       \
        } else {                                                                    \
            vr_test_failed++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                 \
    do {                                                                                \
        const char *h_ = (hay);                                                         \
        if (h_ != NULL && strstr(h_, (needle)) != NULL) {                               \
            vr_test_passed++;                                                           \
        } else {                                                                        \
            vr_test_failed++;                                                           \
            fprintf(stderr, "%s:%d: expected \"%s\" in \"%s\"\n", __FILE__, __LINE__, \
                    (needle), h_ ? h_ : "(null)");                                      \
        }                                                                               \
    } while (0)

/* Call at the end of main(). */
int vr_test_report(void);

#endif
