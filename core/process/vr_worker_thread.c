#include "vr_worker_thread.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "vr_log.h"
#include "vr_worker.h"

int vr_threads_init(void) { return evthread_use_pthreads(); }

/* Runs on w's thread: the pending call (at most one: only the main thread
 * calls, and it waits for each). */
void vr_worker_call_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_worker *w = arg;
    pthread_mutex_lock(&w->call_mu);
    void (*fn)(void *) = w->call_fn;
    void *fn_arg = w->call_arg;
    pthread_mutex_unlock(&w->call_mu);
    if (fn)
        fn(fn_arg);
    pthread_mutex_lock(&w->call_mu);
    w->call_fn = NULL;
    w->call_done = true;
    pthread_cond_broadcast(&w->call_cv);
    pthread_mutex_unlock(&w->call_mu);
}

static void *thread_main(void *arg)
{
    struct vr_worker *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "vr-worker-%zu", w->index);
    pthread_setname_np(pthread_self(), name);
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

int vr_worker_thread_start(struct vr_worker *w)
{
    if (w->threaded)
        return 0;
    /* Signals are the main thread's (its libevent signal events): block them
     * here so the kernel never delivers one to a worker. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(&w->thread, NULL, thread_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0)
        return -r;
    w->threaded = true;
    return 0;
}

void vr_worker_thread_stop(struct vr_worker *w)
{
    if (!w->threaded)
        return;
    event_base_loopbreak(w->base);
    pthread_join(w->thread, NULL);
    w->threaded = false;
}

void vr_worker_call(struct vr_worker *w, void (*fn)(void *arg), void *arg)
{
    if (!w->threaded || pthread_equal(pthread_self(), w->thread)) {
        fn(arg);
        return;
    }
    pthread_mutex_lock(&w->call_mu);
    w->call_fn = fn;
    w->call_arg = arg;
    w->call_done = false;
    pthread_mutex_unlock(&w->call_mu);
    event_active(w->call_ev, EV_TIMEOUT, 1);
    pthread_mutex_lock(&w->call_mu);
    while (!w->call_done)
        pthread_cond_wait(&w->call_cv, &w->call_mu);
    pthread_mutex_unlock(&w->call_mu);
}

struct each_call {
    struct vr_worker *w;
    void (*fn)(struct vr_worker *w, void *arg);
    void *arg;
};

static void run_each(void *arg)
{
    struct each_call *c = arg;
    c->fn(c->w, c->arg);
}

void vr_workers_call(struct vr_worker *ws, size_t n, void (*fn)(struct vr_worker *w, void *arg), void *arg)
{
    for (size_t i = 0; i < n; i++) {
        struct each_call c = {&ws[i], fn, arg};
        vr_worker_call(&ws[i], run_each, &c);
    }
}

/* Runs on a worker's thread: says it is parked, then waits to be let go.
 * The handshake is under call_mu, so what the worker wrote before parking
 * is visible to the main thread, and what the main thread wrote while it
 * was parked is visible to the worker after. */
void vr_worker_park_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_worker *w = arg;
    pthread_mutex_lock(&w->call_mu);
    w->parked = true;
    pthread_cond_broadcast(&w->call_cv);
    while (w->park_wanted)
        pthread_cond_wait(&w->call_cv, &w->call_mu);
    w->parked = false;
    pthread_cond_broadcast(&w->call_cv);
    pthread_mutex_unlock(&w->call_mu);
}

void vr_workers_stop(struct vr_worker *ws, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct vr_worker *w = &ws[i];
        if (!w->threaded)
            continue;
        pthread_mutex_lock(&w->call_mu);
        w->park_wanted = true;
        pthread_mutex_unlock(&w->call_mu);
        event_active(w->park_ev, EV_TIMEOUT, 1);
    }
    for (size_t i = 0; i < n; i++) {
        struct vr_worker *w = &ws[i];
        if (!w->threaded)
            continue;
        pthread_mutex_lock(&w->call_mu);
        while (!w->parked)
            pthread_cond_wait(&w->call_cv, &w->call_mu);
        pthread_mutex_unlock(&w->call_mu);
    }
}

void vr_workers_start(struct vr_worker *ws, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct vr_worker *w = &ws[i];
        if (!w->threaded)
            continue;
        pthread_mutex_lock(&w->call_mu);
        w->park_wanted = false;
        pthread_cond_broadcast(&w->call_cv);
        while (w->parked)
            pthread_cond_wait(&w->call_cv, &w->call_mu);
        pthread_mutex_unlock(&w->call_mu);
    }
}
