/* nftables installer: the fast path chain's counters (nft_counters.c). */
#ifndef NFT_COUNTERS_H
#define NFT_COUNTERS_H

#include <vrouter/vr_installer.h>

/* One emit per listed line with a counter and a "NAME: VERDICT" comment. */
void nftm_parse_counters(const char *listing, vr_rule_counter_emit emit, void *arg);
/* Lists table inet `table` (terse) and parses the counter lines of its
 * chains fastpath and fastpath_seg_N. 0 or -EIO (*err). */
int nftm_read_counters(const char *table, vr_rule_counter_emit emit, void *arg, char **err);

#endif
