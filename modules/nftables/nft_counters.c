/* nftables installer: the fast path chain's per-rule counters, read from
 * `nft list chain inet <table> fastpath`. */
#include "nft_conf.h"
#include "nft_counters.h"

#include <inttypes.h>
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
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "list chain inet %s fastpath", table);
    char *out = NULL;
    int e = nftm_run(cmd, &out, err);
    if (e == 0)
        nftm_parse_counters(out, emit, arg);
    free(out);
    return e;
}
