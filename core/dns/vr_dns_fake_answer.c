#include "vr_dns_fake_answer.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "vr_dns_config.h"
#include "vr_fakeip.h"
#include "vr_fakeip_service.h"

bool vr_dns_fake_available(const struct vr_dns_config *d)
{
    return d->fakeip_configured;
}

size_t vr_dns_fake_answer(const uint8_t *msg, const struct vr_dns_query *q, uint8_t *out, size_t cap)
{
    uint8_t addr[16];
    int family = q->qtype == VR_DNS_T_A ? AF_INET : q->qtype == VR_DNS_T_AAAA ? AF_INET6 : 0;
    /* The process's pool (kept across reloads), made from dns.fakeip. */
    struct vr_fakeip_pool *pool = vr_fakeip_active();
    if (family && pool && vr_fakeip_assign(pool, q->name, family, addr) == 0)
        return vr_dns_build_answer(msg, q, VR_DNS_NOERROR, addr, family == AF_INET ? 4 : 16, 1,
                                   vr_fakeip_ttl(pool), out, cap);
    /* HTTPS/SVCB and the rest, or a family with no fake range: NODATA. */
    return vr_dns_build_answer(msg, q, VR_DNS_NOERROR, NULL, 0, 0, 0, out, cap);
}
