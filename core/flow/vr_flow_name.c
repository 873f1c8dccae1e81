#include "vr_flow_name.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_addr.h"
#include "vr_config.h"
#include "vr_fakeip_pool.h"
#include "vr_fakeip_service.h"
#include "vr_log.h"
#include "vr_rules.h"
#include "vr_watch.h"

enum vr_flow_name_verdict vr_flow_name_fakeip(const struct sockaddr *dst, bool pin, char **domain, char *why,
                                              size_t cap)
{
    struct vr_fakeip_pool *pool = vr_fakeip_active();
    if (pool == NULL)
        return VR_FLOW_NAME_NONE;
    char name[256];
    int r = pin ? vr_fakeip_lookup_pin(pool, dst, name, sizeof(name)) : vr_fakeip_lookup(pool, dst, name, sizeof(name));
    if (r < 0)
        return VR_FLOW_NAME_NONE;
    if (r == 0) {
        char a[VR_ADDRSTRLEN];
        snprintf(why, cap, "refused: fakeip %s maps to no name (recycled, or lost in a restart without "
                           "dns.fakeip.persist)",
                 vr_sockaddr_str(dst, a, sizeof(a)));
        return VR_FLOW_NAME_GONE;
    }
    *domain = strdup(name);
    if (*domain == NULL) {
        if (pin)
            vr_fakeip_unpin(pool, dst, name);
        snprintf(why, cap, "refused: out of memory");
        return VR_FLOW_NAME_GONE;
    }
    return VR_FLOW_NAME_FAKE;
}

void vr_flow_name_release(const struct sockaddr *dst, const char *domain)
{
    struct vr_fakeip_pool *pool = vr_fakeip_active();
    if (pool != NULL && domain != NULL)
        vr_fakeip_unpin(pool, dst, domain);
}

bool vr_flow_name_is_fake(const struct sockaddr *dst)
{
    struct vr_fakeip_pool *pool = vr_fakeip_active();
    return pool != NULL && vr_fakeip_in_range(pool, dst);
}

bool vr_flow_name_override(const struct vr_config *cfg, const char *inbound, const struct vr_rule *rule,
                           const char *domain)
{
    if (rule == NULL || rule->domains == NULL || domain == NULL || inbound == NULL)
        return false;
    const struct vr_listener_cfg *l = vr_config_listener(cfg, inbound);
    return l != NULL && l->sniff_override;
}

void vr_flow_name_warn_gone(const char *kind, unsigned long long id, const char *why)
{
    static _Atomic uint64_t last_ms;
    uint64_t now = vr_now_ms_coarse(), prev = atomic_load(&last_ms);
    if (prev != 0 && now - prev < 1000)
        return;
    if (!atomic_compare_exchange_strong(&last_ms, &prev, now))
        return;
    vr_warn("%s %llu: %s", kind, id, why);
}
