/* nftables installer: the ruleset text (a pure function of the settings). */
#include "nft_conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <vrouter/vr_host.h>

struct nftm_buf {
    char *p;
    size_t len, cap;
    int oom;
};

static void nftm_put(struct nftm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void nftm_put(struct nftm_buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p != NULL && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static char *nftm_done(struct nftm_buf *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

static void nftm_put_list(struct nftm_buf *b, char **items, int n, int quoted)
{
    nftm_put(b, "{ ");
    for (int i = 0; i < n; i++)
        nftm_put(b, quoted ? "%s\"%s\"" : "%s%s", i ? ", " : "", items[i]);
    nftm_put(b, " }");
}

/* Statements shared by both chains: the destinations never captured. */
static void nftm_put_bypass(struct nftm_buf *b, const struct nftm_conf *c)
{
    nftm_put(b, "    fib daddr type local return\n");
    if (c->n_bypass4 > 0) {
        nftm_put(b, "    ip daddr ");
        nftm_put_list(b, c->bypass4, c->n_bypass4, 0);
        nftm_put(b, " return\n");
    }
    if (c->n_bypass6 > 0) {
        nftm_put(b, "    ip6 daddr ");
        nftm_put_list(b, c->bypass6, c->n_bypass6, 0);
        nftm_put(b, " return\n");
    }
}

static const char *nftm_l4(const struct nftm_conf *c)
{
    if (c->tcp && c->udp)
        return "{ tcp, udp }";
    return c->udp ? "udp" : "tcp";
}

/* Every later segment of a TCP connection the fast path forwarded (its
 * conntrack mark says so, see docs/INSTALLERS.md) leaves at once, with its
 * routing mark back and counted for its rule (the chain fastpath_seg_N the
 * verdict map names), before the fib and socket lookups: forwarding then
 * costs what plain kernel forwarding with conntrack costs. Present even when
 * this generation has no fast path, so connections forwarded before a reload
 * that turned it off (or captured their rule) are not answered with a RST. */
static void nftm_put_forwarded(struct nftm_buf *b, const struct nftm_conf *c)
{
    if (!c->tcp)
        return;
    if (c->fastpath && strstr(c->fastpath, "map fastpath_seg {"))
        nftm_put(b, "    tcp flags & (fin | syn | rst | ack) != syn ct mark & 0x%x == 0x%x "
                    "meta mark set ct mark map @fastpath_route ct mark vmap @fastpath_seg\n",
                 VR_FASTPATH_CT_MASK, VR_FASTPATH_CT_BASE);
    nftm_put(b, "    tcp flags & (fin | syn | rst | ack) != syn ct mark & 0x%x == 0x%x accept\n", VR_FASTPATH_CT_MASK,
             VR_FASTPATH_CT_BASE);
}

/* The fast path text has the chains of offload = "stateless" rules. */
static int nftm_stateless(const struct nftm_conf *c)
{
    return c->fastpath && c->n_ifaces > 0 && strstr(c->fastpath, "chain fastpath_notrack {") != NULL;
}

/* offload = "stateless" (docs/INSTALLERS.md): a chain at raw priority,
 * before conntrack, sends TCP/UDP packets from the capture interfaces (the
 * original direction) through fastpath_notrack and the others (maybe the
 * reply direction) through fastpath_notrack_reply; there a stateless rule's
 * flows get notrack (the core's lines check, on a match, that the packet is
 * not for the router itself, and that a reply is routed back out of these
 * interfaces); every other flow returns, tracked and decided by the main
 * chain as before. The bypass prefixes are never untracked, as they are
 * never captured nor forwarded by the fast path. ICMP stays tracked (the
 * rules' ports mean nothing to it; its errors stay related). */
static void nftm_put_notrack(struct nftm_buf *b, const struct nftm_conf *c)
{
    nftm_put(b, "  chain stateless {\n"
                "    type filter hook prerouting priority raw; policy accept;\n");
    if (c->bypass_mark != 0)
        nftm_put(b, "    meta mark 0x%x return\n", c->bypass_mark);
    nftm_put(b, "    meta l4proto != %s return\n    iifname ", nftm_l4(c));
    nftm_put_list(b, c->ifaces, c->n_ifaces, 1);
    nftm_put(b, " goto stateless_original\n"
                "    goto stateless_reply\n"
                "  }\n  chain stateless_original {\n");
    if (c->n_bypass4 > 0) {
        nftm_put(b, "    ip daddr ");
        nftm_put_list(b, c->bypass4, c->n_bypass4, 0);
        nftm_put(b, " return\n");
    }
    if (c->n_bypass6 > 0) {
        nftm_put(b, "    ip6 daddr ");
        nftm_put_list(b, c->bypass6, c->n_bypass6, 0);
        nftm_put(b, " return\n");
    }
    nftm_put(b, "    goto fastpath_notrack\n  }\n  chain stateless_reply {\n");
    if (c->n_bypass4 > 0) {
        nftm_put(b, "    ip saddr ");
        nftm_put_list(b, c->bypass4, c->n_bypass4, 0);
        nftm_put(b, " return\n");
    }
    if (c->n_bypass6 > 0) {
        nftm_put(b, "    ip6 saddr ");
        nftm_put_list(b, c->bypass6, c->n_bypass6, 0);
        nftm_put(b, " return\n");
    }
    nftm_put(b, "    goto fastpath_notrack_reply\n  }\n");
}

static void nftm_put_table(struct nftm_buf *b, const struct nftm_conf *c)
{
    nftm_put(b, "table inet %s {\n  comment \"" NFTM_OWNER_COMMENT "\"\n", c->table);
    if (c->fastpath)
        nftm_put(b, "%s", c->fastpath);
    if (nftm_stateless(c))
        nftm_put_notrack(b, c);
    nftm_put(b, "  chain prerouting {\n"
                "    type filter hook prerouting priority mangle; policy accept;\n");
    if (c->bypass_mark != 0)
        nftm_put(b, "    meta mark 0x%x return\n", c->bypass_mark);
    /* The replies of flows the fast path forwarded (they arrive on any
     * interface) are counted for their rule, as their original direction is
     * below: the rule's counters then hold both directions. */
    if (c->fastpath && strstr(c->fastpath, "map fastpath_seg {"))
        nftm_put(b, "    ct direction reply ct mark & 0x%x == 0x%x ct mark vmap @fastpath_seg\n", VR_FASTPATH_CT_MASK,
                 VR_FASTPATH_CT_BASE);
    if (c->n_ifaces > 0) {
        nftm_put(b, "    iifname != ");
        char *lo = "lo";
        char **all = calloc((size_t)c->n_ifaces + 1, sizeof(*all));
        if (all == NULL) {
            b->oom = 1;
            return;
        }
        memcpy(all, c->ifaces, (size_t)c->n_ifaces * sizeof(*all));
        int n = c->n_ifaces;
        if (c->capture_local)
            all[n++] = lo;
        nftm_put_list(b, all, n, 1);
        free(all);
        nftm_put(b, " return\n");
    }
    if (c->capture_local) /* lo carries our own rerouted traffic, marked by output */
        nftm_put(b, "    iifname \"lo\" meta mark != 0x%x return\n", c->mark);
    else if (c->n_ifaces == 0)
        nftm_put(b, "    iifname \"lo\" return\n");
    /* Untracked by a stateless rule at raw priority: forwarded by it (no
     * capture below, nothing that needs conntrack); an untracked packet no
     * stateless rule matches returns here and goes on as before. */
    if (nftm_stateless(c))
        nftm_put(b, "    ct state untracked jump fastpath_untracked\n");
    /* A reply belongs to a connection conntrack already has: forwarded by
     * the kernel or one of a local socket. Never captured, and spared the
     * lookups below (a LAN host's own server answers through here too). */
    nftm_put(b, "    ct direction reply return\n");
    nftm_put_forwarded(b, c);
    nftm_put_bypass(b, c);
    /* Packets of connections vrouterd already holds skip the tproxy lookup.
     * A bare SYN never takes this shortcut: 'socket' also finds TIME_WAIT
     * sockets, which answer a SYN from a reused client port with an ACK
     * (RST, then a ~10 ms retry); tproxy hands that SYN to the listener. */
    if (c->tcp)
        nftm_put(b, "    tcp flags & (fin | syn | rst | ack) != syn socket transparent 1 "
                    "meta mark set 0x%x accept\n",
                 c->mark);
    /* UDP: a transparent reply socket bound to the original destination
     * takes the client's later datagrams (see docs/UDP.md). */
    if (c->udp)
        nftm_put(b, "    meta l4proto udp socket transparent 1 meta mark set 0x%x accept\n", c->mark);
    /* The kernel fast path: after the shortcuts above (packets of flows
     * vrouterd already holds stay with it across a reload), before the
     * capture. Its accept/reject/drop decide the flow; return captures it. */
    if (c->fastpath) {
        /* TCP connections the fast path forwarded left at the mark lines
         * above. No `ct state established accept` here: a captured
         * connection is established in conntrack too, and a late segment
         * of one whose vrouterd socket is gone would leave for its real
         * destination past the outbound the rules chose (a leak around a
         * tunnel); the listener answers it with a RST instead. A UDP flow's
         * routing mark (set on its first datagram, kept in conntrack) is
         * put back on every later one, which still passes the chain. */
        if (c->udp && strstr(c->fastpath, "map fastpath_route {"))
            nftm_put(b, "    meta l4proto udp meta mark set ct mark map @fastpath_route\n");
        nftm_put(b, "    meta l4proto %s jump fastpath\n", nftm_l4(c));
    }
    nftm_put(b,
             "    meta l4proto %s tproxy to :%u meta mark set 0x%x accept\n"
             "  }\n",
             nftm_l4(c), c->port, c->mark);
    if (c->capture_local) {
        nftm_put(b, "  chain output {\n"
                    "    type route hook output priority mangle; policy accept;\n"
                    /* marked already: vrouterd's own sockets (bypass_mark, an
                     * outbound's routing_mark) or another daemon's (wireguard) */
                    "    meta mark != 0 return\n"
                    /* replies of connections vrouterd accepted */
                    "    ct direction reply return\n"
                    "    oifname \"lo\" return\n");
        nftm_put_bypass(b, c);
        /* The router's own flows meet the fast path here, before the mark
         * that reroutes them to vrouterd: a forwarded one must leave
         * unmarked (or with its routing mark), as it would from a LAN host;
         * decided again in prerouting on lo it would be delivered locally,
         * to no socket. Its later segments leave by its conntrack mark. */
        nftm_put_forwarded(b, c);
        if (c->fastpath) {
            if (c->udp && strstr(c->fastpath, "map fastpath_route {"))
                nftm_put(b, "    meta l4proto udp meta mark set ct mark map @fastpath_route\n");
            nftm_put(b, "    meta l4proto %s jump fastpath\n", nftm_l4(c));
        }
        nftm_put(b, "    meta l4proto %s meta mark set 0x%x\n  }\n", nftm_l4(c), c->mark);
    }
    nftm_put(b, "}\n");
}

char *nftm_ruleset(const struct nftm_conf *c)
{
    struct nftm_buf b = {0};
    nftm_put_table(&b, c);
    return nftm_done(&b);
}

char *nftm_txn_replace(const struct nftm_conf *c, const char *old_table)
{
    struct nftm_buf b = {0};
    /* "add" makes sure the table exists so that "delete" cannot fail; all of
     * it is one transaction, so the old table stays if anything fails. */
    nftm_put(&b, "add table inet %s\ndelete table inet %s\n", c->table, c->table);
    if (old_table != NULL && strcmp(old_table, c->table) != 0)
        nftm_put(&b, "add table inet %s\ndelete table inet %s\n", old_table, old_table);
    nftm_put_table(&b, c);
    return nftm_done(&b);
}

char *nftm_txn_delete(const char *table)
{
    struct nftm_buf b = {0};
    nftm_put(&b, "add table inet %s\ndelete table inet %s\n", table, table);
    return nftm_done(&b);
}

int nftm_cidr_family(const char *text)
{
    char buf[INET6_ADDRSTRLEN + 8];
    uint8_t a[16];
    if (strlen(text) >= sizeof(buf))
        return 0;
    strcpy(buf, text);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash != NULL) {
        char *end;
        *slash = '\0';
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0' || end == slash + 1)
            return 0;
    }
    int fam;
    if (inet_pton(AF_INET, buf, a) == 1)
        fam = AF_INET;
    else if (inet_pton(AF_INET6, buf, a) == 1)
        fam = AF_INET6;
    else
        return 0;
    int bits = fam == AF_INET ? 32 : 128;
    if (prefix < 0)
        prefix = bits;
    if (prefix > bits)
        return 0;
    for (int i = (int)prefix; i < bits; i++)
        if (a[i / 8] & (0x80 >> (i % 8)))
            return 0; /* host bits set: nft would refuse it */
    return fam;
}

int nftm_name_ok(const char *s, int max)
{
    int n = (int)strlen(s);
    if (n == 0 || n >= max)
        return 0;
    for (int i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}

void nftm_conf_free(struct nftm_conf *c)
{
    for (int i = 0; i < c->n_ifaces; i++)
        free(c->ifaces[i]);
    for (int i = 0; i < c->n_bypass4; i++)
        free(c->bypass4[i]);
    for (int i = 0; i < c->n_bypass6; i++)
        free(c->bypass6[i]);
    free(c->ifaces);
    free(c->bypass4);
    free(c->bypass6);
    free(c->fastpath);
    memset(c, 0, sizeof(*c));
}
