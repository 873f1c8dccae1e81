#include "vr_libbpf_print.h"

#ifdef VR_HAVE_BPF

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vr_log.h"

static int print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    char line[1024];
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    size_t len = strlen(line);
    while (len > 0 && line[len - 1] == '\n')
        line[--len] = '\0';
    if (level == LIBBPF_WARN)
        vr_warn("libbpf: %s", line);
    else
        vr_debug("libbpf: %s", line);
    return n;
}

void vr_libbpf_print_init(void)
{
    libbpf_set_print(print);
}

#else

void vr_libbpf_print_init(void) {}

#endif
