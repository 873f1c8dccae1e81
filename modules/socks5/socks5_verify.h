/* send_domain = "verified": does the sniffed name resolve to the flow's
 * original destination? Asked of the system resolver asynchronously. */
#ifndef VR_SOCKS5_VERIFY_H
#define VR_SOCKS5_VERIFY_H

#include <sys/socket.h>

struct s5_state;
struct s5_verify;

enum s5_verdict {
    S5_VERIFY_MATCH = 0,    /* the destination is among the name's addresses */
    S5_VERIFY_MISMATCH = 1, /* it is not */
    S5_VERIFY_FAILED = 2,   /* the name did not resolve (or resolution failed) */
    S5_VERIFY_TIMEOUT = 3,  /* no answer within verify_timeout_ms */
};

/* verdict and, for a failure, the resolver's message. */
typedef void (*s5_verify_done)(void *arg, int verdict, const char *detail);

/* Starts resolving name; done is called later from the loop (never from
 * inside this call), exactly once unless cancelled. Returns the lookup or
 * NULL (out of memory, or the resolver refused the request). */
struct s5_verify *s5_verify_start(struct s5_state *st, const char *name,
                                  const struct sockaddr *dst, s5_verify_done done, void *arg);
/* Stops waiting for a lookup: done is not called. */
void s5_verify_cancel(struct s5_state *st, struct s5_verify *v);
/* At destroy: cancels every lookup, waits a bounded time for those the
 * resolver cannot cancel. */
void s5_verify_free_all(struct s5_state *st);

#endif
