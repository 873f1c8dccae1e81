#include "vr_dns_host_resolve.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vr_dns_msg.h"
#include "vr_dns_resolver.h"
#include "vr_domainset.h"
#include "vr_generation.h"
#include "vr_instance.h"

struct vr_dns_host_pending {
    struct vr_instance *inst;
    struct vr_dns_host_pending *prev, *next; /* the instance's */
    struct vr_dns_job *job;                  /* NULL once detached */
    vr_resolve_cb cb;
    void *arg;
    int family;
    bool second;  /* AF_UNSPEC: now asking AAAA */
    bool done;
    struct vr_resolved addrs[VR_DNS_MAX_ADDRS];
    size_t n;
    uint32_t ttl;
    char name[VR_DNS_NAME_MAX + 1];
};

static void unlink_pending(struct vr_dns_host_pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->inst->resolves = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void on_response(void *arg, int err, const uint8_t *msg, size_t len, const struct vr_dns_query *q);

static int ask(struct vr_dns_host_pending *p, uint16_t qtype)
{
    struct vr_dns_resolver *r = p->inst->set ? p->inst->set->dns : NULL;
    if (r == NULL)
        return -ENOSYS;
    return vr_dns_resolver_lookup(r, p->name, qtype, on_response, p, &p->job);
}

static void on_response(void *arg, int err, const uint8_t *msg, size_t len, const struct vr_dns_query *q)
{
    struct vr_dns_host_pending *p = arg;
    p->job = NULL;
    if (err == -ECANCELED) { /* the resolver's teardown: detached, the module is not called */
        p->done = true;
        return;
    }
    struct vr_dns_response_info info;
    int rc = -ETIMEDOUT;
    if (err == 0 && msg && vr_dns_parse_response(msg, len, q, &info) == 0) {
        rc = info.rcode == VR_DNS_NXDOMAIN ? -ENOENT : info.rcode == VR_DNS_NOERROR ? 0 : -ETIMEDOUT;
        for (size_t i = 0; rc == 0 && i < info.n_addrs && p->n < VR_DNS_MAX_ADDRS; i++) {
            int fam = info.addrs[i].family == 2 ? AF_INET : AF_INET6;
            struct vr_resolved *a = &p->addrs[p->n++];
            memset(a, 0, sizeof(*a));
            a->family = fam;
            memcpy(fam == AF_INET ? (void *)&a->addr.v4 : (void *)&a->addr.v6, info.addrs[i].bytes,
                   fam == AF_INET ? 4 : 16);
        }
        if (rc == 0 && info.min_ttl < p->ttl)
            p->ttl = info.min_ttl;
    }
    if (p->family == AF_UNSPEC && !p->second && rc != -ENOENT) {
        p->second = true;
        if (ask(p, VR_DNS_T_AAAA) == 0)
            return;
    }
    p->done = true;
    unlink_pending(p);
    int final = p->n > 0 ? 0 : rc == 0 ? -ENOENT : rc;
    vr_resolve_cb cb = p->cb;
    void *cb_arg = p->arg;
    struct vr_resolved addrs[VR_DNS_MAX_ADDRS];
    size_t n = p->n;
    memcpy(addrs, p->addrs, sizeof(addrs));
    uint32_t ttl = p->ttl == UINT32_MAX ? 0 : p->ttl;
    free(p);
    cb(cb_arg, final, n ? addrs : NULL, n, ttl);
}

int vr_dns_host_resolve(struct vr_instance *inst, const char *name, int family, vr_resolve_cb cb, void *arg,
                        void **pending)
{
    *pending = NULL;
    if (inst == NULL || cb == NULL || name == NULL)
        return -EINVAL;
    if (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC)
        return -EAFNOSUPPORT;
    if (inst->set == NULL || inst->set->dns == NULL)
        return -ENOSYS;
    struct vr_dns_host_pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    if (vr_domain_normalize(name, strlen(name), p->name, NULL) < 0) {
        free(p);
        return -EINVAL;
    }
    p->inst = inst;
    p->cb = cb;
    p->arg = arg;
    p->family = family;
    p->ttl = UINT32_MAX;
    int r = ask(p, family == AF_INET6 ? VR_DNS_T_AAAA : VR_DNS_T_A);
    if (r < 0) {
        free(p);
        return r;
    }
    p->next = inst->resolves;
    if (inst->resolves)
        inst->resolves->prev = p;
    inst->resolves = p;
    *pending = p;
    return 0;
}

void vr_dns_host_resolve_cancel(struct vr_instance *inst, void *pending)
{
    (void)inst;
    struct vr_dns_host_pending *p = pending;
    if (p == NULL)
        return;
    vr_dns_job_cancel(p->job);
    unlink_pending(p);
    free(p);
}

void vr_dns_host_resolves_release(struct vr_instance *inst)
{
    while (inst->resolves)
        vr_dns_host_resolve_cancel(inst, inst->resolves);
}
