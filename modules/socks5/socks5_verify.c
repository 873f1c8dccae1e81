/* send_domain = "verified" with getaddrinfo_a (glibc; libanl before 2.34).
 *
 * Why getaddrinfo_a and not libevent's evdns: a module sees the loop only
 * through the host's watches and timers (api/vrouter/vr_host.h), not its
 * event_base, which evdns needs; and getaddrinfo_a answers as the rest of
 * the system does (nsswitch, /etc/hosts, resolv.conf options and search
 * list), so "resolves to" means what it means for the gateway's own
 * programs. The lookup runs on glibc's helper thread (SIGEV_NONE: no
 * callback into this module from another thread); the loop polls the
 * pending lookups with gai_error() every 5 ms (a one-shot timer re-armed
 * only while some are pending), and gives up on each at its deadline.
 *
 * A lookup glibc cannot cancel any more (it is in progress) keeps its
 * memory until it completes: it moves to the orphans, reaped by the same
 * timer, and at destroy waited for (bounded), then left allocated rather
 * than freed under glibc's feet. */
#include "socks5.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S5_VERIFY_POLL_MS 5
#define S5_VERIFY_DESTROY_WAIT_MS 2000

struct s5_verify {
    struct s5_link link; /* first: in st->verifying or st->verify_orphans */
    struct gaicb req;
    struct addrinfo hints;
    char name[256];
    struct sockaddr_storage dst;
    uint64_t deadline_ms;
    s5_verify_done done;
    void *arg;
};

static void s5_verify_release(struct s5_verify *v)
{
    if (v->req.ar_result != NULL)
        freeaddrinfo(v->req.ar_result);
    s5_link_del(&v->link);
    free(v);
}

/* Whether dst's address (IPv4-mapped as IPv4) is among res. */
static int s5_verify_match(const struct sockaddr *dst, const struct addrinfo *res)
{
    struct sockaddr_in d4;
    const struct sockaddr_in6 *d6 = (const struct sockaddr_in6 *)dst;
    if (dst->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&d6->sin6_addr)) {
        memset(&d4, 0, sizeof(d4));
        d4.sin_family = AF_INET;
        memcpy(&d4.sin_addr, d6->sin6_addr.s6_addr + 12, 4);
        dst = (const struct sockaddr *)&d4;
    }
    for (const struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        if (a->ai_family != dst->sa_family)
            continue;
        if (a->ai_family == AF_INET &&
            memcmp(&((const struct sockaddr_in *)a->ai_addr)->sin_addr,
                   &((const struct sockaddr_in *)dst)->sin_addr, 4) == 0)
            return 1;
        if (a->ai_family == AF_INET6 &&
            memcmp(&((const struct sockaddr_in6 *)a->ai_addr)->sin6_addr,
                   &((const struct sockaddr_in6 *)dst)->sin6_addr, 16) == 0)
            return 1;
    }
    return 0;
}

/* Takes a lookup out of glibc's hands: 1 when its memory may be freed now,
 * 0 when glibc is still working on it (it becomes an orphan). */
static int s5_verify_detach(struct s5_state *st, struct s5_verify *v)
{
    int r = gai_cancel(&v->req);
    if (r == EAI_CANCELED || r == EAI_ALLDONE || gai_error(&v->req) != EAI_INPROGRESS)
        return 1;
    s5_link_del(&v->link);
    s5_link_add(&st->verify_orphans, &v->link);
    return 0;
}

static void s5_verify_poll(void *arg);

static void s5_verify_timer_update(struct s5_state *st)
{
    int pending = st->verifying.next != &st->verifying ||
                  st->verify_orphans.next != &st->verify_orphans;
    if (pending && st->verify_timer == NULL)
        st->verify_timer = st->host->timer_add(st->inst, S5_VERIFY_POLL_MS, 0, s5_verify_poll, st);
    else if (!pending && st->verify_timer != NULL) {
        st->host->timer_del(st->verify_timer);
        st->verify_timer = NULL;
    }
}

static void s5_verify_poll(void *arg)
{
    struct s5_state *st = arg;
    st->verify_timer = NULL; /* one-shot: already freed by the host; re-armed below */
    uint64_t now = st->host->now_ms();
    /* orphans: only waiting to be freed */
    for (struct s5_link *l = st->verify_orphans.next, *next; l != &st->verify_orphans; l = next) {
        next = l->next;
        if (gai_error(&((struct s5_verify *)l)->req) != EAI_INPROGRESS)
            s5_verify_release((struct s5_verify *)l);
    }
    /* Finished ones are taken off the list before done runs: done may start
     * or cancel other lookups. */
    for (;;) {
        struct s5_verify *ready = NULL;
        int verdict = 0;
        const char *detail = NULL;
        for (struct s5_link *l = st->verifying.next; l != &st->verifying; l = l->next) {
            struct s5_verify *v = (struct s5_verify *)l;
            int e = gai_error(&v->req);
            if (e == EAI_INPROGRESS && (int64_t)(now - v->deadline_ms) < 0)
                continue;
            ready = v;
            if (e == 0)
                verdict = s5_verify_match((struct sockaddr *)&v->dst, v->req.ar_result)
                              ? S5_VERIFY_MATCH
                              : S5_VERIFY_MISMATCH;
            else if (e == EAI_INPROGRESS)
                verdict = S5_VERIFY_TIMEOUT;
            else {
                verdict = S5_VERIFY_FAILED;
                detail = gai_strerror(e);
            }
            break;
        }
        if (ready == NULL)
            break;
        s5_verify_done done = ready->done;
        void *darg = ready->arg;
        if (verdict == S5_VERIFY_TIMEOUT) {
            if (s5_verify_detach(st, ready))
                s5_verify_release(ready);
        } else {
            s5_verify_release(ready);
        }
        done(darg, verdict, detail);
    }
    s5_verify_timer_update(st);
}

struct s5_verify *s5_verify_start(struct s5_state *st, const char *name,
                                  const struct sockaddr *dst, s5_verify_done done, void *arg)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl >= sizeof(((struct s5_verify *)0)->name))
        return NULL;
    struct s5_verify *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    memcpy(v->name, name, nl + 1);
    memcpy(&v->dst, dst, dst->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                   : sizeof(struct sockaddr_in6));
    v->hints.ai_family = AF_UNSPEC;
    v->hints.ai_socktype = SOCK_STREAM;
    v->req.ar_name = v->name;
    v->req.ar_request = &v->hints;
    v->deadline_ms = st->host->now_ms() + st->verify_timeout_ms;
    v->done = done;
    v->arg = arg;
    v->link.next = v->link.prev = &v->link;
    struct gaicb *list[1] = {&v->req};
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_NONE;
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, &sev) != 0) {
        free(v);
        return NULL;
    }
    s5_link_add(&st->verifying, &v->link);
    s5_verify_timer_update(st);
    if (st->verify_timer == NULL) {
        /* nothing would ever look at it again */
        if (s5_verify_detach(st, v))
            s5_verify_release(v);
        return NULL;
    }
    return v;
}

void s5_verify_cancel(struct s5_state *st, struct s5_verify *v)
{
    if (s5_verify_detach(st, v))
        s5_verify_release(v);
    s5_verify_timer_update(st);
}

void s5_verify_free_all(struct s5_state *st)
{
    while (st->verifying.next != &st->verifying) {
        struct s5_verify *v = (struct s5_verify *)st->verifying.next;
        if (s5_verify_detach(st, v))
            s5_verify_release(v);
    }
    uint64_t until = st->host->now_ms() + S5_VERIFY_DESTROY_WAIT_MS;
    while (st->verify_orphans.next != &st->verify_orphans && st->host->now_ms() < until) {
        const struct gaicb *one[1] = {&((struct s5_verify *)st->verify_orphans.next)->req};
        struct timespec ts = {0, 50 * 1000 * 1000};
        gai_suspend(one, 1, &ts);
        for (struct s5_link *l = st->verify_orphans.next, *next; l != &st->verify_orphans;
             l = next) {
            next = l->next;
            if (gai_error(&((struct s5_verify *)l)->req) != EAI_INPROGRESS)
                s5_verify_release((struct s5_verify *)l);
        }
    }
    if (st->verify_orphans.next != &st->verify_orphans)
        st->host->log(st->inst, VR_LOG_WARN,
                      "a name lookup for send_domain = \"verified\" is still running; its "
                      "memory is left to it");
    st->host->timer_del(st->verify_timer);
    st->verify_timer = NULL;
}
