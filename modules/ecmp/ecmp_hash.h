/*
 * ecmp: member selection as pure functions.
 *
 * Weighted rendezvous (highest random weight) hashing: every member i gets
 * score_i(key) = w_i / -ln(u_i(key)), with u_i uniform in (0,1) from a hash
 * of the key and the member's seed (a hash of its tag, so a reload that
 * keeps a member keeps its flows). The highest score wins. A member's share
 * of keys is w_i / sum(w); taking a member out moves only its own keys,
 * spread over the others by weight; putting it back moves them back.
 */
#ifndef VR_ECMP_HASH_H
#define VR_ECMP_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <vrouter/vr_flow.h>

uint64_t ecmp_hash_bytes(const void *p, size_t n, uint64_t seed);

/* The key of a flow: its 5-tuple (for UDP the client address and port: a
 * UDP association is one client mapping, whatever remotes it reaches), or
 * only the client address (by_source). */
uint64_t ecmp_flow_key(const struct vr_flow *f, int by_source);

/* The best member for key among those with usable[i] != 0; -1 if none. */
int ecmp_rendezvous(uint64_t key, const uint64_t *seeds, const double *weights,
                    const uint8_t *usable, int n);

/* Smooth weighted round-robin (as in nginx): current[] is the caller's
 * state, one slot per member, zero at start. -1 if none is usable. */
int ecmp_round_robin(int64_t *current, const int64_t *weights, const uint8_t *usable, int n);

#endif
