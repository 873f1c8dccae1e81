/* A worker's resolver for one config generation: answers a DNS message by
 * the dns rules (a fixed answer, a reject, FakeIP, or an upstream), from
 * the generation's shared cache or by asking upstreams through this
 * worker's outbound instances (vr_dns_exchange.h): attempts in turn over the
 * rule's upstream list, a TC answer asked again over TCP, SERVFAIL when all
 * fail. Lives in the generation's instance set of its worker
 * (vr_gen_set.dns) and runs on that worker's thread only. */
#ifndef VR_DNS_RESOLVER_H
#define VR_DNS_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "vr_dns_msg.h"

struct vr_gen_set;
struct vr_dns_resolver;
struct vr_dns_job;

/* How the client's answer travels: over UDP an answer larger than the
 * client's buffer is cut to its question with TC set. */
enum vr_dns_via { VR_DNS_VIA_UDP = 1, VR_DNS_VIA_TCP = 2 };

/* The answer for a pending job: msg NULL means no answer at all (the
 * resolver went away, or the client is rate limited over UDP). */
typedef void (*vr_dns_answer_cb)(void *arg, const uint8_t *msg, size_t len);

struct vr_dns_resolver *vr_dns_resolver_new(struct vr_gen_set *set);
/* Pending jobs end first, each with its callback (msg NULL). */
void vr_dns_resolver_free(struct vr_dns_resolver *r);

/* Answers msg from client. Returns the length of an answer written to out
 * at once (cap >= VR_DNS_MAX_MSG), 0 for no answer (a response, or a
 * rate-limited UDP client), or -1 with *job set: cb runs later (unless
 * vr_dns_job_cancel). */
ssize_t vr_dns_resolver_answer(struct vr_dns_resolver *r, const uint8_t *msg, size_t len,
                               const struct sockaddr *client, enum vr_dns_via via, uint8_t *out, size_t cap,
                               vr_dns_answer_cb cb, void *arg, struct vr_dns_job **job);
void vr_dns_job_cancel(struct vr_dns_job *job);

/* host->resolve's way in (vr_host_table.c): addresses of name of qtype
 * (A or AAAA) by the rules, the cache and the upstreams, never FakeIP (a
 * fakeip rule's name is asked of the final upstreams). cb gets the response
 * (NULL when it failed: err < 0). Returns 0 and *job, or a negative errno. */
typedef void (*vr_dns_name_cb)(void *arg, int err, const uint8_t *msg, size_t len, const struct vr_dns_query *q);
int vr_dns_resolver_lookup(struct vr_dns_resolver *r, const char *name, uint16_t qtype, vr_dns_name_cb cb,
                           void *arg, struct vr_dns_job **job);

#endif
