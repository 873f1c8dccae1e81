#include "vr_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int vr_log_level = VR_LOG_INFO;
static bool use_syslog;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void vr_log_use_syslog(bool on)
{
    use_syslog = on;
    if (!on)
        return;
    openlog("vrouterd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    /* syslog(3) drops messages silently while nothing listens: say so once,
     * where the operator starting us will see it. */
    if (access(_PATH_LOG, W_OK) != 0)
        fprintf(stderr,
                "vrouterd: -s: no syslog socket at %s (%s): messages are lost until a syslog daemon listens there; "
                "run without -s to log to stderr\n",
                _PATH_LOG, strerror(errno));
}

int vr_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void vr_log_vwrite(int level, const char *prefix, const char *fmt, va_list ap)
{
    if (level > vr_log_level)
        return;
    if (level < 0)
        level = 0;
    if (level > 3)
        level = 3;
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (use_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s%s", prefix ? prefix : "", msg);
        return;
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s %s%s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, level_names[level], prefix ? prefix : "", msg);
}

void vr_log_write(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vr_log_vwrite(level, NULL, fmt, ap);
    va_end(ap);
}
