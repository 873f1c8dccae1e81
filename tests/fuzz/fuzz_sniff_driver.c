/*
 * libFuzzer harness for the stateful TCP sniff driver (core/flow/vr_sniff.c:
 * vr_sniff_stream_feed / _settle, the sniff_wake logic) with the real tls,
 * http, dns and quic sniffers compiled in (their module glue included below
 * under distinct descriptor names, their parsers linked).
 *
 * Input: byte 0 picks the listener (which sniffers, in which order, and
 * whether http is presented as a 1.0 module without sniff_wake); bytes 1-4
 * seed the segmentation (segment sizes from 1 byte to whole); the rest is
 * what the client sends (at most VR_SNIFF_MAX_BYTES, as the daemon holds).
 *
 * Checks, where they hold by design:
 *   - the driver's verdict, domain, protocol and ALPN equal those of running
 *     every sniffer on every read (the loop before the driver), and a FOUND
 *     comes at the same read when every sniffer has a sniff_wake;
 *   - when at most one sniffer finds something in the whole input (sniffers
 *     are prefix-consistent, so then no other can win at a prefix), the
 *     result equals sniffing the whole input at once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vr_sniff.h"

/* The four sniffer modules, each with its own descriptor name. */
#define vr_module vr_fuzz_module_tls
#include "vr_tls_sniffer.c"
#undef vr_module
#define vr_module vr_fuzz_module_http
#include "vr_http_sniffer.c"
#undef vr_module
#define vr_module vr_fuzz_module_dns
#include "vr_dns_sniffer.c"
#undef vr_module
#define vr_module vr_fuzz_module_quic
#include "vr_quic_sniffer.c"
#undef vr_module

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
    int verdict;
    size_t at;
    struct vr_sniff_out out;
};

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* The next segment size: mostly tiny (the dribble), sometimes MSS-sized or
 * everything left. */
static size_t next_segment(uint32_t *rng, size_t left)
{
    uint32_t r = next_rand(rng);
    size_t n;
    switch (r & 7) {
    case 0: case 1: case 2: n = 1; break;
    case 3: case 4: n = 1 + (r >> 8) % 8; break;
    case 5: n = 1 + (r >> 8) % 300; break;
    case 6: n = 1 + (r >> 8) % 1448; break;
    default: n = left; break;
    }
    return n < left ? n : left;
}

static struct result run_lazy(const struct vr_sniff_set *set, const uint8_t *d, size_t len, uint32_t seed)
{
    struct vr_sniff_stream st;
    struct result r = {.verdict = VR_SNIFF_WAIT};
    vr_sniff_stream_init(&st);
    size_t have = 0;
    while (have < len && r.verdict == VR_SNIFF_WAIT) {
        have += next_segment(&seed, len - have);
        r.verdict = vr_sniff_stream_feed(set, &st, d, have, &r.out);
    }
    if (r.verdict == VR_SNIFF_WAIT) /* the client closed */
        r.verdict = vr_sniff_stream_settle(set, &st, d, have, &r.out);
    r.at = have;
    /* linear: every run is over at most len bytes per sniffer; wakes see
     * each byte once; the number of runs is bounded by the wakes' decision
     * points plus a geometric series for a 1.0 sniffer. */
    if (st.wake_bytes > (uint64_t)set->n * len)
        abort();
    return r;
}

static struct result run_eager(const struct vr_sniff_set *set, const uint8_t *d, size_t len, uint32_t seed)
{
    struct result r = {.verdict = VR_SNIFF_WAIT};
    size_t have = 0;
    while (have < len && r.verdict == VR_SNIFF_WAIT) {
        have += next_segment(&seed, len - have);
        r.verdict = vr_sniff_set_run(set, d, have, &r.out);
    }
    if (r.verdict == VR_SNIFF_WAIT)
        r.verdict = vr_sniff_set_run(set, d, have, &r.out);
    r.at = have;
    return r;
}

static int final_verdict(int v)
{
    return v == VR_SNIFF_DONE_FOUND ? v : VR_SNIFF_DONE_UNKNOWN;
}

static void check_same(const struct result *a, const struct result *b, int same_read)
{
    if (final_verdict(a->verdict) != final_verdict(b->verdict))
        abort();
    if (a->verdict != VR_SNIFF_DONE_FOUND)
        return;
    if (strcmp(a->out.domain, b->out.domain) != 0 || strcmp(a->out.protocol, b->out.protocol) != 0 ||
        strcmp(a->out.alpn, b->out.alpn) != 0)
        abort();
    if (same_read && a->at != b->at)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    static struct vr_sniffer_ops http_1_0;
    const struct vr_sniffer_ops *all[4] = {
        vr_fuzz_module_tls.ops, vr_fuzz_module_http.ops, vr_fuzz_module_dns.ops, vr_fuzz_module_quic.ops};
    uint8_t pick = data[0];
    int legacy_http = (pick & 0x80) != 0;
    if (legacy_http) {
        /* As a module built for ABI 1.0 sees the table: no sniff_wake. */
        http_1_0 = *(const struct vr_sniffer_ops *)vr_fuzz_module_http.ops;
        http_1_0.size = (uint32_t)offsetof(struct vr_sniffer_ops, sniff_wake);
        http_1_0.sniff_wake = NULL;
        all[1] = &http_1_0;
    }
    /* Rotation (bits 0-1) and which of the four take part (bits 2-5). */
    struct vr_sniff_set set = {0};
    for (int k = 0; k < 4; k++) {
        int i = (k + (pick & 3)) % 4;
        if ((pick >> 2) & (1u << i))
            continue;
        set.ops[set.n] = all[i];
        set.state[set.n] = NULL;
        set.name[set.n] = all[i]->protocol;
        set.n++;
    }
    if (set.n == 0)
        return 0;
    uint32_t seed;
    memcpy(&seed, data + 1, sizeof(seed));
    seed |= 1; /* xorshift needs a non-zero state */
    const uint8_t *d = data + 5;
    size_t len = size - 5;
    if (len > VR_SNIFF_MAX_BYTES)
        len = VR_SNIFF_MAX_BYTES;

    struct result lazy = run_lazy(&set, d, len, seed);
    struct result eager = run_eager(&set, d, len, seed);

    /* How many sniffers find something in the whole input. */
    int found = 0;
    for (int i = 0; i < set.n; i++) {
        struct vr_sniff_out o;
        memset(&o, 0, sizeof(o));
        o.size = sizeof(o);
        if (set.ops[i]->sniff(NULL, d, len, &o) == VR_SNIFF_FOUND)
            found++;
    }
    /* A 1.0 sniffer may be decided some reads late; then another sniffer of
     * the set can win in between, which by design only an overlap allows. */
    if (!legacy_http || found <= 1)
        check_same(&lazy, &eager, !legacy_http);
    if (found <= 1) {
        struct result whole = {.at = len};
        whole.verdict = vr_sniff_set_run(&set, d, len, &whole.out);
        check_same(&lazy, &whole, 0);
    }
    return 0;
}
