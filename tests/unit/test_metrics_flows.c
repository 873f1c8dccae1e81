/* The metrics' counting pieces: every end reason vr_conn.c logs folds into
 * the fixed `end` set; histogram bounds are inclusive (le) and the last
 * bucket is +Inf; a (listener, outbound) pair keeps one slot; sniff
 * protocols past the table are counted as "other", never dropped. */
#include <stdio.h>
#include <string.h>

#include "vr_histogram.h"
#include "vr_metrics_flows.h"
#include "vr_test.h"

static void test_ends(void)
{
    struct {
        const char *why;
        enum vr_end want;
    } cases[] = {
        {"closed", VR_END_CLOSED},
        {"client closed before sending", VR_END_CLOSED},
        {NULL, VR_END_CLOSED},
        {"reset", VR_END_RESET},
        {"reset while sniffing", VR_END_RESET},
        {"broken pipe", VR_END_RESET},
        {"idle timeout", VR_END_IDLE_TIMEOUT},
        {"connect failed: Connection refused", VR_END_CONNECT_FAILED},
        {"connect failed: connect timeout", VR_END_CONNECT_FAILED},
        {"refused: loop", VR_END_REFUSED},
        {"killed by control", VR_END_KILLED},
        {"retire timeout (daemon.retire_timeout_s)", VR_END_RETIRED},
        {"shutdown", VR_END_SHUTDOWN},
        {"rejected by rule #2", VR_END_REJECTED},
        {"dropped by rule #12", VR_END_DROPPED},
        {"out of memory", VR_END_ERROR},
        {"no original destination: Bad file descriptor", VR_END_ERROR},
        {"Connection timed out", VR_END_ERROR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum vr_end got = vr_end_of(cases[i].why);
        if (got != cases[i].want)
            fprintf(stderr, "end of \"%s\": %s, want %s\n", cases[i].why ? cases[i].why : "(null)", vr_end_name(got),
                    vr_end_name(cases[i].want));
        CHECK(got == cases[i].want);
    }
    CHECK(strcmp(vr_end_name(VR_END_CONNECT_FAILED), "connect_failed") == 0);
    CHECK(strcmp(vr_end_name(VR_END_IDLE_TIMEOUT), "idle_timeout") == 0);
    CHECK(strcmp(vr_end_name(VR_END_REJECTED), "rejected") == 0);
    CHECK(strcmp(vr_end_name(VR_END_DROPPED), "dropped") == 0);
}

static void test_histogram(void)
{
    struct vr_histogram h = {0}, sum = {0};
    vr_histogram_observe(&h, 0);     /* le 0.001 */
    vr_histogram_observe(&h, 1);     /* le 0.001: bounds are inclusive */
    vr_histogram_observe(&h, 2);     /* le 0.005 */
    vr_histogram_observe(&h, 10000); /* le 10 */
    vr_histogram_observe(&h, 10001); /* +Inf */
    CHECK(h.counts[0] == 2);
    CHECK(h.counts[1] == 1);
    CHECK(h.counts[VR_HISTOGRAM_BUCKETS - 1] == 1);
    CHECK(h.counts[VR_HISTOGRAM_BUCKETS] == 1);
    CHECK(h.count == 5);
    CHECK(h.sum_ms == 20004);
    vr_histogram_add(&sum, &h);
    vr_histogram_add(&sum, &h);
    CHECK(sum.count == 10 && sum.counts[0] == 4 && sum.sum_ms == 40008);
}

static void test_slots(void)
{
    struct vr_flow_stats fs = {0};
    int a = vr_flow_stats_slot(&fs, "tp", "direct");
    int b = vr_flow_stats_slot(&fs, "tp", "wan-b");
    int c = vr_flow_stats_slot(&fs, "tp2", "direct");
    CHECK(a >= 0 && b >= 0 && c >= 0 && a != b && b != c && a != c);
    /* Many pairs: the table grows, earlier indexes stay valid. */
    char ob[32];
    for (int i = 0; i < 100; i++) {
        snprintf(ob, sizeof(ob), "ob%d", i);
        CHECK(vr_flow_stats_slot(&fs, "tp", ob) == 3 + i);
    }
    CHECK(vr_flow_stats_slot(&fs, "tp", "direct") == a);
    CHECK(vr_flow_stats_slot(&fs, "tp2", "direct") == c);
    CHECK(strcmp(fs.slots[b].outbound, "wan-b") == 0);
    CHECK(fs.n == 103);

    char proto[16];
    for (int i = 0; i < 20; i++) {
        snprintf(proto, sizeof(proto), "p%d", i);
        vr_flow_stats_sniffed(&fs, proto, 3, 0);
    }
    vr_flow_stats_sniffed(&fs, "p0", 3, 0);
    vr_flow_stats_sniffed(&fs, NULL, 100, 1);
    vr_flow_stats_sniffed(&fs, NULL, 5, 0);
    CHECK(fs.sniff.n == 16);
    CHECK(fs.sniff.found[0].found == 2);
    CHECK(fs.sniff.found_other == 4);
    CHECK(fs.sniff.timeout == 1 && fs.sniff.unknown == 1);
    CHECK(fs.sniff_wait.count == 23);
    /* UDP sessions' verdicts are their own tally, no wait histogram */
    vr_flow_stats_udp_sniffed(&fs, "quic", 0);
    vr_flow_stats_udp_sniffed(&fs, NULL, 0);
    vr_flow_stats_udp_sniffed(&fs, NULL, 1);
    CHECK(fs.udp_sniff.n == 1 && fs.udp_sniff.found[0].found == 1 && strcmp(fs.udp_sniff.found[0].protocol, "quic") == 0);
    CHECK(fs.udp_sniff.unknown == 1 && fs.udp_sniff.timeout == 1);
    CHECK(fs.sniff.n == 16 && fs.sniff_wait.count == 23);
    vr_flow_stats_fini(&fs);
    CHECK(fs.n == 0 && fs.slots == NULL);
}

int main(void)
{
    test_ends();
    test_histogram();
    test_slots();
    return vr_test_report();
}
