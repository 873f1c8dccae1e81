/* The service manager's notify protocol (sd_notify(3)), spoken by hand: one
 * AF_UNIX datagram of "KEY=VALUE" lines to $NOTIFY_SOCKET, no libsystemd.
 *
 * vr_notify_init reads $NOTIFY_SOCKET (a path, or "@name" for the abstract
 * namespace), $WATCHDOG_USEC and $WATCHDOG_PID, and unsets them so that the
 * programs installers run do not talk to the manager in our name. Without
 * $NOTIFY_SOCKET every other call is a no-op. A send that fails is logged
 * once and never stops the daemon.
 *
 * What is sent and when (docs/SERVICE.md):
 *   READY=1 + STATUS      the first generation is installed and listening;
 *   RELOADING=1 + MONOTONIC_USEC   a reload starts building;
 *   READY=1 + STATUS      the reload ended, applied or failed (then STATUS
 *                         says so and names the generation kept);
 *   STOPPING=1            draining (SIGTERM/SIGINT);
 *   STATUS                refreshed every VR_NOTIFY_STATUS_S seconds;
 *   WATCHDOG=1            every WATCHDOG_USEC / 2 when the manager asks. */
#ifndef VR_NOTIFY_H
#define VR_NOTIFY_H

#include <stddef.h>

struct event_base;

#define VR_NOTIFY_STATUS_S 5

/* Fills buf with the daemon's one-line status (generation, counts). */
typedef void (*vr_notify_status_fn)(char *buf, size_t len);

/* Reads and unsets the environment; opens the socket. */
void vr_notify_init(void);
/* Starts the status refresh and watchdog timers on base (no-op without a
 * socket); status_fn describes the daemon each time. */
void vr_notify_start(struct event_base *base, vr_notify_status_fn status_fn);
/* READY=1 with the current status. */
void vr_notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC=now. */
void vr_notify_reloading(void);
/* READY=1 after a failed reload, STATUS saying why (first error) and that
 * the running generation is kept. */
void vr_notify_reload_failed(const char *why);
/* STOPPING=1. */
void vr_notify_stopping(void);
/* Stops the timers and closes the socket. */
void vr_notify_fini(void);

#endif
