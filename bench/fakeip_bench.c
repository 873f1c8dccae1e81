/*
 * FakeIP pool figures (issue 16), one run, side by side:
 *   - heap bytes and resident bytes per mapping (N names assigned);
 *   - the time to save N mappings (snapshot + atomic write) and to load
 *     them into a fresh pool (what a restart with persist costs);
 *   - assign+lookup throughput with 1, 2 and 4 threads on one pool (the
 *     single mutex under contention).
 * Built and run by bench/fakeip_bench.sh (-O2, no sanitizers). N <= 4M.
 *
 * usage: fakeip_bench N DIR [load FILE]
 *   "load FILE": only load FILE (for /usr/bin/time's max RSS).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vr_fakeip_pool.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

static struct vr_fakeip_pool *pool_new(uint32_t max)
{
    struct vr_fakeip_pool *p = vr_fakeip_create();
    struct vr_fakeip_range r4 = {.family = AF_INET, .prefix = 24}, r6 = {.family = AF_INET6, .prefix = 64};
    inet_pton(AF_INET, "198.51.100.0", r4.base);
    inet_pton(AF_INET6, "2001:db8:fa::", r6.base);
    vr_fakeip_configure(p, &r4, &r6, 1, max);
    return p;
}

struct probe {
    struct vr_fakeip_pool *p;
    atomic_int started, stop;
    double worst_s;
};

static void *probe_loop(void *arg)
{
    struct probe *pr = arg;
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:db8:fa::1", &s.sin6_addr);
    char got[256];
    atomic_store(&pr->started, 1);
    while (!atomic_load(&pr->stop)) {
        double t0 = now_s();
        vr_fakeip_lookup(pr->p, (struct sockaddr *)&s, got, sizeof(got));
        double dt = now_s() - t0;
        if (dt > pr->worst_s)
            pr->worst_s = dt;
    }
    return NULL;
}

static void name_of(char *buf, size_t cap, long i) { snprintf(buf, cap, "host%07ld.example.com", i); }

struct thr {
    struct vr_fakeip_pool *p;
    long ops;
    unsigned seed;
};

static void *worker(void *arg)
{
    struct thr *t = arg;
    char n[64], got[256];
    for (long i = 0; i < t->ops; i++) {
        name_of(n, sizeof(n), (long)(rand_r(&t->seed) % 50000));
        uint8_t a[16];
        vr_fakeip_assign(t->p, n, AF_INET6, a);
        struct sockaddr_in6 s = {.sin6_family = AF_INET6};
        memcpy(&s.sin6_addr, a, 16);
        vr_fakeip_lookup(t->p, (struct sockaddr *)&s, got, sizeof(got));
    }
    return NULL;
}

static double contended(int threads, long ops_each)
{
    struct vr_fakeip_pool *p = pool_new(65536);
    pthread_t th[8];
    struct thr t[8];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        t[i] = (struct thr){p, ops_each, (unsigned)i + 1};
        pthread_create(&th[i], NULL, worker, &t[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double dt = now_s() - t0;
    vr_fakeip_destroy(p);
    return (double)threads * (double)ops_each / dt; /* assign+lookup pairs per second */
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s N DIR [load FILE]\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]);
    if (n < 1 || n > 4000000) {
        fprintf(stderr, "N must be 1 to 4000000\n");
        return 2;
    }
    if (argc == 5 && strcmp(argv[3], "load") == 0) {
        struct vr_fakeip_pool *p = pool_new(VR_FAKEIP_MAX_MAX);
        size_t skipped;
        char err[512];
        double t0 = now_s();
        long got = vr_fakeip_load(p, argv[4], &skipped, err, sizeof(err));
        printf("load_only mappings=%ld seconds=%.3f\n", got, now_s() - t0);
        fflush(stdout);
        vr_fakeip_destroy(p);
        return got == n ? 0 : 1;
    }
    const char *dir = argv[2];
    char path[4096];
    snprintf(path, sizeof(path), "%s/fakeip-bench.db", dir);

    /* memory per mapping */
    struct mallinfo2 m0 = mallinfo2();
    long r0 = rss_bytes();
    struct vr_fakeip_pool *p = pool_new(VR_FAKEIP_MAX_MAX);
    char nm[64];
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        uint8_t a[16];
        name_of(nm, sizeof(nm), i);
        if (vr_fakeip_assign(p, nm, AF_INET6, a) != 0) {
            fprintf(stderr, "assign failed at %ld\n", i);
            return 1;
        }
    }
    double assign_s = now_s() - t0;
    struct mallinfo2 m1 = mallinfo2();
    long r1 = rss_bytes();
    printf("mappings=%ld name_bytes=%zu\n", n, strlen(nm));
    /* uordblks: small chunks; hblkhd: the big arrays malloc mmaps */
    printf("heap_bytes_per_mapping=%.1f rss_bytes_per_mapping=%.1f\n",
           (double)((m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd)) / (double)n,
           (double)(r1 - r0) / (double)n);
    printf("assign_new_ns=%.0f\n", assign_s * 1e9 / (double)n);

    /* lookups of live mappings, one thread */
    t0 = now_s();
    char got[256];
    for (long i = 0; i < n; i++) {
        struct sockaddr_in6 s = {.sin6_family = AF_INET6};
        inet_pton(AF_INET6, "2001:db8:fa::", &s.sin6_addr);
        uint64_t off = (uint64_t)i + 1;
        for (int b = 15; b >= 8 && off; b--, off >>= 8)
            s.sin6_addr.s6_addr[b] = (uint8_t)off;
        if (vr_fakeip_lookup(p, (struct sockaddr *)&s, got, sizeof(got)) != 1) {
            fprintf(stderr, "lookup failed at %ld\n", i);
            return 1;
        }
    }
    printf("lookup_ns=%.0f\n", (now_s() - t0) * 1e9 / (double)n);

    /* a save's snapshot: its total time, and the longest a lookup on
     * another thread waited meanwhile (the part under the pool's lock) */
    char *text;
    size_t tlen;
    uint64_t changes;
    struct probe pr = {.p = p};
    pthread_t pt;
    pthread_create(&pt, NULL, probe_loop, &pr);
    while (!atomic_load(&pr.started))
        ;
    t0 = now_s();
    vr_fakeip_snapshot(p, &text, &tlen, &changes);
    double snap_s = now_s() - t0;
    atomic_store(&pr.stop, 1);
    pthread_join(pt, NULL);
    printf("snapshot_seconds=%.3f worst_lookup_stall_ms=%.1f\n", snap_s, pr.worst_s * 1e3);
    free(text);

    /* save, then load into a fresh pool */
    const char *why = "";
    t0 = now_s();
    int r = vr_fakeip_save(p, path, &changes, &why);
    double save_s = now_s() - t0;
    if (r < 0) {
        fprintf(stderr, "save: %s: %s\n", why, strerror(-r));
        return 1;
    }
    FILE *f = fopen(path, "r");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    printf("save_seconds=%.3f file_bytes=%ld\n", save_s, size);
    vr_fakeip_destroy(p);

    p = pool_new(VR_FAKEIP_MAX_MAX);
    size_t skipped;
    char err[512];
    t0 = now_s();
    long loaded = vr_fakeip_load(p, path, &skipped, err, sizeof(err));
    printf("load_seconds=%.3f loaded=%ld\n", now_s() - t0, loaded);
    vr_fakeip_destroy(p);

    /* the mutex under contention: 50,000 names over a 65,536 pool */
    long ops = 400000;
    double one = contended(1, ops);
    double two = contended(2, ops / 2);
    double four = contended(4, ops / 4);
    printf("pairs_per_s threads=1 %.0f threads=2 %.0f (x%.2f) threads=4 %.0f (x%.2f)\n", one, two, two / one, four,
           four / one);
    return loaded == n ? 0 : 1;
}
