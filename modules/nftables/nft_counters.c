/* nftables installer: the fast path chains' per-rule counters, read from
 * a terse `nft list table inet <table>` (chains fastpath and fastpath_seg_N). */
#include "nft_conf.h"
#include "nft_counters.h"

#include <inttypes.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One listed rule: `... counter packets P bytes B ... comment "NAME: VERDICT[, ...]"`. */
static void parse_line(const char *line, vr_rule_counter_emit emit, void *arg)
{
    const char *c = strstr(line, "counter packets "); /* nft indents with tabs */
    if (c && c > line && c[-1] != ' ' && c[-1] != '\t')
        return;
    const char *m = strstr(line, "comment \"");
    uint64_t packets, bytes;
    if (c == NULL || m == NULL || sscanf(c, "counter packets %" SCNu64 " bytes %" SCNu64, &packets, &bytes) != 2)
        return;
    m += strlen("comment \"");
    const char *end = strchr(m, '"');
    if (end == NULL)
        return;
    char comment[256];
    snprintf(comment, sizeof(comment), "%.*s", (int)(end - m), m);
    /* the rule's name ends at the last ": " (a name may hold one itself) */
    char *sep = NULL;
    for (char *p = strstr(comment, ": "); p; p = strstr(p + 1, ": "))
        sep = p;
    if (sep == NULL)
        return;
    *sep = '\0';
    char *verdict = sep + 2;
    verdict[strcspn(verdict, ", ")] = '\0';
    emit(arg, comment, verdict, packets, bytes);
}

void nftm_parse_counters(const char *listing, vr_rule_counter_emit emit, void *arg)
{
    const char *p = listing;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, n);
        if (line) {
            parse_line(line, emit, arg);
            free(line);
        }
        p = nl ? nl + 1 : NULL;
    }
}

int nftm_read_counters(const char *table, vr_rule_counter_emit emit, void *arg, char **err)
{
    /* The chain fastpath (first packets) and each rule's segment chain
     * fastpath_seg_N (a TCP connection's later segments, and replies) in one
     * listing of the table: nft 1.0 cannot run several `list chain` in one
     * call. Terse: the sets' elements (an ip_set of 1M) are left out. Only
     * those chains' lines have a "NAME: VERDICT" comment. */
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "list table inet %s", table);
    char *out = NULL;
    int e = nftm_run_output(cmd, NFT_CTX_OUTPUT_TERSE, &out, err);
    if (e == 0)
        nftm_parse_counters(out, emit, arg);
    free(out);
    return e;
}
