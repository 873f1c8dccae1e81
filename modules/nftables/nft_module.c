/* nftables installer: config block, ops table and descriptor.
 *
 *   { module = "nftables"; table = "vrouter"; listener = "tp"; mark = 0x1;
 *     interfaces = ["rc"]; bypass = ["198.18.0.0/15", "2001:db8:ffff::/48"];
 *     capture_local = false; }
 */
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <vrouter/vr_plugin.h>

#include "nft_conf.h"
#include "nft_counters.h"

struct nftm_inst {
    struct vr_instance *inst;
    const struct vr_host *host;
    struct nftm_conf conf;
};

/* Run once, a moment after apply (when every installer of the generation
 * has applied, whatever their order): the table marks, but only a policy
 * rule makes marked packets reach the listener. Without one they are
 * forwarded as if nothing captured them, silently. */
#define NFTM_ROUTE_CHECK_MS 1000

static void nftm_route_check(void *arg)
{
    struct nftm_inst *p = arg;
    static const int fams[] = {AF_INET, AF_INET6};
    for (int i = 0; i < 2; i++) {
        int r = nftm_mark_routed(p->conf.mark, fams[i]);
        if (r == 0)
            p->host->log(p->inst, VR_LOG_WARN,
                         "no %s policy rule routes fwmark 0x%x: packets table inet %s marks are forwarded, not "
                         "proxied (give policy-routing tproxy = { mark = 0x%x; }, or add `ip%s rule add fwmark "
                         "0x%x lookup 100` with `ip%s route add local default dev lo table 100`)",
                         fams[i] == AF_INET ? "IPv4" : "IPv6", p->conf.mark, p->conf.table, p->conf.mark,
                         fams[i] == AF_INET ? "" : " -6", p->conf.mark, fams[i] == AF_INET ? "" : " -6");
    }
}

static int nftm_table_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32 || !isalpha((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

static int nftm_push(char ***arr, int *n, const char *s)
{
    char **p = realloc(*arr, ((size_t)*n + 1) * sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    if ((p[*n] = strdup(s)) == NULL)
        return -ENOMEM;
    (*n)++;
    return 0;
}

static int nftm_read_lists(const struct vr_host *h, const struct vr_cfg *cfg, struct nftm_conf *c)
{
    int n = h->cfg_list_len(cfg, "interfaces");
    if (n == -EINVAL)
        return -EINVAL;
    for (int i = 0; i < n && i < NFTM_MAX_LIST; i++) {
        const char *s;
        if (h->cfg_list_string(cfg, "interfaces", i, &s) < 0)
            return -EINVAL;
        if (!nftm_name_ok(s, IFNAMSIZ) || strcmp(s, "lo") == 0) {
            h->cfg_error(cfg, "interfaces", "\"%s\" is not an interface name we can capture on "
                         "(letters, digits, _ . -; at most %d characters; not lo)", s, IFNAMSIZ - 1);
            return -EINVAL;
        }
        if (nftm_push(&c->ifaces, &c->n_ifaces, s) < 0)
            return -ENOMEM;
    }
    n = h->cfg_list_len(cfg, "bypass");
    if (n == -EINVAL)
        return -EINVAL;
    for (int i = 0; i < n && i < NFTM_MAX_LIST; i++) {
        const char *s;
        if (h->cfg_list_string(cfg, "bypass", i, &s) < 0)
            return -EINVAL;
        int fam = nftm_cidr_family(s);
        if (fam == 0) {
            h->cfg_error(cfg, "bypass", "\"%s\" is not a CIDR prefix (\"198.18.0.0/15\", "
                         "\"2001:db8::/32\"; no host bits set)", s);
            return -EINVAL;
        }
        int e = fam == AF_INET ? nftm_push(&c->bypass4, &c->n_bypass4, s)
                               : nftm_push(&c->bypass6, &c->n_bypass6, s);
        if (e < 0)
            return e;
    }
    return 0;
}

static int nftm_read(const struct vr_host *h, struct vr_instance *inst, struct nftm_conf *c)
{
    const struct vr_cfg *cfg = h->instance_cfg(inst);
    int bad = 0;
    const char *table = NFTM_DEFAULT_TABLE, *listener = NULL;
    int e = h->cfg_string(cfg, "table", &table);
    if (e == -EINVAL)
        bad = 1;
    else if (!nftm_table_name_ok(table)) {
        h->cfg_error(cfg, "table", "\"%s\" is not a table name (a letter, then letters, digits "
                     "or _; at most 32 characters)", table);
        bad = 1;
    } else
        snprintf(c->table, sizeof(c->table), "%s", table);

    int64_t mark = NFTM_DEFAULT_MARK;
    e = h->cfg_int(cfg, "mark", &mark);
    if (e == -EINVAL)
        bad = 1;
    else if (mark < 1 || mark > 0xffffffffLL) {
        h->cfg_error(cfg, "mark", "must be 1 to 0xffffffff (the tproxy mark of policy-routing)");
        bad = 1;
    }
    c->mark = (uint32_t)mark;

    int local = 0;
    e = h->cfg_bool(cfg, "capture_local", &local);
    if (e == -EINVAL)
        bad = 1;
    c->capture_local = local;

    e = nftm_read_lists(h, cfg, c);
    if (e == -ENOMEM) {
        h->cfg_error(cfg, NULL, "out of memory");
        return -ENOMEM;
    }
    if (e < 0)
        bad = 1;

    e = h->cfg_string(cfg, "listener", &listener);
    if (e == -ENOENT) {
        h->cfg_error(cfg, NULL, "missing \"listener\" (the tag of the tproxy listener to capture to)");
        bad = 1;
    } else if (e < 0) {
        bad = 1;
    } else {
        uint32_t networks = 0;
        if (h->listener_info(inst, listener, &c->port, &networks) < 0) {
            h->cfg_error(cfg, "listener", "no listener with tag \"%s\"", listener);
            bad = 1;
        }
        if (VR_HAS(h, route_plan_nft) && h->route_plan_nft(inst, listener, &c->fastpath) == -ENOMEM) {
            h->cfg_error(cfg, NULL, "out of memory compiling the kernel fast path");
            bad = 1;
        }
        c->tcp = (networks & VR_NET_TCP) != 0;
        c->udp = (networks & VR_NET_UDP) != 0;
        if (!c->tcp && !c->udp)
            c->tcp = 1;
    }
    if (bad)
        return -EINVAL;
    c->bypass_mark = h->bypass_mark(inst);
    if (c->bypass_mark != 0 && c->bypass_mark == c->mark) {
        h->cfg_error(cfg, "mark", "0x%x is also daemon.bypass_mark; they must differ", c->mark);
        return -EINVAL;
    }
    return 0;
}

static int nftm_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    struct nftm_inst *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->inst = inst;
    p->host = host;
    int e = nftm_read(host, inst, &p->conf);
    if (e < 0) {
        nftm_conf_free(&p->conf);
        free(p);
        return e;
    }
    *state = p;
    return 0;
}

static void nftm_destroy(void *state)
{
    struct nftm_inst *p = state;
    if (p == NULL)
        return;
    nftm_conf_free(&p->conf);
    free(p);
}

static int nftm_apply(void *state, void *old_state)
{
    struct nftm_inst *p = state;
    struct nftm_inst *old = old_state;
    char *err = NULL;
    /* A table of our name that is not ours (no owner comment) stays alone.
     * One that is ours but not old's was left by a run that died. */
    if (old == NULL || strcmp(old->conf.table, p->conf.table) != 0) {
        int own = nftm_table_owner(p->conf.table, &err);
        if (own == -EEXIST) {
            p->host->log(p->inst, VR_LOG_ERROR,
                         "table inet %s exists and was not created by vrouterd; "
                         "choose another \"table\" name", p->conf.table);
            return own;
        }
        if (own < 0) {
            p->host->log(p->inst, VR_LOG_ERROR, "nft: %s", err ? err : "failed");
            free(err);
            return own;
        }
        if (own == 1)
            p->host->log(p->inst, VR_LOG_INFO, "replacing table inet %s left by an earlier run",
                         p->conf.table);
    }
    char *txn = nftm_txn_replace(&p->conf, old ? old->conf.table : NULL);
    if (txn == NULL)
        return -ENOMEM;
    int e = nftm_run(txn, NULL, &err);
    free(txn);
    if (e < 0) {
        p->host->log(p->inst, VR_LOG_ERROR, "nft transaction failed, nothing changed: %s",
                     err ? err : "?");
        free(err);
        return e;
    }
    p->host->log(p->inst, VR_LOG_INFO, "table inet %s in place (tproxy to port %u, mark 0x%x%s%s)",
                 p->conf.table, p->conf.port, p->conf.mark,
                 p->conf.capture_local ? ", local traffic captured" : "",
                 p->conf.fastpath ? ", kernel fast path chain fastpath" : "");
    p->host->timer_add(p->inst, NFTM_ROUTE_CHECK_MS, 0, nftm_route_check, p);
    return 0;
}

static int nftm_revert(void *state)
{
    struct nftm_inst *p = state;
    char *txn = nftm_txn_delete(p->conf.table), *err = NULL;
    if (txn == NULL)
        return -ENOMEM;
    int e = nftm_run(txn, NULL, &err);
    free(txn);
    if (e < 0)
        p->host->log(p->inst, VR_LOG_ERROR, "deleting table inet %s: %s", p->conf.table,
                     err ? err : "?");
    else
        p->host->log(p->inst, VR_LOG_INFO, "table inet %s deleted", p->conf.table);
    free(err);
    return e;
}

static int nftm_plan(void *state, void *old_state, vr_plan_emit emit, void *arg)
{
    struct nftm_inst *p = state;
    struct nftm_inst *old = old_state;
    char *txn = nftm_txn_replace(&p->conf, old ? old->conf.table : NULL);
    if (txn == NULL)
        return -ENOMEM;
    emit(arg, "nft transaction (atomic):");
    for (char *line = strtok(txn, "\n"); line != NULL; line = strtok(NULL, "\n"))
        emit(arg, line);
    free(txn);
    return 0;
}

static int nftm_rule_counters(void *state, vr_rule_counter_emit emit, void *arg)
{
    struct nftm_inst *p = state;
    if (p->conf.fastpath == NULL)
        return 0;
    char *err = NULL;
    int e = nftm_read_counters(p->conf.table, emit, arg, &err);
    if (e < 0)
        p->host->log(p->inst, VR_LOG_WARN, "reading the fast path counters: %s", err ? err : "?");
    free(err);
    return e;
}

static const struct vr_installer_ops nftm_ops = {
    .size = sizeof(struct vr_installer_ops),
    .create = nftm_create,
    .destroy = nftm_destroy,
    .apply = nftm_apply,
    .revert = nftm_revert,
    .plan = nftm_plan,
    .rule_counters = nftm_rule_counters,
};

VR_MODULE_DEFINE(.name = "nftables", .version = "1.0.0", .kind = VR_KIND_INSTALLER,
                 .ops = &nftm_ops);
