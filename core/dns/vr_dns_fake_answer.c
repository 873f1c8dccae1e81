#include "vr_dns_fake_answer.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "vr_dns_config.h"
#include "vr_fakeip.h"

/* 0 until the FakeIP pool (core/dns/vr_fakeip.c, branch h-fakeip) is linked. */
#define VR_DNS_FAKEIP_LINKED 0

struct vr_fakeip_pool *vr_dns_fake_pool = NULL;

bool vr_dns_fake_available(const struct vr_dns_config *d)
{
    return VR_DNS_FAKEIP_LINKED && d->fakeip_configured;
}

size_t vr_dns_fake_answer(const uint8_t *msg, const struct vr_dns_query *q, uint8_t *out, size_t cap)
{
    uint8_t addr[16];
    int family = q->qtype == VR_DNS_T_A ? AF_INET : q->qtype == VR_DNS_T_AAAA ? AF_INET6 : 0;
#if VR_DNS_FAKEIP_LINKED
    if (family && vr_dns_fake_pool && vr_fakeip_assign(vr_dns_fake_pool, q->name, family, addr) == 0)
        return vr_dns_build_answer(msg, q, VR_DNS_NOERROR, addr, family == AF_INET ? 4 : 16, 1,
                                   vr_fakeip_ttl(vr_dns_fake_pool), out, cap);
#else
    (void)family;
    (void)addr;
#endif
    /* HTTPS/SVCB and the rest, or a family with no fake range: NODATA. */
    return vr_dns_build_answer(msg, q, VR_DNS_NOERROR, NULL, 0, 0, 0, out, cap);
}
