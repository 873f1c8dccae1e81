/* A latency histogram with fixed bucket bounds (seconds), counted in
 * milliseconds: observing is a few compares and two adds, no allocation. */
#ifndef VR_HISTOGRAM_H
#define VR_HISTOGRAM_H

#include <stdint.h>

/* Upper bounds in ms: 1 ms .. 10 s, roughly Prometheus' default buckets. */
#define VR_HISTOGRAM_BUCKETS 12
extern const uint32_t vr_histogram_bounds_ms[VR_HISTOGRAM_BUCKETS];

struct vr_histogram {
    uint64_t counts[VR_HISTOGRAM_BUCKETS + 1]; /* per bucket, not cumulative; the last is +Inf */
    uint64_t sum_ms;
    uint64_t count;
};

void vr_histogram_observe(struct vr_histogram *h, uint64_t ms);
/* to += from (summing workers or slots at scrape time). */
void vr_histogram_add(struct vr_histogram *to, const struct vr_histogram *from);

#endif
