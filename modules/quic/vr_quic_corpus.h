/*
 * The file format of the quic corpus and fuzz inputs: several datagrams in
 * one byte string. Byte 0: its low two bits + 1 are the datagram count n
 * (1..4); then n-1 big-endian 16-bit lengths; then the datagrams back to
 * back, the last one taking the rest. Lengths are clipped to the bytes
 * present, so every input splits into something. Shared by the unit test
 * and the libFuzzer harness.
 */
#ifndef VR_QUIC_CORPUS_H
#define VR_QUIC_CORPUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VR_QUIC_CORPUS_DGRAMS_MAX 4

/* Splits in[0..len) into dg[0..n); returns n (0 for an empty input). */
static inline size_t vr_quic_corpus_split(const uint8_t *in, size_t len,
                                          struct iovec dg[VR_QUIC_CORPUS_DGRAMS_MAX])
{
    if (len == 0)
        return 0;
    size_t n = (size_t)(in[0] & 3) + 1, pos = 1 + 2 * (n - 1);
    if (pos > len)
        pos = len;
    for (size_t i = 0; i < n; i++) {
        size_t want = len - pos;
        if (i + 1 < n && 1 + 2 * i + 1 < len)
            want = ((size_t)in[1 + 2 * i] << 8) | in[2 + 2 * i];
        if (want > len - pos)
            want = len - pos;
        dg[i].iov_base = (void *)(uintptr_t)(in + pos);
        dg[i].iov_len = want;
        pos += want;
    }
    return n;
}

#endif
