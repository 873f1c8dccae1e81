/* nftables installer: does anything route the packets it marks? The table
 * only marks; a policy rule `fwmark MARK lookup T` (policy-routing's tproxy
 * block, or one written by hand) must deliver them to the listener. Read
 * from the kernel with libnl-route-3. */
#include "nft_conf.h"

#include <errno.h>
#include <sys/socket.h>

#include <netlink/netlink.h>
#include <netlink/route/rule.h>

struct nftm_rule_find {
    uint32_t mark;
    int found;
};

static void nftm_rule_visit(struct nl_object *obj, void *arg)
{
    struct nftm_rule_find *f = arg;
    struct rtnl_rule *r = (struct rtnl_rule *)obj;
    uint32_t mask = rtnl_rule_get_mask(r);
    if (mask == 0)
        mask = 0xffffffff;
    /* a rule with a mark selector that MARK satisfies, sending to a table */
    if (rtnl_rule_get_mark(r) != 0 && (f->mark & mask) == (rtnl_rule_get_mark(r) & mask) &&
        rtnl_rule_get_action(r) == FR_ACT_TO_TBL)
        f->found = 1;
}

int nftm_mark_routed(uint32_t mark, int family)
{
    struct nl_sock *sk = nl_socket_alloc();
    struct nl_cache *rules = NULL;
    if (sk == NULL)
        return -ENOMEM;
    int r = nl_connect(sk, NETLINK_ROUTE);
    if (r == 0)
        r = rtnl_rule_alloc_cache(sk, family, &rules);
    struct nftm_rule_find f = {mark, 0};
    if (r == 0)
        nl_cache_foreach(rules, nftm_rule_visit, &f);
    nl_cache_free(rules);
    nl_socket_free(sk);
    return r < 0 ? -EIO : f.found;
}
