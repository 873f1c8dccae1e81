/* A worker's DNS server: its UDP and TCP sockets on dns.listen (one per
 * worker and address, SO_REUSEPORT, so the kernel spreads clients over the
 * workers), its TCP clients (RFC 7766 framing, one query at a time, idle
 * timeout), and the hijacked flows the rules' action = "dns" hands it. Each
 * query goes to the resolver of the worker's active generation
 * (vr_gen_set.dns). Runs on the worker's thread. */
#ifndef VR_DNS_SERVER_H
#define VR_DNS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vr_config.h"

struct vr_worker;
struct vr_dns_socks; /* one config's listening sockets */

/* Opens the sockets cfg's dns.listen asks for (none without a dns block).
 * Returns 0, or -EINVAL with an error naming the dns block's FILE:LINE. */
int vr_dns_socks_open(struct vr_worker *w, const struct vr_config *cfg, struct vr_dns_socks **out,
                      struct vr_errors *errs);
/* socks replace the worker's current ones (which close; queries still
 * waiting for an upstream on them are dropped: UDP clients retry). */
void vr_dns_socks_commit(struct vr_worker *w, struct vr_dns_socks *socks);
void vr_dns_socks_abort(struct vr_dns_socks *socks);
/* Exit: every socket and client of w. */
void vr_dns_server_close(struct vr_worker *w);

/* Hijack (route action "dns"): a TCP connection captured by TPROXY, fd
 * now owned by the server, served like a client of a dns listener. */
void vr_dns_server_take_tcp(struct vr_worker *w, int fd, const struct sockaddr *client, const uint8_t *prefix,
                            size_t len);
/* Hijack over UDP: the answer to query msg from client, through send(arg,
 * answer, len) (now, or later while the session lives). Returns false when
 * this generation has no resolver. The returned handle (may be NULL when
 * answered at once) is for vr_dns_server_udp_cancel. */
typedef void (*vr_dns_send_fn)(void *arg, const uint8_t *msg, size_t len);
bool vr_dns_server_udp_query(struct vr_worker *w, const uint8_t *msg, size_t len, const struct sockaddr *client,
                             vr_dns_send_fn send, void *arg, void **handle);
void vr_dns_server_udp_cancel(struct vr_worker *w, void *handle);

/* Counters of this worker's server, for stats. */
struct vr_dns_server_stats {
    uint64_t udp_queries, tcp_queries, tcp_clients, tcp_refused, hijacked;
};
void vr_dns_server_stats(const struct vr_worker *w, struct vr_dns_server_stats *out);

#endif
