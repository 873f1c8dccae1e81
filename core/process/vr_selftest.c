#include "vr_selftest.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vr_addr.h"
#include "vr_conn.h"
#include "vr_listener.h"
#include "vr_log.h"

#define VR_SELFTEST_MS 300
#define VR_SELFTEST_MAX_FDS 64

struct probe {
    int fd;
    struct sockaddr_storage local; /* what the listener would see as peer */
    char target[VR_ADDRSTRLEN];
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Opens a marked non-blocking TCP socket and starts connecting. Returns 0
 * with p->fd >= 0, or 0 with p->fd = -1 when there is no route (skipped). */
static int probe_start(struct probe *p, const char *host, uint16_t port, uint32_t mark)
{
    struct sockaddr_storage dst;
    socklen_t dlen;
    p->fd = -1;
    if (vr_sockaddr_parse(host, port, &dst, &dlen) < 0)
        return -EINVAL;
    vr_sockaddr_str((const struct sockaddr *)&dst, p->target, sizeof(p->target));
    int fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno == EAFNOSUPPORT ? 0 : -errno;
    if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (connect(fd, (const struct sockaddr *)&dst, dlen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        if (e == ENETUNREACH || e == EHOSTUNREACH || e == EADDRNOTAVAIL || e == EACCES || e == EPERM) {
            vr_info("loop self-test: no probe to %s (%s): skipped for this family", p->target, strerror(e));
            return 0;
        }
        return -e;
    }
    socklen_t llen = sizeof(p->local);
    if (getsockname(fd, (struct sockaddr *)&p->local, &llen) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    p->fd = fd;
    return 0;
}

/* Accepts everything pending on l; returns the probe that arrived, if any. */
static struct probe *drain_listener(struct vr_listener *l, struct probe *probes, size_t n)
{
    struct probe *hit = NULL;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int cfd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            break;
        struct probe *match = NULL;
        for (size_t j = 0; j < n && !match; j++)
            if (probes[j].fd >= 0 && vr_sockaddr_equal((const struct sockaddr *)&peer,
                                                       (const struct sockaddr *)&probes[j].local))
                match = &probes[j];
        if (match) {
            close(cfd);
            hit = match;
        } else {
            vr_conn_accept(l, cfd, &peer); /* a real client that came early */
        }
    }
    return hit;
}

int vr_selftest_loop(struct vr_listener *const *lists, size_t n_lists, uint32_t bypass_mark, char *why,
                     size_t whylen)
{
    struct vr_listener *all = n_lists > 0 ? lists[0] : NULL;
    if (all == NULL)
        return 0;
    struct probe probes[2];
    const char *targets[2] = {"192.0.2.1", "2001:db8::1"};
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < 2; i++) {
        rc = probe_start(&probes[n], targets[i], all->port, bypass_mark);
        if (rc < 0) {
            vr_warn("loop self-test: probe to %s: %s", targets[i], strerror(-rc));
            break;
        }
        if (probes[n].fd >= 0)
            n++;
    }
    if (rc < 0 || n == 0)
        goto out;
    struct pollfd pfd[VR_SELFTEST_MAX_FDS];
    struct vr_listener *ls[VR_SELFTEST_MAX_FDS];
    size_t nl = 0;
    /* Every worker's socket: the kernel may hand the probe to any of them. */
    for (size_t k = 0; k < n_lists; k++)
        for (struct vr_listener *l = lists[k]; l && nl < VR_SELFTEST_MAX_FDS; l = l->next) {
            pfd[nl] = (struct pollfd){.fd = l->fd, .events = POLLIN};
            ls[nl++] = l;
        }
    long deadline = now_ms() + VR_SELFTEST_MS;
    for (long left; (left = deadline - now_ms()) > 0;) {
        int r = poll(pfd, nl, (int)left);
        if (r < 0 && errno != EINTR)
            break;
        for (size_t i = 0; r > 0 && i < nl; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            struct probe *hit = drain_listener(ls[i], probes, n);
            if (hit) {
                char a[VR_ADDRSTRLEN];
                if (bypass_mark == 0) {
                    snprintf(why, whylen,
                             "a probe from %s to %s without a mark, from vrouterd's own process, arrived at "
                             "listener %s: daemon.capture_cgroup captures vrouterd's own connections (its "
                             "programs did not recognise vrouterd's process: report this as a bug)",
                             vr_sockaddr_str((const struct sockaddr *)&hit->local, a, sizeof(a)), hit->target,
                             ls[i]->tag);
                    rc = 1;
                    goto out;
                }
                snprintf(why, whylen,
                         "a probe from %s to %s carrying daemon.bypass_mark 0x%x arrived at listener %s: "
                         "vrouterd's own outgoing traffic is captured back into itself and every proxied "
                         "connection would loop; check that the capture rules return for packets carrying "
                         "the bypass mark before any other rule marks or reroutes them (nft list ruleset)",
                         vr_sockaddr_str((const struct sockaddr *)&hit->local, a, sizeof(a)), hit->target,
                         bypass_mark, ls[i]->tag);
                rc = 1;
                goto out;
            }
        }
    }
    vr_info("loop self-test: %zu %s probe(s) did not reach a listener: no loop", n, bypass_mark ? "marked" : "unmarked");
out:
    for (size_t i = 0; i < n; i++)
        close(probes[i].fd);
    return rc;
}
