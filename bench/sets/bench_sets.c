/* Rule-set benchmark: generate N random domain suffixes and N CIDRs (half
 * IPv4, half IPv6) into files, time loading them (parse + insert + build),
 * time lookups (mean over >= 1,000,000 random queries, about half of them
 * hits), and report memory (the sets' own count and the process RSS).
 *
 * usage: bench_sets DIR [N]    (run.sh builds and runs it) */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vr_domainset.h"
#include "vr_ipset.h"
#include "vr_setfile.h"

#define LOOKUPS 2000000

static uint64_t rng = 0x853c49e6748fea9bULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* CPU time of this process: on a shared machine wall time also counts the
 * time other processes held the CPU; run.sh prints both. */
static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A stopwatch reading both clocks. */
struct watch {
    double cpu, wall;
};

static struct watch now(void) { return (struct watch){cpu(), wall()}; }

static double ms(struct watch a, struct watch b) { return (b.cpu - a.cpu) * 1e3; }
static double wall_ms(struct watch a, struct watch b) { return (b.wall - a.wall) * 1e3; }

/* VmRSS or VmHWM of this process in KiB. */
static long proc_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static const char *tlds[] = {"com", "net", "org", "cn", "io", "de", "jp", "example", "test", "co.uk"};

/* A random label of 4..14 characters from [a-z0-9]. */
static int label(char *out)
{
    static const char cs[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    int n = 4 + (int)(rnd() % 11);
    for (int i = 0; i < n; i++)
        out[i] = cs[rnd() % 36];
    return n;
}

/* "label.tld" or "label.label.tld". */
static int random_domain(char *out)
{
    int o = label(out);
    if (rnd() % 3 == 0) {
        out[o++] = '.';
        o += label(out + o);
    }
    return o + sprintf(out + o, ".%s", tlds[rnd() % 10]);
}

static void random_cidr(struct vr_cidr *c, int family)
{
    memset(c, 0, sizeof(*c));
    c->family = family;
    int bytes = family == AF_INET ? 4 : 16;
    for (int i = 0; i < bytes; i++)
        c->addr[i] = (uint8_t)rnd();
    unsigned r = (unsigned)(rnd() % 100);
    if (family == AF_INET) {
        /* shaped like a country list: mostly /16 to /24 */
        c->prefix = (uint8_t)(r < 5 ? 8 + rnd() % 8 : r < 95 ? 16 + rnd() % 9 : 25 + rnd() % 8);
    } else {
        c->addr[0] = (uint8_t)(0x20 | (c->addr[0] & 0x1f)); /* 2000::/3 */
        c->prefix = (uint8_t)(r < 5 ? 16 + rnd() % 16 : r < 95 ? 32 + rnd() % 33 : 65 + rnd() % 64);
    }
    for (int i = 0; i < bytes; i++) {
        int keep = c->prefix - i * 8;
        c->addr[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [N]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 1000000;
    char dpath[512], cpath[512], err[512];
    snprintf(dpath, sizeof(dpath), "%s/domains.txt", dir);
    snprintf(cpath, sizeof(cpath), "%s/cidrs.txt", dir);

    /* generate; keep every 2nd domain to build hits from */
    char (*keep)[64] = malloc((size_t)(n / 2 + 1) * sizeof(*keep));
    FILE *f = fopen(dpath, "w");
    if (f == NULL || keep == NULL) {
        perror(dpath);
        return 1;
    }
    for (long i = 0; i < n; i++) {
        char d[64];
        random_domain(d);
        fprintf(f, "%s\n", d);
        if (i % 2 == 0)
            memcpy(keep[i / 2], d, sizeof(d));
    }
    fclose(f);
    f = fopen(cpath, "w");
    if (f == NULL) {
        perror(cpath);
        return 1;
    }
    for (long i = 0; i < n; i++) {
        struct vr_cidr c;
        char a[INET6_ADDRSTRLEN];
        random_cidr(&c, i % 2 ? AF_INET6 : AF_INET);
        inet_ntop(c.family, c.addr, a, sizeof(a));
        fprintf(f, "%s/%u\n", a, c.prefix);
    }
    fclose(f);

    /* queries: half children of loaded suffixes, half random names */
    char (*q)[80] = malloc((size_t)LOOKUPS * sizeof(*q));
    uint8_t (*ip)[16] = malloc((size_t)LOOKUPS * 16);
    if (q == NULL || ip == NULL)
        return 1;
    for (long i = 0; i < LOOKUPS; i++) {
        if (i % 2 == 0)
            snprintf(q[i], sizeof(q[i]), "www.%s", keep[rnd() % (uint64_t)(n / 2)]);
        else
            random_domain(q[i] + sprintf(q[i], "x%d.", (int)(rnd() % 100)));
        for (int b = 0; b < 16; b++)
            ip[i][b] = (uint8_t)rnd();
        if (i % 2)
            ip[i][0] = (uint8_t)(0x20 | (ip[i][0] & 0x1f));
    }
    free(keep);

    long rss0 = proc_kib("VmRSS");
    struct vr_domainset *ds = vr_domainset_new();
    struct watch t0 = now();
    int dn = vr_setfile_load_domains(dpath, ds, err, sizeof(err));
    struct watch t1 = now();
    if (dn < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    long rss1 = proc_kib("VmRSS");
    struct vr_ipset *is = vr_ipset_new();
    struct watch t2 = now();
    int cn = vr_setfile_load_cidrs(cpath, is, err, sizeof(err));
    struct watch t3 = now();
    if (cn < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    long rss2 = proc_kib("VmRSS");

    long dhits = 0, ihits = 0;
    struct watch t4 = now();
    for (long i = 0; i < LOOKUPS; i++)
        dhits += vr_domainset_match(ds, q[i]);
    struct watch t5 = now();
    for (long i = 0; i < LOOKUPS; i++)
        ihits += vr_ipset_contains(is, i % 2 ? AF_INET6 : AF_INET, ip[i]);
    struct watch t6 = now();

    printf("domain set: %d suffixes (%zu distinct) loaded in %.0f ms CPU (%.0f ms wall); "
           "%.1f MiB (set) / +%.1f MiB RSS\n",
           dn, vr_domainset_count(ds), ms(t0, t1), wall_ms(t0, t1), (double)vr_domainset_memory(ds) / 1048576,
           (double)(rss1 - rss0) / 1024);
    printf("domain match: %.0f ns CPU (%.0f ns wall) mean over %d lookups (%.1f%% hits)\n",
           ms(t4, t5) * 1e6 / LOOKUPS, wall_ms(t4, t5) * 1e6 / LOOKUPS, LOOKUPS, 100.0 * (double)dhits / LOOKUPS);
    printf("ip set: %d CIDRs (%zu intervals after merge) loaded+built in %.0f ms CPU (%.0f ms wall); "
           "%.1f MiB (set) / +%.1f MiB RSS\n",
           cn, vr_ipset_intervals(is), ms(t2, t3), wall_ms(t2, t3), (double)vr_ipset_memory(is) / 1048576,
           (double)(rss2 - rss1) / 1024);
    printf("ip lookup: %.0f ns CPU (%.0f ns wall) mean over %d lookups, half IPv4 half IPv6 (%.1f%% hits)\n",
           ms(t5, t6) * 1e6 / LOOKUPS, wall_ms(t5, t6) * 1e6 / LOOKUPS, LOOKUPS, 100.0 * (double)ihits / LOOKUPS);
    printf("total load: %.0f ms CPU (%.0f ms wall); process peak RSS %.1f MiB (of which %.1f MiB test queries)\n",
           ms(t0, t1) + ms(t2, t3), wall_ms(t0, t1) + wall_ms(t2, t3), (double)proc_kib("VmHWM") / 1024,
           (double)LOOKUPS * (80 + 16) / 1048576);
    vr_domainset_free(ds);
    vr_ipset_free(is);
    free(q);
    free(ip);
    return 0;
}
