/*
 * Live QUIC Initials for unit.sniff_quic: runs the real QUIC client
 * gtlsclient (ngtcp2's examples, package ngtcp2-client) against a UDP
 * socket bound on 127.0.0.1 or ::1 (a kernel-chosen port) that never
 * answers, and keeps the datagrams it sends. Every wait is bounded.
 */
#ifndef TEST_QUIC_CLIENT_H
#define TEST_QUIC_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define TQC_DGRAMS_MAX 4
#define TQC_DGRAM_MAX 65536

struct tqc_capture {
    size_t n;                          /* datagrams captured */
    struct iovec dg[TQC_DGRAMS_MAX];   /* into buf */
    uint8_t buf[TQC_DGRAMS_MAX * TQC_DGRAM_MAX];
};

/* 1 if gtlsclient is on PATH. */
int tqc_client_present(void);

/* gtlsclient --quiet --handshake-timeout=1s extra... ADDR PORT
 * (extra NULL-terminated, may be NULL); captures the datagrams of its first
 * flight: up to TQC_DGRAMS_MAX, those arriving within 300 ms of the first
 * one (its first retransmission comes after ~1 s). Returns n, or -1. */
int tqc_capture(const char *addr, const char *const *extra, struct tqc_capture *cap);

#endif
