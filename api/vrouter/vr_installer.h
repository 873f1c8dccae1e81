/*
 * vrouterd plugin ABI: routing installer modules (kind VR_KIND_INSTALLER).
 *
 * An installer owns kernel state (policy rules, routes, nftables tables)
 * that belongs to a config generation. Installers run on the main thread.
 *
 * Reload is transactional: the host calls apply(new, old) with the instance
 * of the same block in the generation being replaced (or NULL at start).
 * apply moves the kernel from what old installed to what new wants; if it
 * fails halfway it restores old's state itself and returns a negative
 * errno, and the old generation stays. After a successful apply the kernel
 * state belongs to new; old is later destroyed WITHOUT revert. revert
 * removes everything the instance owns (at exit). destroy frees memory only.
 */
#ifndef VROUTER_VR_INSTALLER_H
#define VROUTER_VR_INSTALLER_H

#include <vrouter/vr_host.h>

typedef void (*vr_plan_emit)(void *arg, const char *line);

/* One line of the kernel fast path's counters (1.1, rule_counters): the rule
 * as named in route_plan_nft's comments ("rule #4", a rule's name, "final"),
 * the line's verdict word ("forwarded", "reject", "drop", "captured") and
 * its nft counter. A rule may come in several lines (per family, TCP/UDP).
 * Appended (offload = "stateless"): route_plan_nft's text may also hold the
 * chains fastpath_notrack and fastpath_notrack_reply (to be jumped to at raw
 * priority, for TCP/UDP packets from the installer's interfaces and for the
 * other TCP/UDP packets respectively; their lines check the router's own
 * addresses and the route back themselves) and fastpath_untracked (to be
 * jumped to from the main chain for `ct state untracked` packets from the
 * interfaces, before the capture); their counted lines have the verdict
 * word "stateless". An installer that does not know them leaves them
 * unused: those flows are then forwarded tracked. */
typedef void (*vr_rule_counter_emit)(void *arg, const char *rule, const char *verdict, uint64_t packets,
                                     uint64_t bytes);

/* Mandatory (the loader refuses the module without them): create, destroy,
 * apply, revert. plan is optional. */
struct vr_installer_ops {
    uint32_t size; /* sizeof(struct vr_installer_ops) as the module was built */

    int (*create)(struct vr_instance *inst, const struct vr_host *host, void **state);
    void (*destroy)(void *state);

    int (*apply)(void *state, void *old_state);
    int (*revert)(void *state);
    /* Optional: describe, one line per change, what apply(state, old_state)
     * would do, without doing it. */
    int (*plan)(void *state, void *old_state, vr_plan_emit emit, void *arg);

    /* ---- 1.1, appended after plan: test VR_HAS(ops, rule_counters).
     * Optional: the counters of the kernel fast path chain this instance
     * installed (route_plan_nft), one emit per line of the chain. Main
     * thread; called for SIGUSR1 statistics, `vrouterctl rules` and metrics
     * scrapes. 0 (also when there is no chain) or a negative errno. */
    int (*rule_counters)(void *state, vr_rule_counter_emit emit, void *arg);
};

#endif
