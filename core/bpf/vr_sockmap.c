#include "vr_sockmap.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vr_log.h"

bool vr_sockmap_built(void)
{
#ifdef VR_HAVE_BPF
    return true;
#else
    return false;
#endif
}

#ifndef VR_HAVE_BPF

struct vr_sockmap *vr_sockmap_open(uint32_t max_conns, char *why, size_t why_len)
{
    (void)max_conns;
    snprintf(why, why_len, "this vrouterd was built without BPF support (VR_BPF=OFF, or clang, bpftool or libbpf "
                           "missing at build time)");
    return NULL;
}
void vr_sockmap_close(struct vr_sockmap *sm) { (void)sm; }
uint32_t vr_sockmap_max_conns(const struct vr_sockmap *sm)
{
    (void)sm;
    return 0;
}
struct vr_sockmap *vr_sockmap_loaded(void) { return NULL; }
uint32_t vr_sockmap_slot(struct vr_sockmap *sm, bool is_outbound, const char *tag)
{
    (void)sm, (void)is_outbound, (void)tag;
    return 0;
}
int vr_sockmap_prepare(struct vr_sockmap *sm, struct vr_sockmap_pair *p, int client_fd, int server_fd,
                       uint32_t listener_slot, uint32_t outbound_slot)
{
    (void)sm, (void)p, (void)client_fd, (void)server_fd, (void)listener_slot, (void)outbound_slot;
    return -EOPNOTSUPP;
}
int vr_sockmap_attach(struct vr_sockmap *sm, struct vr_sockmap_pair *p)
{
    (void)sm, (void)p;
    return -EOPNOTSUPP;
}
void vr_sockmap_detach(struct vr_sockmap *sm, struct vr_sockmap_pair *p) { (void)sm, (void)p; }
uint64_t vr_sockmap_bytes(struct vr_sockmap *sm, const struct vr_sockmap_pair *p, int i)
{
    (void)sm, (void)p, (void)i;
    return 0;
}
void vr_sockmap_leave(struct vr_sockmap *sm, struct vr_sockmap_pair *p, bool closing)
{
    (void)sm, (void)p, (void)closing;
}
void vr_sockmap_counters_each(struct vr_sockmap *sm, vr_sockmap_counter_fn fn, void *arg)
{
    (void)sm, (void)fn, (void)arg;
}

#else /* VR_HAVE_BPF */

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "sockmap_relay.bpf.h"
#include "sockmap_relay.skel.h"

struct vr_sockmap_slot_name {
    bool is_outbound;
    char tag[64];
};

struct vr_sockmap {
    struct sockmap_relay_bpf *skel;
    int relay_fd, peer_fd, socks_fd, counters_fd;
    int n_cpus;
    uint32_t max_conns; /* pairs the maps hold at once (max_connections and a margin) */
    pthread_mutex_t slots_mu;
    uint32_t n_slots; /* slots given out, 1..n_slots-1 (0: the overflow slot) */
    struct vr_sockmap_slot_name slots[VR_SOCKMAP_COUNTER_SLOTS];
};

static struct vr_sockmap *loaded;

/* libbpf's own messages: its warnings (why a load failed) at debug level,
 * the caller logs the reason once. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG || vr_log_level < VR_LOG_DEBUG)
        return 0;
    char line[512];
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n > 0 && line[n < (int)sizeof(line) ? n - 1 : (int)sizeof(line) - 2] == '\n')
        line[n < (int)sizeof(line) ? n - 1 : (int)sizeof(line) - 2] = '\0';
    vr_debug("libbpf: %s", line);
    return 0;
}

static int sock_cookie(int fd, uint64_t *cookie)
{
    socklen_t len = sizeof(*cookie);
    return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) < 0 ? -errno : 0;
}

/* One insert of a listening TCP socket (the only state besides established
 * that a sockhash takes) into the target map, and out again. */
static int probe(struct vr_sockmap *sm, char *why, size_t why_len)
{
    const char *hook = getenv("VR_TEST_SOCKMAP_PROBE_FAIL");
    if (hook && strcmp(hook, "1") == 0) {
        snprintf(why, why_len, "the test hook VR_TEST_SOCKMAP_PROBE_FAIL=1 made the probe fail");
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || listen(fd, 1) < 0) {
        snprintf(why, why_len, "cannot open a TCP socket to probe with: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    uint64_t cookie;
    int r = sock_cookie(fd, &cookie);
    uint64_t value = (uint64_t)fd; /* the maps' values are 8 bytes: an fd as a u64 */
    if (r == 0 && bpf_map_update_elem(sm->peer_fd, &cookie, &value, BPF_NOEXIST) < 0)
        r = -errno;
    if (r < 0)
        snprintf(why, why_len, "the kernel refused a socket in a sockhash: %s", strerror(-r));
    else
        bpf_map_delete_elem(sm->peer_fd, &cookie);
    close(fd);
    return r < 0 ? -1 : 0;
}

struct vr_sockmap *vr_sockmap_open(uint32_t max_conns, char *why, size_t why_len)
{
    if (loaded)
        return loaded;
    libbpf_set_print(libbpf_print);
    struct vr_sockmap *sm = calloc(1, sizeof(*sm));
    if (sm == NULL) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&sm->slots_mu, NULL);
    sm->n_slots = 1;
    snprintf(sm->slots[0].tag, sizeof(sm->slots[0].tag), "(other)");
    sm->n_cpus = libbpf_num_possible_cpus();
    sm->skel = sockmap_relay_bpf__open();
    if (sm->skel == NULL || sm->n_cpus <= 0) {
        snprintf(why, why_len, "cannot open the BPF program: %s", strerror(errno));
        goto fail;
    }
    /* Two sockets per connection, and a margin for the ones closing. */
    uint64_t entries = 2ull * max_conns + 64;
    if (entries > (1u << 24))
        entries = 1u << 24;
    sm->max_conns = (uint32_t)(entries / 2);
    bpf_map__set_max_entries(sm->skel->maps.relay_socks, (uint32_t)entries);
    bpf_map__set_max_entries(sm->skel->maps.peer_socks, (uint32_t)entries);
    bpf_map__set_max_entries(sm->skel->maps.socks, (uint32_t)entries);
    int r = sockmap_relay_bpf__load(sm->skel);
    if (r < 0) {
        snprintf(why, why_len, "cannot load the BPF program: %s (needs CAP_BPF and CAP_NET_ADMIN, and a kernel "
                               "with CONFIG_BPF_STREAM_PARSER)", strerror(-r));
        goto fail;
    }
    sm->relay_fd = bpf_map__fd(sm->skel->maps.relay_socks);
    sm->peer_fd = bpf_map__fd(sm->skel->maps.peer_socks);
    sm->socks_fd = bpf_map__fd(sm->skel->maps.socks);
    sm->counters_fd = bpf_map__fd(sm->skel->maps.counters);
    if (bpf_prog_attach(bpf_program__fd(sm->skel->progs.relay_verdict), sm->relay_fd, BPF_SK_SKB_STREAM_VERDICT,
                        0) < 0) {
        snprintf(why, why_len, "cannot attach the stream verdict to its sockhash: %s", strerror(errno));
        goto fail;
    }
    if (probe(sm, why, why_len) < 0)
        goto fail;
    loaded = sm;
    return sm;
fail:
    sockmap_relay_bpf__destroy(sm->skel);
    pthread_mutex_destroy(&sm->slots_mu);
    free(sm);
    return NULL;
}

void vr_sockmap_close(struct vr_sockmap *sm)
{
    if (sm == NULL)
        return;
    if (loaded == sm)
        loaded = NULL;
    sockmap_relay_bpf__destroy(sm->skel);
    pthread_mutex_destroy(&sm->slots_mu);
    free(sm);
}

struct vr_sockmap *vr_sockmap_loaded(void)
{
    return loaded;
}

uint32_t vr_sockmap_max_conns(const struct vr_sockmap *sm)
{
    return sm->max_conns;
}

uint32_t vr_sockmap_slot(struct vr_sockmap *sm, bool is_outbound, const char *tag)
{
    pthread_mutex_lock(&sm->slots_mu);
    uint32_t slot = 0;
    for (uint32_t i = 1; i < sm->n_slots; i++)
        if (sm->slots[i].is_outbound == is_outbound && strcmp(sm->slots[i].tag, tag) == 0) {
            slot = i;
            goto out;
        }
    if (sm->n_slots < VR_SOCKMAP_COUNTER_SLOTS && strlen(tag) < sizeof(sm->slots[0].tag)) {
        slot = sm->n_slots++;
        sm->slots[slot].is_outbound = is_outbound;
        snprintf(sm->slots[slot].tag, sizeof(sm->slots[slot].tag), "%s", tag);
    }
out:
    pthread_mutex_unlock(&sm->slots_mu);
    return slot;
}

int vr_sockmap_prepare(struct vr_sockmap *sm, struct vr_sockmap_pair *p, int client_fd, int server_fd,
                       uint32_t listener_slot, uint32_t outbound_slot)
{
    memset(p, 0, sizeof(*p));
    p->fd[0] = client_fd;
    p->fd[1] = server_fd;
    int r;
    if ((r = sock_cookie(client_fd, &p->cookie[0])) < 0 || (r = sock_cookie(server_fd, &p->cookie[1])) < 0)
        return r;
    for (int i = 0; i < 2; i++) {
        struct vr_sockmap_sock s = {
            .peer = p->cookie[1 - i], .listener = listener_slot, .outbound = outbound_slot, .upstream = i == 0};
        if (bpf_map_update_elem(sm->socks_fd, &p->cookie[i], &s, BPF_NOEXIST) < 0) {
            r = -errno;
            goto undo;
        }
    }
    p->targets = true; /* from here, leave removes what is there */
    for (int i = 0; i < 2; i++) {
        uint64_t fd = (uint64_t)p->fd[i]; /* 8-byte values */
        if (bpf_map_update_elem(sm->peer_fd, &p->cookie[i], &fd, BPF_NOEXIST) < 0) {
            r = -errno;
            goto undo;
        }
    }
    return 0;
undo:
    p->targets = true;
    vr_sockmap_leave(sm, p, false);
    return r == -ENOSPC || r == -ENOMEM ? -E2BIG : r;
}

int vr_sockmap_attach(struct vr_sockmap *sm, struct vr_sockmap_pair *p)
{
    p->relaying = true;
    /* The server's first: a server that answers and closes at once is the
     * usual socket to leave ESTABLISHED meanwhile, and then no verdict ran
     * yet (the caller checked both just before). */
    for (int i = 1; i >= 0; i--) {
        uint64_t fd = (uint64_t)p->fd[i];
        if (bpf_map_update_elem(sm->relay_fd, &p->cookie[i], &fd, BPF_NOEXIST) < 0)
            return -errno;
        p->verdict[i] = true;
    }
    /* A verdict runs when bytes arrive; bytes that were queued before the
     * socket joined would wait for the next arrival (forever, for a peer
     * that waits for an answer). Setting SO_RCVLOWAT makes TCP check its
     * queue and run the data-ready hook, now the verdict's, at once. */
    int one = 1;
    for (int i = 0; i < 2; i++)
        (void)setsockopt(p->fd[i], SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    return 0;
}

void vr_sockmap_detach(struct vr_sockmap *sm, struct vr_sockmap_pair *p)
{
    for (int i = 0; i < 2; i++)
        if (p->verdict[i])
            bpf_map_delete_elem(sm->relay_fd, &p->cookie[i]);
    p->verdict[0] = p->verdict[1] = false;
    p->relaying = false;
}

uint64_t vr_sockmap_bytes(struct vr_sockmap *sm, const struct vr_sockmap_pair *p, int i)
{
    struct vr_sockmap_sock s;
    if (bpf_map_lookup_elem(sm->socks_fd, &p->cookie[i], &s) < 0)
        return 0;
    return s.bytes;
}

void vr_sockmap_leave(struct vr_sockmap *sm, struct vr_sockmap_pair *p, bool closing)
{
    /* The entries first: a verdict that finds none leaves the bytes to
     * userspace instead of redirecting them to a half-left pair. */
    for (int i = 0; i < 2 && p->targets; i++)
        bpf_map_delete_elem(sm->socks_fd, &p->cookie[i]);
    for (int i = 0; i < 2 && p->relaying && !closing; i++)
        bpf_map_delete_elem(sm->relay_fd, &p->cookie[i]);
    for (int i = 0; i < 2 && p->targets && !closing; i++)
        bpf_map_delete_elem(sm->peer_fd, &p->cookie[i]);
    p->relaying = p->targets = false;
}

void vr_sockmap_counters_each(struct vr_sockmap *sm, vr_sockmap_counter_fn fn, void *arg)
{
    if (sm == NULL)
        return;
    struct vr_sockmap_counter *per_cpu = calloc((size_t)sm->n_cpus, sizeof(*per_cpu));
    if (per_cpu == NULL)
        return;
    pthread_mutex_lock(&sm->slots_mu);
    uint32_t n = sm->n_slots;
    struct vr_sockmap_slot_name names[VR_SOCKMAP_COUNTER_SLOTS];
    memcpy(names, sm->slots, n * sizeof(names[0]));
    pthread_mutex_unlock(&sm->slots_mu);
    for (uint32_t slot = 0; slot < n; slot++) {
        if (bpf_map_lookup_elem(sm->counters_fd, &slot, per_cpu) < 0)
            continue;
        struct vr_sockmap_totals t = {0};
        for (int c = 0; c < sm->n_cpus; c++) {
            t.up_bytes += per_cpu[c].up_bytes;
            t.up_packets += per_cpu[c].up_packets;
            t.down_bytes += per_cpu[c].down_bytes;
            t.down_packets += per_cpu[c].down_packets;
        }
        if (slot == 0 && t.up_packets + t.down_packets == 0)
            continue; /* the overflow slot, unused */
        fn(names[slot].is_outbound, names[slot].tag, &t, arg);
    }
    free(per_cpu);
}

#endif /* VR_HAVE_BPF */
