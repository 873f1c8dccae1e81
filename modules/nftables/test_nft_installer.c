/* nftables installer against the real kernel, in a private network
 * namespace: ruleset accepted, atomic replace, failed transaction changes
 * nothing, ownership check, rename, delete; other tables untouched. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nft_conf.h"
#include "nft_counters.h"
#include "vr_test.h"

static char *list(const char *what)
{
    char *out = NULL, *err = NULL;
    nftm_run(what, &out, &err);
    free(err);
    return out ? out : strdup("");
}

static int run(const char *buf)
{
    char *err = NULL;
    int e = nftm_run(buf, NULL, &err);
    if (e < 0)
        fprintf(stderr, "  nft: %s\n", err ? err : "?");
    free(err);
    return e;
}

static int run_txn(char *txn)
{
    int e = txn ? run(txn) : -ENOMEM;
    free(txn);
    return e;
}

static void push(char ***arr, int *n, const char *s)
{
    *arr = realloc(*arr, ((size_t)*n + 1) * sizeof(**arr));
    (*arr)[(*n)++] = strdup(s);
}

static int has(const char *hay, const char *needle)
{
    if (strstr(hay, needle) != NULL)
        return 1;
    fprintf(stderr, "  lacks [%s] in:\n%s\n", needle, hay);
    return 0;
}

/* The fast path's counters, as nft lists them (tab-indented). */
struct seen {
    char text[512];
};
static void seen_line(void *arg, const char *rule, const char *verdict, uint64_t packets, uint64_t bytes)
{
    struct seen *s = arg;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof(s->text) - n, "[%s|%s|%llu|%llu]", rule, verdict, (unsigned long long)packets,
             (unsigned long long)bytes);
}

static void test_parse_counters(void)
{
    const char *listing = "table inet vrouter {\n"
                          "\tchain fastpath {\n"
                          "\t\tip daddr @r2_d4 counter packets 3 bytes 180 return comment \"rule #2: captured\"\n"
                          "\t\ttcp dport 81 counter packets 7 bytes 420 meta mark set 0x76720001 ct mark set meta mark "
                          "accept comment \"rule #4: forwarded, mark 0x76720001\"\n"
                          "\t\tmeta l4proto udp counter packets 2 bytes 100 reject comment \"a: b: reject\"\n"
                          "\t\tcounter packets 12 bytes 3456 ct mark set 0x7672ffff accept comment \"final: forwarded\"\n"
                          "\t\tip daddr 192.0.2.1 accept comment \"no counter: left out\"\n"
                          "\t}\n\tchain fastpath_notrack_reply {\n"
                          "\t\tip saddr @r5_d4 counter packets 9 bytes 9000 notrack accept comment \"rule #5: stateless\"\n"
                          "\t}\n}\n";
    struct seen s = {""};
    nftm_parse_counters(listing, seen_line, &s);
    CHECK(strcmp(s.text, "[rule #2|captured|3|180][rule #4|forwarded|7|420][a: b|reject|2|100][final|forwarded|12|3456]"
                          "[rule #5|stateless|9|9000]") ==
          0);
    if (strcmp(s.text, "[rule #2|captured|3|180][rule #4|forwarded|7|420][a: b|reject|2|100][final|forwarded|12|3456]"
                       "[rule #5|stateless|9|9000]"))
        fprintf(stderr, "  parsed: %s\n", s.text);
}

int main(void)
{
    test_parse_counters();
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "unshare(CLONE_NEWNET): %s (this test needs root)\n", strerror(errno));
        CHECK(!"network namespace");
        return vr_test_report();
    }
    /* someone else's tables */
    CHECK(run("table inet other { chain c { type filter hook prerouting priority 0; }; }") == 0);
    CHECK(run("table inet vrouter2 { }") == 0);
    char *others = list("list table inet other");

    struct nftm_conf a = {.port = 7893, .tcp = 1, .mark = 0x1, .bypass_mark = 0xff};
    strcpy(a.table, "vrouter");
    push(&a.ifaces, &a.n_ifaces, "rc");
    push(&a.bypass4, &a.n_bypass4, "198.18.0.0/15");
    push(&a.bypass6, &a.n_bypass6, "2001:db8:ffff::/48");

    char *err = NULL;
    CHECK(nftm_table_owner("vrouter", &err) == 0);
    CHECK(nftm_table_owner("vrouter2", &err) == -EEXIST);
    CHECK(run_txn(nftm_txn_replace(&a, NULL)) == 0);
    CHECK(nftm_table_owner("vrouter", &err) == 1);
    char *t = list("list table inet vrouter");
    CHECK(has(t, "type filter hook prerouting priority mangle; policy accept;"));
    CHECK(has(t, "meta mark 0x000000ff return"));
    CHECK(has(t, "iifname != \"rc\" return"));
    CHECK(has(t, "fib daddr type local return"));
    CHECK(has(t, "ip daddr 198.18.0.0/15 return"));
    CHECK(has(t, "ip6 daddr 2001:db8:ffff::/48 return"));
    /* bare SYNs skip the socket shortcut (TIME_WAIT reuse) */
    CHECK(has(t, "tcp flags != syn / fin,syn,rst,ack socket transparent 1 meta mark set 0x00000001 accept"));
    CHECK(strstr(t, "meta l4proto udp") == NULL);
    CHECK(has(t, "meta l4proto tcp tproxy to :7893 meta mark set 0x00000001 accept"));
    CHECK(strstr(t, "chain output") == NULL);
    free(t);

    /* offload = "stateless": the fast path text has the stateless chains;
     * the table gets a chain at raw priority for the interfaces' packets and
     * the main chain's jump for untracked ones, in the same transaction */
    struct nftm_conf st = a;
    st.udp = 1;
    st.fastpath = "  set r1_d4 {\n    type ipv4_addr; flags interval;\n    elements = { 198.51.100.0/24 }\n  }\n"
                  "  chain fastpath {\n    ip daddr @r1_d4 counter ct mark set 0x76720001 accept comment \"rule #1: forwarded\"\n  }\n"
                  "  chain fastpath_notrack {\n    ip daddr @r1_d4 counter notrack accept comment \"rule #1: stateless\"\n  }\n"
                  "  chain fastpath_notrack_reply {\n    ip saddr @r1_d4 fib daddr oifname != { \"rc\" } return\n"
                  "    ip saddr @r1_d4 counter notrack accept comment \"rule #1: stateless\"\n  }\n"
                  "  chain fastpath_untracked {\n    ip daddr @r1_d4 accept\n  }\n";
    CHECK(run_txn(nftm_txn_replace(&st, NULL)) == 0);
    t = list("list table inet vrouter");
    CHECK(has(t, "chain stateless {\n\t\ttype filter hook prerouting priority raw; policy accept;"));
    CHECK(has(t, "meta l4proto != { tcp, udp } return\n\t\tiifname \"rc\" goto stateless_original\n"
                 "\t\tgoto stateless_reply\n"));
    CHECK(has(t, "ip saddr 198.18.0.0/15 return\n\t\tip6 saddr 2001:db8:ffff::/48 return\n\t\tgoto fastpath_notrack_reply"));
    CHECK(has(t, "ip saddr @r1_d4 fib daddr oifname != \"rc\" return"));
    CHECK(has(t, "iifname != \"rc\" return\n\t\tct state untracked jump fastpath_untracked\n\t\tct direction reply return"));
    free(t);
    /* capturing on every interface: no reply direction to tell, no chain */
    st.ifaces = NULL;
    st.n_ifaces = 0;
    CHECK(run_txn(nftm_txn_replace(&st, NULL)) == 0);
    t = list("list table inet vrouter");
    CHECK(strstr(t, "chain stateless") == NULL && strstr(t, "ct state untracked") == NULL);
    free(t);
    CHECK(run_txn(nftm_txn_replace(&a, NULL)) == 0);

    /* the same replace again (a stale table from a dead run) gives one table */
    CHECK(run_txn(nftm_txn_replace(&a, NULL)) == 0);
    t = list("list tables");
    CHECK(has(t, "table inet vrouter\n"));
    CHECK(strstr(strstr(t, "table inet vrouter\n") + 1, "table inet vrouter\n") == NULL);
    free(t);

    /* B: tcp+udp, all interfaces, capture_local */
    struct nftm_conf b = a;
    b.ifaces = NULL;
    b.n_ifaces = 0;
    b.udp = 1;
    b.capture_local = 1;
    CHECK(run_txn(nftm_txn_replace(&b, "vrouter")) == 0);
    t = list("list table inet vrouter");
    CHECK(strstr(t, "iifname != ") == NULL);
    CHECK(has(t, "iifname \"lo\" meta mark != 0x00000001 return"));
    CHECK(has(t, "tcp flags != syn / fin,syn,rst,ack socket transparent 1 meta mark set 0x00000001 accept"));
    CHECK(has(t, "meta l4proto udp socket transparent 1 meta mark set 0x00000001 accept"));
    CHECK(has(t, "meta l4proto { tcp, udp } tproxy to :7893"));
    CHECK(has(t, "type route hook output priority mangle; policy accept;"));
    CHECK(has(t, "meta mark != 0x00000000 return"));
    CHECK(has(t, "ct direction reply return"));
    CHECK(has(t, "meta l4proto { tcp, udp } meta mark set 0x00000001"));

    /* a transaction that fails changes nothing */
    struct nftm_conf bad = b;
    bad.bypass4 = NULL;
    bad.n_bypass4 = 0;
    push(&bad.bypass4, &bad.n_bypass4, "198.18.0.0/15");
    push(&bad.bypass4, &bad.n_bypass4, "198.18.0.0/40");
    CHECK(run_txn(nftm_txn_replace(&bad, "vrouter")) < 0);
    char *t2 = list("list table inet vrouter");
    CHECK(strcmp(t, t2) == 0);
    free(t2);
    free(t);
    for (int i = 0; i < bad.n_bypass4; i++)
        free(bad.bypass4[i]);
    free(bad.bypass4);

    /* rename: the old table goes in the same transaction */
    struct nftm_conf c = b;
    strcpy(c.table, "vrouter_b");
    CHECK(run_txn(nftm_txn_replace(&c, "vrouter")) == 0);
    CHECK(nftm_table_owner("vrouter", &err) == 0);
    CHECK(nftm_table_owner("vrouter_b", &err) == 1);

    /* delete, twice */
    CHECK(run_txn(nftm_txn_delete("vrouter_b")) == 0);
    CHECK(run_txn(nftm_txn_delete("vrouter_b")) == 0);
    CHECK(nftm_table_owner("vrouter_b", &err) == 0);

    /* the others never moved */
    t = list("list table inet other");
    CHECK(strcmp(t, others) == 0);
    free(t);
    CHECK(nftm_table_owner("vrouter2", &err) == -EEXIST);
    free(others);
    nftm_conf_free(&a);
    return vr_test_report();
}
