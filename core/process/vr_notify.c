/* sd_notify(3) by hand; see vr_notify.h. */
#include "vr_notify.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vr_log.h"

static struct {
    int fd; /* -1: no manager listens, every call is a no-op */
    struct sockaddr_un addr;
    socklen_t addrlen;
    uint64_t watchdog_usec; /* 0: no watchdog asked for us */
    vr_notify_status_fn status_fn;
    struct event *status_ev, *watchdog_ev;
    char last_status[256];
    bool warned;
} notify = {.fd = -1};

/* "@name" is the abstract namespace: a leading NUL, and the length counts
 * only the name (no terminating NUL). */
static bool parse_socket(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n >= sizeof(notify.addr.sun_path) || (s[0] != '/' && s[0] != '@'))
        return false;
    notify.addr.sun_family = AF_UNIX;
    memcpy(notify.addr.sun_path, s, n);
    if (s[0] == '@') {
        notify.addr.sun_path[0] = '\0';
        notify.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        notify.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return true;
}

static void read_watchdog(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (usec == NULL)
        return;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(usec, &end, 10);
    if (errno || end == usec || *end != '\0' || v == 0) {
        vr_warn("notify: WATCHDOG_USEC=\"%s\" is not a number of microseconds: no watchdog pings", usec);
        return;
    }
    /* Meant for another process (our parent, a wrapper): not ours to ping. */
    if (pid && strtoll(pid, NULL, 10) != (long long)getpid())
        return;
    notify.watchdog_usec = v;
}

void vr_notify_init(void)
{
    vr_notify_fini();
    const char *s = getenv("NOTIFY_SOCKET");
    if (s && s[0]) {
        if (!parse_socket(s))
            vr_warn("notify: NOTIFY_SOCKET=\"%s\" is neither an absolute path nor @abstract: not notifying", s);
        else if ((notify.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
            vr_warn("notify: cannot create a socket for %s: %s", s, strerror(errno));
        else
            read_watchdog();
    }
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

/* One datagram. Non-blocking: a manager that does not read costs us the
 * message, never the loop. */
static void send_text(const char *text)
{
    if (notify.fd < 0)
        return;
    struct iovec iov = {.iov_base = (void *)text, .iov_len = strlen(text)};
    struct msghdr msg = {.msg_name = &notify.addr, .msg_namelen = notify.addrlen, .msg_iov = &iov, .msg_iovlen = 1};
    if (sendmsg(notify.fd, &msg, MSG_NOSIGNAL) >= 0) {
        notify.warned = false;
        return;
    }
    if (!notify.warned)
        vr_warn("notify: cannot tell the service manager \"%.*s\": %s", (int)strcspn(text, "\n"), text,
                strerror(errno));
    notify.warned = true;
}

static void current_status(char *buf, size_t len)
{
    buf[0] = '\0';
    if (notify.status_fn)
        notify.status_fn(buf, len);
}

/* "HEAD\nSTATUS=...". */
static void send_with_status(const char *head, const char *prefix)
{
    char status[sizeof(notify.last_status)], text[sizeof(status) + 512];
    current_status(status, sizeof(status));
    snprintf(text, sizeof(text), "%s%sSTATUS=%s%s", head, head[0] ? "\n" : "", prefix, status);
    send_text(text);
    snprintf(notify.last_status, sizeof(notify.last_status), "%s", status);
}

static void on_status(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    char status[sizeof(notify.last_status)];
    current_status(status, sizeof(status));
    if (strcmp(status, notify.last_status) != 0)
        send_with_status("", "");
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    send_text("WATCHDOG=1");
}

static struct event *every(struct event_base *base, uint64_t usec, event_callback_fn fn)
{
    struct event *ev = event_new(base, -1, EV_PERSIST, fn, NULL);
    struct timeval tv = {(time_t)(usec / 1000000), (suseconds_t)(usec % 1000000)};
    if (ev && event_add(ev, &tv) == 0)
        return ev;
    vr_warn("notify: cannot arm a timer (out of memory): no %s", fn == on_watchdog ? "watchdog pings" : "status refresh");
    if (ev)
        event_free(ev);
    return NULL;
}

void vr_notify_start(struct event_base *base, vr_notify_status_fn status_fn)
{
    if (notify.fd < 0)
        return;
    notify.status_fn = status_fn;
    notify.status_ev = every(base, (uint64_t)VR_NOTIFY_STATUS_S * 1000000, on_status);
    if (notify.watchdog_usec) {
        /* Half the manager's timeout, as sd_watchdog_enabled(3) advises. */
        uint64_t half = notify.watchdog_usec / 2 ? notify.watchdog_usec / 2 : 1;
        notify.watchdog_ev = every(base, half, on_watchdog);
        vr_info("notify: watchdog pings every %.3f s (WATCHDOG_USEC=%" PRIu64 ")", (double)half / 1e6,
                notify.watchdog_usec);
    }
}

void vr_notify_ready(void) { send_with_status("READY=1", ""); }

void vr_notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char text[96];
    snprintf(text, sizeof(text), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
             (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
    send_text(text);
}

void vr_notify_reload_failed(const char *why)
{
    char prefix[320];
    /* One line: the manager shows STATUS as is. */
    snprintf(prefix, sizeof(prefix), "reload failed (%s), old generation kept; ", why ? why : "see the log");
    for (char *p = prefix; *p; p++)
        if (*p == '\n')
            *p = ' ';
    send_with_status("READY=1", prefix);
}

void vr_notify_stopping(void) { send_with_status("STOPPING=1", "stopping; "); }

void vr_notify_fini(void)
{
    if (notify.status_ev)
        event_free(notify.status_ev);
    if (notify.watchdog_ev)
        event_free(notify.watchdog_ev);
    if (notify.fd >= 0)
        close(notify.fd);
    memset(&notify, 0, sizeof(notify));
    notify.fd = -1;
}
