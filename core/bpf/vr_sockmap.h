/* The sockmap relay's kernel side: loads sockmap_relay.bpf.c (a libbpf
 * skeleton) once per process and puts relayed socket pairs into its maps.
 *
 * Every worker shares the one loaded program and its maps; each worker only
 * ever adds and removes the entries of its own connections, keyed by socket
 * cookie (unique per boot, never reused, so a closed socket's stale entry can
 * not be mistaken for a new socket's). The maps hold 2 x max_connections
 * sockets (the max_connections of the start: a reload that raises it
 * relays the connections beyond it with splice); a pair that finds them full
 * is relayed with splice instead.
 * Sockets in the maps cost no file descriptor beyond the two each connection
 * has anyway (no pipes). */
#ifndef VR_SOCKMAP_H
#define VR_SOCKMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vr_sockmap;

/* Whether this build has the BPF data path at all (VR_BPF). */
bool vr_sockmap_built(void);

/* Loads the program and its maps sized for max_conns connections, then
 * proves the kernel takes a socket into a sockhash (one insert). NULL when
 * it cannot, with why (for the one log line) filled. The test hook
 * VR_TEST_SOCKMAP_PROBE_FAIL=1 makes the probe fail. */
struct vr_sockmap *vr_sockmap_open(uint32_t max_conns, char *why, size_t why_len);
void vr_sockmap_close(struct vr_sockmap *sm);
/* The connections the maps were sized for when loaded (they keep that size
 * for the life of the process: a reload cannot resize them). */
uint32_t vr_sockmap_max_conns(const struct vr_sockmap *sm);
/* The one loaded by this process, or NULL (statistics and metrics read it). */
struct vr_sockmap *vr_sockmap_loaded(void);

/* The per-CPU counter slot of a listener (is_outbound false) or outbound
 * tag, given on first use; 0 (shared by all that come later) once the
 * VR_SOCKMAP_COUNTER_SLOTS are taken. Thread-safe. */
uint32_t vr_sockmap_slot(struct vr_sockmap *sm, bool is_outbound, const char *tag);

/* One relayed pair: [0] the client's socket, [1] the server's. */
struct vr_sockmap_pair {
    int fd[2];
    uint64_t cookie[2];
    bool targets, relaying; /* which steps are done, for vr_sockmap_leave */
    bool verdict[2];        /* socket i is under the verdict (attach got that far) */
};

/* Step 1: the pair's entries and both sockets as redirect targets. No byte
 * is diverted yet: the sockets can still be written from userspace (the
 * sniffed head). Returns 0 or a negative errno (-E2BIG: the maps are full);
 * on failure nothing is left in the maps. */
int vr_sockmap_prepare(struct vr_sockmap *sm, struct vr_sockmap_pair *p, int client_fd, int server_fd,
                       uint32_t listener_slot, uint32_t outbound_slot);
/* Step 2: both sockets under the verdict: from now on the kernel relays.
 * Bytes that were already queued on either socket are handed on at once.
 * The server's socket goes first; -EOPNOTSUPP: a socket left ESTABLISHED
 * (its FIN came), p->verdict says which got in. */
int vr_sockmap_attach(struct vr_sockmap *sm, struct vr_sockmap_pair *p);
/* Undoes attach (the verdict off for both), keeping prepare's entries. */
void vr_sockmap_detach(struct vr_sockmap *sm, struct vr_sockmap_pair *p);
/* Bytes the kernel took from side i (0 client, 1 server) and handed to the
 * other side. */
uint64_t vr_sockmap_bytes(struct vr_sockmap *sm, const struct vr_sockmap_pair *p, int i);
/* Removes what prepare and attach added. closing: the sockets are closed
 * right after, which takes them out of the sockhashes by itself; only the
 * pair's entries go (their bytes, if any, are then left to userspace). */
void vr_sockmap_leave(struct vr_sockmap *sm, struct vr_sockmap_pair *p, bool closing);

/* The per-CPU counters, summed over CPUs, for each slot given out. */
struct vr_sockmap_totals {
    uint64_t up_bytes, up_packets, down_bytes, down_packets;
};
typedef void (*vr_sockmap_counter_fn)(bool is_outbound, const char *tag, const struct vr_sockmap_totals *t,
                                      void *arg);
void vr_sockmap_counters_each(struct vr_sockmap *sm, vr_sockmap_counter_fn fn, void *arg);

#endif
