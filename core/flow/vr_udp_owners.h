/* Which worker owns a UDP session, across workers.
 *
 * Each worker has its own SO_REUSEPORT socket per UDP listener, and the
 * kernel picks one by a hash of the datagram's 4-tuple (TPROXY looks the
 * socket up without the packet, so no steering program runs). A session
 * key that does not contain the whole 4-tuple (full cone: the client's
 * address and port only; or a reply socket receiving the client's next
 * datagram) can therefore arrive at any worker. The first worker to see a
 * key claims it here; another worker that receives a datagram for a claimed
 * key hands the datagram over to the owner (vr_udp_inbox), so one session,
 * one outbound socket and one external mapping serve the client, whatever
 * destination it sends to.
 *
 * One mutex guards the map: it is taken when a worker misses its own table
 * (a new session, or a datagram for another worker's) and when a session
 * ends, never per datagram of an established session. */
#ifndef VR_UDP_OWNERS_H
#define VR_UDP_OWNERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vr_udp_table.h"

struct vr_udp_owner;

struct vr_udp_owners {
    pthread_mutex_t mu;
    struct vr_udp_owner **buckets;
    size_t n_buckets, n;
    uint64_t seed;
};

int vr_udp_owners_init(struct vr_udp_owners *o);
void vr_udp_owners_fini(struct vr_udp_owners *o);

/* The worker that owns (listener address, key): the one already recorded,
 * or else worker, which is recorded as the owner. Out of memory: worker
 * (the session then goes unshared, as with one worker). */
size_t vr_udp_owners_claim(struct vr_udp_owners *o, const struct sockaddr *listener, const struct vr_udp_key *key,
                           size_t worker);
/* worker's session for (listener, key) ended. */
void vr_udp_owners_release(struct vr_udp_owners *o, const struct sockaddr *listener, const struct vr_udp_key *key,
                           size_t worker);

/* Datagrams handed to a worker by the others, in arrival order. Bounded:
 * past VR_UDP_INBOX_MAX waiting, new ones are dropped (the sender counts
 * them). */
#define VR_UDP_INBOX_MAX 4096

struct vr_udp_handed {
    struct vr_udp_handed *next;
    struct sockaddr_storage listener, src, dst;
    size_t len;
    uint8_t data[];
};

struct vr_udp_inbox {
    pthread_mutex_t mu;
    struct vr_udp_handed *head, **tail;
    size_t n;
};

int vr_udp_inbox_init(struct vr_udp_inbox *in);
void vr_udp_inbox_fini(struct vr_udp_inbox *in);
/* Queues a copy; false when the inbox is full or memory is short. */
bool vr_udp_inbox_put(struct vr_udp_inbox *in, const struct sockaddr *listener, const struct sockaddr_storage *src,
                      const struct sockaddr_storage *dst, const uint8_t *data, size_t len);
/* Takes everything queued (the caller frees each). */
struct vr_udp_handed *vr_udp_inbox_take(struct vr_udp_inbox *in);

#endif
