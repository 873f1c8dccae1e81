/* host->resolve and host->resolve_cancel (ABI 1.1, api/vrouter/vr_host.h):
 * a module's name lookup through the resolver of its instance's worker and
 * generation (the dns rules, the cache and the upstreams; FakeIP and fixed
 * answers never: those are for clients). AF_UNSPEC asks A, then AAAA.
 *
 * A pending lookup belongs to its instance: the resolver going away (the
 * generation's teardown) detaches it without calling the module, and what
 * the module did not cancel is freed with the instance. */
#ifndef VR_DNS_HOST_RESOLVE_H
#define VR_DNS_HOST_RESOLVE_H

#include <vrouter/vr_host.h>

struct vr_instance;
struct vr_dns_host_pending;

int vr_dns_host_resolve(struct vr_instance *inst, const char *name, int family, vr_resolve_cb cb, void *arg,
                        void **pending);
void vr_dns_host_resolve_cancel(struct vr_instance *inst, void *pending);
/* From vr_instance_free, after the module's destroy. */
void vr_dns_host_resolves_release(struct vr_instance *inst);

#endif
