/* refrelay: the benchmark's yardstick for "what the kernel work of a userspace
 * TCP relay costs" (issue 12 §5). A TPROXY listener on [::]:PORT, the original
 * destination from getsockname, a nonblocking connect to it with SO_MARK =
 * MARK (the capture skips it as it does vrouterd's bypass_mark), then splice
 * both ways through one pipe per direction, half-close on EOF, close when both
 * directions are done. Edge-triggered epoll, one registration per socket. No
 * sniffing, no rules, no logging on the data path.
 *
 * Pipes are taken only while bytes move and kept in a small free list, as
 * vrouterd does: an idle connection holds two fds, not six.
 *
 * With THREADS > 1 each thread is such a loop with its own SO_REUSEPORT
 * listener (the yardstick for vrouterd's workers: same thread count, same
 * kernel spreading of SYNs).
 *
 * usage: refrelay PORT [MARK [THREADS]]   (needs CAP_NET_ADMIN; prints "refrelay ready")
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define POOL_MAX 64

struct pipe2fd { int r, w; };
struct dir { int from, to; struct pipe2fd p; size_t in_pipe; bool eof, shut; };
struct side { struct conn *c; int fd; bool readable, writable; };
struct conn {
    struct side cli, srv;   /* srv.fd: the upstream socket */
    struct dir up, down;    /* up: client -> server */
    bool connected, dead;
    struct conn *next_dead;
};

/* Per thread: each thread is a whole relay of its own. */
static _Thread_local struct pipe2fd pool[POOL_MAX];
static _Thread_local int n_pool;
static _Thread_local struct conn *dead;   /* freed after the epoll batch that closed them */
static _Thread_local int ep;
static int port;
static unsigned mark = 0xff;   /* SO_MARK of the upstream sockets */

static int pipe_get(struct pipe2fd *p)
{
    if (n_pool > 0) { *p = pool[--n_pool]; return 0; }
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return -1;
    p->r = fds[0]; p->w = fds[1];
    return 0;
}

static void pipe_put(struct pipe2fd *p)   /* only an empty pipe */
{
    if (p->r < 0) return;
    if (n_pool < POOL_MAX) pool[n_pool++] = *p;
    else { close(p->r); close(p->w); }
    p->r = p->w = -1;
}

static void conn_close(struct conn *c)
{
    if (c->dead) return;
    c->dead = true;
    close(c->cli.fd);   /* also leaves the epoll set */
    if (c->srv.fd >= 0) close(c->srv.fd);
    struct dir *ds[2] = {&c->up, &c->down};
    for (int i = 0; i < 2; i++) {
        if (ds[i]->p.r < 0) continue;
        if (ds[i]->in_pipe) { close(ds[i]->p.r); close(ds[i]->p.w); } else pipe_put(&ds[i]->p);
    }
    c->next_dead = dead;
    dead = c;
}

/* Moves bytes one way until the kernel says EAGAIN. Reads only into an empty
 * pipe, so EAGAIN from socket->pipe means the socket is empty, never that the
 * pipe is full. Returns -1 when the connection is broken. */
static int pump(struct dir *d, struct side *src, struct side *dst)
{
    for (;;) {
        if (d->in_pipe > 0) {
            if (!dst->writable) return 0;
            ssize_t n = splice(d->p.r, NULL, d->to, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n < 0 && errno == EAGAIN) { dst->writable = false; return 0; }
            if (n < 0 && errno != EINTR) return -1;
            if (n > 0) d->in_pipe -= (size_t)n;
            continue;
        }
        if (d->eof) {
            pipe_put(&d->p);
            if (!d->shut) {
                /* If the other way is done too, the close that follows sends this FIN. */
                struct dir *o = d->from == src->c->cli.fd ? &src->c->down : &src->c->up;
                if (!o->shut) shutdown(d->to, SHUT_WR);
                d->shut = true;
            }
            return 0;
        }
        if (!src->readable) { pipe_put(&d->p); return 0; }
        if (d->p.r < 0 && pipe_get(&d->p) < 0) return -1;
        ssize_t n = splice(d->from, NULL, d->p.w, NULL, CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n == 0) d->eof = true;
        else if (n > 0) d->in_pipe = (size_t)n;
        else if (errno == EAGAIN) src->readable = false;
        else if (errno != EINTR) return -1;
    }
}

static void on_event(struct side *s, uint32_t ev)
{
    struct conn *c = s->c;
    if (c->dead) return;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) s->readable = true;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s->writable = true;
    if (s == &c->srv && !c->connected) {
        /* The first report on the upstream socket is the connect's result:
         * writable without an error means connected, no SO_ERROR read. */
        if (ev & (EPOLLERR | EPOLLHUP)) { conn_close(c); return; }
        if (!(ev & EPOLLOUT)) return;
        c->connected = true;
    }
    if (!c->connected) return;   /* client bytes wait in its socket */
    if (pump(&c->up, &c->cli, &c->srv) < 0 || pump(&c->down, &c->srv, &c->cli) < 0) { conn_close(c); return; }
    /* A reset (EPOLLERR) ends the connection even where no pump touched that
     * socket, e.g. a direction already finished: nothing else would. */
    if ((c->up.shut && c->down.shut) || (ev & EPOLLERR)) conn_close(c);
}

static int add(int fd, struct side *s)
{
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = s};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static void accept_all(int lfd)
{
    int one = 1;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN) perror("refrelay: accept4");   /* EMFILE: the next SYN retries */
            return;
        }
        struct sockaddr_storage dst;
        socklen_t len = sizeof(dst);
        struct conn *c = calloc(1, sizeof(*c));
        if (c == NULL || getsockname(fd, (struct sockaddr *)&dst, &len) < 0) { free(c); close(fd); continue; }
        struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&dst;
        if (dst.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&d6->sin6_addr)) {
            /* An IPv4 client on the dual-stack listener: connect over IPv4. */
            struct sockaddr_in d4 = {.sin_family = AF_INET, .sin_port = d6->sin6_port};
            memcpy(&d4.sin_addr, &d6->sin6_addr.s6_addr[12], 4);
            memcpy(&dst, &d4, sizeof(d4));
            len = sizeof(d4);
        }
        int sfd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        c->cli = (struct side){c, fd, false, true};
        c->srv = (struct side){c, sfd, false, false};
        c->up = (struct dir){fd, sfd, {-1, -1}, 0, false, false};
        c->down = (struct dir){sfd, fd, {-1, -1}, 0, false, false};
        if (sfd < 0 || setsockopt(sfd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0 ||
            setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
            (connect(sfd, (struct sockaddr *)&dst, len) < 0 && errno != EINPROGRESS) ||
            add(fd, &c->cli) < 0 || add(sfd, &c->srv) < 0) {
            conn_close(c);   /* a refused or unroutable destination: the client sees its connection close */
            continue;
        }
    }
}

static void *relay_thread(void *arg)
{
    (void)arg;
    int one = 1, zero = 0;
    int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                             .sin6_addr = IN6ADDR_ANY_INIT};
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = {.events = EPOLLIN | EPOLLET, .data.ptr = NULL};
    if (lfd < 0 || ep < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
        setsockopt(lfd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) < 0 ||
        setsockopt(lfd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)) < 0 ||
        setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||   /* inherited by accepted sockets */
        bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le) < 0) {
        perror("refrelay: listen (IP_TRANSPARENT needs CAP_NET_ADMIN)");
        exit(1);
    }
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR) { perror("refrelay: epoll_wait"); exit(1); }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) accept_all(lfd);
            else on_event(evs[i].data.ptr, evs[i].events);
        }
        while (dead) { struct conn *c = dead; dead = c->next_dead; free(c); }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc == 4 ? atoi(argv[3]) : 1;
    if (argc < 2 || argc > 4 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: refrelay PORT [MARK [THREADS]]\n");
        return 2;
    }
    port = atoi(argv[1]);
    if (argc >= 3) mark = (unsigned)strtoul(argv[2], NULL, 0);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    /* The listeners are bound before "ready": every thread's socket is in
     * the SO_REUSEPORT group when the first SYN comes. Thread 0 is main. */
    pthread_t t;
    for (int i = 1; i < threads; i++)
        if (pthread_create(&t, NULL, relay_thread, NULL) != 0) { perror("refrelay: pthread_create"); return 1; }
    usleep(threads > 1 ? 200000 : 0);
    fprintf(stderr, "refrelay ready on [::]:%d, mark 0x%x, %d thread(s)\n", port, mark, threads);
    relay_thread(NULL);
    return 0;
}
