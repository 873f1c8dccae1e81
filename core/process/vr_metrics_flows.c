#include "vr_metrics_flows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* The one place that knows vr_conn.c's end reasons; an unknown one is an
 * error, so a new reason shows up rather than vanishing. */
enum vr_end vr_end_of(const char *why)
{
    if (why == NULL || strcmp(why, "closed") == 0 || strcmp(why, "client closed before sending") == 0)
        return VR_END_CLOSED;
    if (starts(why, "reset") || strcmp(why, "broken pipe") == 0)
        return VR_END_RESET;
    if (strcmp(why, "idle timeout") == 0)
        return VR_END_IDLE_TIMEOUT;
    if (starts(why, "connect failed"))
        return VR_END_CONNECT_FAILED;
    if (starts(why, "refused"))
        return VR_END_REFUSED;
    if (starts(why, "killed"))
        return VR_END_KILLED;
    if (starts(why, "retire"))
        return VR_END_RETIRED;
    if (starts(why, "rejected by rule"))
        return VR_END_REJECTED;
    if (starts(why, "dropped by rule"))
        return VR_END_DROPPED;
    if (strcmp(why, "shutdown") == 0 || starts(why, "drain"))
        return VR_END_SHUTDOWN;
    return VR_END_ERROR;
}

const char *vr_end_name(enum vr_end e)
{
    static const char *names[VR_END_N] = {"closed",  "reset",   "idle_timeout", "connect_failed", "refused",
                                          "killed",  "retired", "shutdown",     "error",
                                          "rejected", "dropped"};
    return (unsigned)e < VR_END_N ? names[e] : "error";
}

int vr_flow_stats_slot(struct vr_flow_stats *fs, const char *listener, const char *outbound)
{
    for (uint32_t i = 0; i < fs->n; i++)
        if (strcmp(fs->slots[i].listener, listener) == 0 && strcmp(fs->slots[i].outbound, outbound) == 0)
            return (int)i;
    if (fs->n == fs->cap) {
        uint32_t cap = fs->cap ? fs->cap * 2 : 8;
        struct vr_flow_slot *s = realloc(fs->slots, cap * sizeof(*s));
        if (s == NULL)
            return -1;
        fs->slots = s;
        fs->cap = cap;
    }
    struct vr_flow_slot *s = &fs->slots[fs->n];
    memset(s, 0, sizeof(*s));
    s->listener = strdup(listener);
    s->outbound = strdup(outbound);
    if (s->listener == NULL || s->outbound == NULL) {
        free(s->listener);
        free(s->outbound);
        return -1;
    }
    return (int)fs->n++;
}

static void tally(struct vr_sniff_tally *t, const char *protocol, int timed_out)
{
    if (protocol == NULL) {
        if (timed_out)
            t->timeout++;
        else
            t->unknown++;
        return;
    }
    for (uint32_t i = 0; i < t->n; i++)
        if (strcmp(t->found[i].protocol, protocol) == 0) {
            t->found[i].found++;
            return;
        }
    /* Protocols are named by the loaded sniffers: a handful. Past the
     * table, counted together rather than growing a label without bound. */
    if (t->n < sizeof(t->found) / sizeof(t->found[0])) {
        struct vr_sniff_slot *s = &t->found[t->n++];
        snprintf(s->protocol, sizeof(s->protocol), "%s", protocol);
        s->found = 1;
        return;
    }
    t->found_other++;
}

void vr_flow_stats_sniffed(struct vr_flow_stats *fs, const char *protocol, uint64_t wait_ms, int timed_out)
{
    vr_histogram_observe(&fs->sniff_wait, wait_ms);
    tally(&fs->sniff, protocol, timed_out);
}

void vr_flow_stats_udp_sniffed(struct vr_flow_stats *fs, const char *protocol, int timed_out)
{
    tally(&fs->udp_sniff, protocol, timed_out);
}

void vr_flow_stats_fini(struct vr_flow_stats *fs)
{
    for (uint32_t i = 0; i < fs->n; i++) {
        free(fs->slots[i].listener);
        free(fs->slots[i].outbound);
    }
    free(fs->slots);
    memset(fs, 0, sizeof(*fs));
}
