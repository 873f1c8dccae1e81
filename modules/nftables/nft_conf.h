/*
 * nftables installer: its settings and the ruleset text they produce.
 *
 * The module owns one `inet` table (default "vrouter") carrying the comment
 * NFTM_OWNER_COMMENT; a table of that name without the comment is someone
 * else's and is never touched.
 */
#ifndef NFT_CONF_H
#define NFT_CONF_H

#include <stdint.h>

#define NFTM_OWNER_COMMENT "vrouterd nftables installer"
#define NFTM_DEFAULT_TABLE "vrouter"
#define NFTM_DEFAULT_MARK 0x1
#define NFTM_MAX_LIST 256

struct nftm_conf {
    char table[64];
    uint16_t port;      /* the listener's port */
    int tcp, udp;       /* which protocols the listener takes */
    uint32_t mark;      /* the tproxy mark (policy-routing's tproxy.mark) */
    uint32_t bypass_mark; /* the daemon's SO_MARK; 0 when none */
    int capture_local;
    char **ifaces;
    int n_ifaces;
    char **bypass4; /* CIDR text, validated */
    int n_bypass4;
    char **bypass6;
    int n_bypass6;
    /* The kernel fast path (host->route_plan_nft, ABI 1.1): sets and the
     * chain `fastpath`, jumped to right before the tproxy statement; NULL
     * when off or nothing can be decided in the kernel. */
    char *fastpath;
};

void nftm_conf_free(struct nftm_conf *c);

/* "table inet NAME { ... }" for c; malloc'd, NULL on out of memory. */
char *nftm_ruleset(const struct nftm_conf *c);
/* One nft transaction that replaces (or creates) c's table and, when
 * old_table is given and differs, deletes that one too. */
char *nftm_txn_replace(const struct nftm_conf *c, const char *old_table);
/* One nft transaction deleting the table if it exists. */
char *nftm_txn_delete(const char *table);

/* Is "198.18.0.0/15" / "2001:db8::/32" / a bare address valid? Returns
 * AF_INET, AF_INET6 or 0 when not. */
int nftm_cidr_family(const char *text);
/* Interface names we accept: [A-Za-z0-9_.-], 1..max-1 chars. */
int nftm_name_ok(const char *s, int max);

/* 1 if a policy rule of family (AF_INET, AF_INET6) sends packets carrying
 * mark to a routing table, 0 if none does, -EIO/-ENOMEM when netlink fails. */
int nftm_mark_routed(uint32_t mark, int family);

/* Run buffer as one libnftables call. out (may be NULL) receives nft's
 * output, err its error text; both malloc'd. Returns 0 or -EIO. */
int nftm_run(const char *buf, char **out, char **err);
/* The same with libnftables output flags (NFT_CTX_OUTPUT_*) added. */
int nftm_run_output(const char *buf, unsigned int output_flags, char **out, char **err);
/* 1 if table exists and is ours, 0 if absent, -EEXIST if it exists but
 * lacks our comment, -EIO when nft fails (err set). */
int nftm_table_owner(const char *table, char **err);

#endif
