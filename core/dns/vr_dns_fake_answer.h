/* The one place the resolver meets the FakeIP pool (vr_fakeip.h): a fakeip
 * dns rule's answer, from the process's pool (vr_fakeip_active()). A fakeip
 * rule without dns.fakeip is refused at config load ("fakeip needs
 * dns.fakeip"). */
#ifndef VR_DNS_FAKE_ANSWER_H
#define VR_DNS_FAKE_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vr_dns_msg.h"

struct vr_fakeip_pool;
struct vr_dns_config;

/* Can a fakeip rule of d be answered (dns.fakeip set)? */
bool vr_dns_fake_available(const struct vr_dns_config *d);

/* The answer to query q (msg as received) for a fake name: A / AAAA from the
 * pool; HTTPS and SVCB (65 / 64), and every other type, an empty NOERROR
 * answer, so no real address leaks. Returns the length, 0 on failure. */
size_t vr_dns_fake_answer(const uint8_t *msg, const struct vr_dns_query *q, uint8_t *out, size_t cap);

#endif
