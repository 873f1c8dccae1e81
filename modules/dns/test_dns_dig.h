/*
 * Live DNS queries for unit.sniff_dns: runs the real dig against a socket
 * bound on 127.0.0.1 (a kernel-chosen high port), captures what it sends
 * and answers REFUSED so that dig exits at once. Every wait is bounded
 * (4 s for the query, 5 s for dig to exit, then SIGKILL).
 */
#ifndef TEST_DNS_DIG_H
#define TEST_DNS_DIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* dig +retry=0 +time=1 -p PORT @127.0.0.1 args... (NULL-terminated, at
 * most 24): its first datagram into buf. Returns its length, or -1. */
ssize_t vr_dns_dig_capture_udp(const char *const *args, uint8_t *buf, size_t bufsz);

/* The same with a TCP listener (pass "+tcp" in args): the stream, length
 * prefix included, up to the end of the first message. */
ssize_t vr_dns_dig_capture_tcp(const char *const *args, uint8_t *buf, size_t bufsz);

#endif
