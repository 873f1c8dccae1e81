/* vrouterctl: talks to vrouterd's control socket (daemon.control; the
 * protocol is in docs/CONTROL.md). Human tables by default, --json passes
 * the daemon's JSON lines through. Exit status 0, or 1 on any error. */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vr_config.h"
#include "vrouterctl/top.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vrouterctl [-s SOCKET | -f CONFIG] [--json] OPERATION [ARGS]\n"
            "  status\n"
            "  connections [FILTERS] [--sort bytes|age] [--limit N]\n"
            "  sessions    [FILTERS] [--sort bytes|age] [--limit N]\n"
            "  kill ID... | kill FILTERS\n"
            "  reload\n"
            "  explain \"[tcp|udp] [PROTOCOL] [DOMAIN] DST:PORT [from SRC:PORT] [inbound TAG]\"\n"
            "  outbounds\n"
            "  rules\n"
            "  log-level error|warn|info|debug\n"
            "  dns         (the resolver: queries, cache, upstreams)\n"
            "  top         (live view: busiest connections, totals per outbound and rule; q or ^C quits)\n"
            "FILTERS: --rule NAME|INDEX --outbound TAG --domain SUFFIX --client CIDR --listener TAG --state STATE\n"
            "The socket: -s, else daemon.control.path of -f CONFIG, else %s\n",
            VR_CONTROL_DEFAULT_PATH);
}

static const char *str(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return "-";
    return json_object_get_string(v);
}

static long long num(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? (long long)json_object_get_int64(v) : 0;
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void human_bytes(char *buf, size_t len, long long b)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f%s" : "%.0f%s", v, unit[u]);
}

static void print_status(json_object *o)
{
    json_object *g = get(o, "generation"), *c = get(o, "connections"), *u = get(o, "udp_sessions"),
                *f = get(o, "fds");
    char rss[32];
    human_bytes(rss, sizeof(rss), num(o, "rss_bytes"));
    printf("vrouterd %s (ABI %s), pid %lld, up %s s, config %s, log level %s%s\n", str(o, "version"), str(o, "abi"),
           num(o, "pid"), str(o, "uptime_s"), str(o, "config"), str(o, "log_level"),
           json_object_get_boolean(get(o, "draining")) ? ", DRAINING" : "");
    printf("generation %lld active, loaded %s s ago\n", num(g, "id"), str(g, "loaded_s_ago"));
    json_object *r = get(o, "retired");
    for (size_t i = 0; r && i < json_object_array_length(r); i++) {
        json_object *x = json_object_array_get_idx(r, i);
        printf("generation %lld retired %s s ago, held by %lld connections, %lld sessions, %lld other; deadline in "
               "%s s\n",
               num(x, "id"), str(x, "retired_s_ago"), num(x, "connections"), num(x, "sessions"), num(x, "other"),
               str(x, "deadline_in_s"));
    }
    printf("connections: %lld active, %lld total; UDP sessions: %lld active, %lld total\n", num(c, "active"),
           num(c, "total"), num(u, "active"), num(u, "total"));
    printf("fds: %lld of %s; RSS %s\n", num(f, "open"), str(f, "limit"), rss);
    json_object *l = get(o, "listeners");
    for (size_t i = 0; l && i < json_object_array_length(l); i++) {
        json_object *x = json_object_array_get_idx(l, i);
        printf("listener %s: %s %s on %s\n", str(x, "tag"), str(x, "mode"), str(x, "network"), str(x, "address"));
    }
    json_object *m = get(o, "modules");
    for (size_t i = 0; m && i < json_object_array_length(m); i++) {
        json_object *x = json_object_array_get_idx(m, i);
        printf("module %s: %s, ABI %s, %s\n", str(x, "name"), str(x, "kind"), str(x, "abi"), str(x, "path"));
    }
}

static void print_flow_header(void)
{
    printf("%-8s %-4s %-10s %-26s %-26s %-24s %-6s %-10s %-10s %-11s %9s %9s %8s %4s\n", "ID", "NET", "LISTENER",
           "CLIENT", "DESTINATION", "DOMAIN", "PROTO", "RULE", "OUTBOUND", "STATE", "UP", "DOWN", "AGE", "GEN");
}

static void print_flow(json_object *o)
{
    char up[32], down[32];
    human_bytes(up, sizeof(up), num(o, "bytes_up"));
    human_bytes(down, sizeof(down), num(o, "bytes_down"));
    printf("%-8lld %-4s %-10s %-26s %-26s %-24s %-6s %-10s %-10s %-11s %9s %9s %7.1fs %4lld\n", num(o, "id"),
           str(o, "network"), str(o, "listener"), str(o, "client"), str(o, "destination"), str(o, "domain"),
           str(o, "protocol"), str(o, "rule"), str(o, "outbound"), str(o, "state"), up, down,
           json_object_get_double(get(o, "age_s")), num(o, "generation"));
}

static void print_rules(json_object *o)
{
    json_object *a = get(o, "rules");
    /* the kernel fast path's nft counters, when it is installed */
    bool kernel = a && json_object_array_length(a) > 0 &&
                  get(json_object_array_get_idx(a, 0), "offloaded_packets") != NULL;
    printf("%-6s %-12s %-6s %-12s %10s", "INDEX", "NAME", "LINE", "OUTBOUND", "HITS");
    printf(kernel ? " %12s %12s\n" : "\n", "KERNEL_PKTS", "KERNEL_BYTES");
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        json_object *r = json_object_array_get_idx(a, i);
        printf("%-6s %-12s %-6s %-12s %10lld", str(r, "index"), str(r, "name"), str(r, "line"), str(r, "outbound"),
               num(r, "hits"));
        if (kernel)
            printf(" %12lld %12lld", num(r, "offloaded_packets"), num(r, "offloaded_bytes"));
        printf("\n");
    }
}

static void print_outbounds(json_object *o)
{
    printf("%-14s %-14s %-10s %8s %8s  %s\n", "TAG", "MODULE", "HEALTH", "CONNS", "SESSIONS", "COUNTERS");
    json_object *a = get(o, "outbounds");
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        json_object *x = json_object_array_get_idx(a, i), *h = get(x, "healthy");
        const char *health = h == NULL || json_object_is_type(h, json_type_null) ? "not-created"
                             : json_object_get_boolean(h)                       ? "up"
                                                                                : "down";
        printf("%-14s %-14s %-10s %8lld %8lld ", str(x, "tag"), str(x, "module"), health, num(x, "connections"),
               num(x, "sessions"));
        json_object_object_foreach(get(x, "counters"), k, v) printf(" %s=%lld", k, (long long)json_object_get_int64(v));
        if (h && !json_object_is_type(h, json_type_null) && !json_object_get_boolean(h))
            printf("  (%s)", str(x, "health_reason"));
        printf("\n");
        json_object *members = get(x, "members");
        for (size_t j = 0; members && j < json_object_array_length(members); j++) {
            json_object *m = json_object_array_get_idx(members, j), *up = get(m, "up");
            printf("  member %-12s %-5s %s\n", str(m, "member"), up && json_object_get_boolean(up) ? "up" : "down",
                   str(m, "detail"));
        }
    }
}

static void print_dns(json_object *o)
{
    json_object *on = get(o, "configured");
    if (on == NULL || !json_object_get_boolean(on)) {
        printf("no dns block in the config\n");
        return;
    }
    printf("queries %lld: %lld by rules, %lld from the cache, %lld forwarded, %lld coalesced; rate limited %lld, "
           "formerr %lld, servfail %lld\n",
           num(o, "queries"), num(o, "local"), num(o, "cached"), num(o, "forwarded"), num(o, "coalesced"),
           num(o, "rate_limited"), num(o, "formerr"), num(o, "servfail"));
    json_object *c = get(o, "cache");
    printf("cache %lld of %lld entries: hits %lld, misses %lld, evictions %lld\n", num(c, "entries"), num(c, "size"),
           num(c, "hits"), num(c, "misses"), num(c, "evictions"));
    json_object *a = get(o, "upstreams");
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        json_object *u = json_object_array_get_idx(a, i);
        printf("upstream %-12s %-28s queries %lld answers %lld timeouts %lld errors %lld tcp_retries %lld "
               "failovers %lld\n",
               str(u, "tag"), str(u, "address"), num(u, "queries"), num(u, "answers"), num(u, "timeouts"),
               num(u, "errors"), num(u, "tcp_retries"), num(u, "failovers"));
    }
}

/* One answer (or one row) in human form. */
static void print_human(const char *op, json_object *o)
{
    if (get(o, "end")) {
        printf("%lld shown of %lld matching\n", num(o, "count"), num(o, "matched"));
        return;
    }
    if (strcmp(op, "connections") == 0 || strcmp(op, "sessions") == 0)
        print_flow(o);
    else if (strcmp(op, "status") == 0)
        print_status(o);
    else if (strcmp(op, "rules") == 0)
        print_rules(o);
    else if (strcmp(op, "outbounds") == 0)
        print_outbounds(o);
    else if (strcmp(op, "dns") == 0)
        print_dns(o);
    else if (strcmp(op, "reload") == 0)
        printf("reloaded: generation %lld active\n", num(o, "generation"));
    else if (strcmp(op, "explain") == 0)
        fputs(str(o, "text"), stdout);
    else if (strcmp(op, "kill") == 0)
        printf("killed %lld: %s\n", num(o, "killed"), json_object_to_json_string(get(o, "ids")));
    else if (strcmp(op, "log-level") == 0)
        printf("log level %s (was %s) until the next reload\n", str(o, "level"), str(o, "previous"));
    else
        printf("%s\n", json_object_to_json_string(o));
}

/* The config's errors, said only when the daemon cannot be reached: a file
 * libconfig cannot parse yields no socket path, and the errors say why
 * (ExecReload= then fails with the FILE:LINE in the journal). A reachable
 * daemon reports the same errors itself. */
static struct vr_errors config_errors;

static const char *socket_from_config(const char *path)
{
    static char found[108];
    struct vr_config *c = vr_config_load(path);
    if (c == NULL)
        return NULL;
    snprintf(found, sizeof(found), "%s", c->daemon.control_path ? c->daemon.control_path : VR_CONTROL_DEFAULT_PATH);
    for (size_t i = 0; i < c->errs.n; i++)
        vr_errors_add(&config_errors, "%s", c->errs.msgs[i]);
    vr_config_free(c);
    return found;
}

static const char *const filter_keys[] = {"rule", "outbound", "domain", "client", "listener", "state", "sort"};

/* The request for op from the remaining arguments; NULL (said why) if wrong. */
static json_object *build_request(const char *op, int argc, char **argv)
{
    json_object *req = json_object_new_object();
    json_object_object_add(req, "op", json_object_new_string(op));
    bool flows = strcmp(op, "connections") == 0 || strcmp(op, "sessions") == 0, kill = strcmp(op, "kill") == 0;
    json_object *ids = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if ((flows || kill) && strncmp(a, "--", 2) == 0 && i + 1 < argc) {
            size_t k;
            for (k = 0; k < sizeof(filter_keys) / sizeof(filter_keys[0]); k++)
                if (strcmp(a + 2, filter_keys[k]) == 0)
                    break;
            if (k < sizeof(filter_keys) / sizeof(filter_keys[0])) {
                json_object_object_add(req, filter_keys[k], json_object_new_string(argv[++i]));
                continue;
            }
            if (flows && strcmp(a, "--limit") == 0) {
                json_object_object_add(req, "limit", json_object_new_int64(strtoll(argv[++i], NULL, 10)));
                continue;
            }
        }
        if (kill && a[0] >= '0' && a[0] <= '9') {
            if (ids == NULL)
                ids = json_object_new_array();
            json_object_array_add(ids, json_object_new_int64(strtoll(a, NULL, 10)));
            continue;
        }
        if (strcmp(op, "explain") == 0 && !json_object_object_get_ex(req, "flow", NULL)) {
            json_object_object_add(req, "flow", json_object_new_string(a));
            continue;
        }
        if (strcmp(op, "log-level") == 0 && !json_object_object_get_ex(req, "level", NULL)) {
            json_object_object_add(req, "level", json_object_new_string(a));
            continue;
        }
        fprintf(stderr, "vrouterctl: %s: unexpected argument \"%s\"\n", op, a);
        json_object_put(ids);
        json_object_put(req);
        return NULL;
    }
    if (ids)
        json_object_object_add(req, "ids", ids);
    return req;
}

int main(int argc, char **argv)
{
    const char *sock = NULL, *config = NULL;
    bool json = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            sock = argv[++i];
        else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 1;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 1;
    }
    const char *op = argv[i++];
    if (strcmp(op, "top") == 0) {
        if (i < argc) {
            fprintf(stderr, "vrouterctl: top: unexpected argument \"%s\"\n", argv[i]);
            return 1;
        }
        if (sock == NULL && config)
            sock = socket_from_config(config);
        vr_errors_clear(&config_errors);
        return vrouterctl_top(sock ? sock : VR_CONTROL_DEFAULT_PATH);
    }
    /* A daemon that refuses us closes at once: read its answer, no SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* --json may also follow the operation. */
    int rest = 0;
    char **args = calloc((size_t)argc, sizeof(char *));
    for (int k = i; k < argc; k++) {
        if (strcmp(argv[k], "--json") == 0)
            json = true;
        else
            args[rest++] = argv[k];
    }
    json_object *req = build_request(op, rest, args);
    free(args);
    if (req == NULL)
        return 1;
    if (sock == NULL && config)
        sock = socket_from_config(config);
    if (sock == NULL)
        sock = VR_CONTROL_DEFAULT_PATH;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "vrouterctl: cannot connect to %s: %s (is daemon.control on, and may you use it?)\n", sock,
                strerror(errno));
        if (config_errors.n > 0)
            fprintf(stderr, "vrouterctl: %s has errors, so the socket path may not be the daemon's:\n", config);
        for (size_t k = 0; k < config_errors.n; k++)
            fprintf(stderr, "%s\n", config_errors.msgs[k]);
        vr_errors_clear(&config_errors);
        json_object_put(req);
        return 1;
    }
    const char *line = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    FILE *f = fdopen(fd, "r+");
    fprintf(f, "%s\n", line);
    fflush(f);
    json_object_put(req);
    bool flows = strcmp(op, "connections") == 0 || strcmp(op, "sessions") == 0;
    if (flows && !json)
        print_flow_header();
    int status = 1;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&buf, &cap, f)) > 0) {
        json_object *o = json_tokener_parse(buf);
        if (o == NULL) {
            fprintf(stderr, "vrouterctl: not JSON from the daemon: %s", buf);
            status = 1;
            break;
        }
        json_object *ok = get(o, "ok");
        bool failed = ok && !json_object_get_boolean(ok);
        bool end = !flows || get(o, "end") != NULL || failed;
        if (json)
            fputs(buf, stdout);
        else if (failed) {
            fprintf(stderr, "vrouterctl: %s: %s\n", op, str(o, "error"));
            json_object *errs = get(o, "errors");
            for (size_t k = 0; errs && k < json_object_array_length(errs); k++)
                fprintf(stderr, "%s\n", json_object_get_string(json_object_array_get_idx(errs, k)));
        } else
            print_human(op, o);
        json_object_put(o);
        if (end) {
            status = failed ? 1 : 0;
            break;
        }
    }
    if (n <= 0 && status != 0)
        fprintf(stderr, "vrouterctl: the daemon closed the connection without an answer\n");
    free(buf);
    fclose(f);
    vr_errors_clear(&config_errors);
    return status;
}
