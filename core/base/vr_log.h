/* Daemon logging: stderr (with time) or syslog; the level is checked before
 * any formatting. */
#ifndef VR_LOG_H
#define VR_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include <vrouter/vr_host.h> /* enum vr_log_level */

extern int vr_log_level;

void vr_log_use_syslog(bool on);
void vr_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vr_log_vwrite(int level, const char *prefix, const char *fmt, va_list ap);
/* "error" | "warn" | "info" | "debug" -> level, or -1 */
int vr_log_level_parse(const char *name);

#define VR_LOG(level, ...)                    \
    do {                                      \
        if ((level) <= vr_log_level)          \
            vr_log_write((level), __VA_ARGS__); \
    } while (0)
#define vr_err(...) VR_LOG(VR_LOG_ERROR, __VA_ARGS__)
#define vr_warn(...) VR_LOG(VR_LOG_WARN, __VA_ARGS__)
#define vr_info(...) VR_LOG(VR_LOG_INFO, __VA_ARGS__)
#define vr_debug(...) VR_LOG(VR_LOG_DEBUG, __VA_ARGS__)

#endif
