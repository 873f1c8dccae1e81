#include "vr_histogram.h"

const uint32_t vr_histogram_bounds_ms[VR_HISTOGRAM_BUCKETS] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};

void vr_histogram_observe(struct vr_histogram *h, uint64_t ms)
{
    int i = 0;
    while (i < VR_HISTOGRAM_BUCKETS && ms > vr_histogram_bounds_ms[i])
        i++;
    h->counts[i]++;
    h->sum_ms += ms;
    h->count++;
}

void vr_histogram_add(struct vr_histogram *to, const struct vr_histogram *from)
{
    for (int i = 0; i <= VR_HISTOGRAM_BUCKETS; i++)
        to->counts[i] += from->counts[i];
    to->sum_ms += from->sum_ms;
    to->count += from->count;
}
