/* vrouterctl top: a live view of the busiest connections and the totals per
 * outbound and per rule, refreshed each second. Rates come from two
 * consecutive `connections` snapshots matched by id (bytes moved between
 * them over the time between them). Plain ANSI escape codes, no curses: the
 * alternate screen, cursor hidden, stdin in non-canonical no-echo mode; all
 * of it is undone on q, ^C (SIGINT), SIGTERM or an error. When stdout is
 * not a terminal, one frame (two snapshots a second apart) is printed as
 * plain text and top exits. */
#include "top.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

struct flow {
    long long id, up, down;
    double rate_up, rate_down, age;
    char client[64], destination[64], domain[64], outbound[40], rule[24], state[16];
};

struct snapshot {
    struct flow *v;
    size_t n, cap;
    double taken; /* CLOCK_MONOTONIC seconds */
};

static volatile sig_atomic_t quit_requested;
static struct termios saved_tio;
static bool tio_saved, screen_entered;
static char failure[256];

static void on_quit_signal(int sig)
{
    (void)sig;
    quit_requested = 1;
}

/* Idempotent: called on every exit path and from atexit. */
static void restore_terminal(void)
{
    if (screen_entered) {
        /* attributes reset, cursor shown, back to the normal screen */
        fputs("\033[0m\033[?25h\033[?1049l", stdout);
        fflush(stdout);
        screen_entered = false;
    }
    if (tio_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
        tio_saved = false;
    }
}

static void enter_terminal(void)
{
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
        struct termios raw = saved_tio;
        /* keys arrive one by one, unechoed; ISIG stays so ^C is SIGINT */
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        tio_saved = true;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    atexit(restore_terminal);
    fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
    screen_entered = true;
    fflush(stdout);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_object *field(json_object *o, const char *key)
{
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *text(json_object *o, const char *key)
{
    json_object *v = field(o, key);
    return v == NULL || json_object_is_type(v, json_type_null) ? "-" : json_object_get_string(v);
}

static long long integer(json_object *o, const char *key)
{
    json_object *v = field(o, key);
    return v ? (long long)json_object_get_int64(v) : 0;
}

static void human(char *buf, size_t len, double b, const char *suffix)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f%s%s" : "%.0f%s%s", b, unit[u], suffix);
}

/* ---- talking to the daemon: one connection, requests answered in order */

static FILE *control_open(const char *sock)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(failure, sizeof(failure), "cannot connect to %s: %s (is daemon.control on, and may you use it?)",
                 sock, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    /* a daemon that stops answering ends top instead of hanging it */
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fdopen(fd, "r+");
}

/* Sends {"op":op}; returns the next answer line parsed, NULL (failure set)
 * on a closed connection, bad JSON or an error answer. */
static json_object *read_answer(FILE *f, char **buf, size_t *cap)
{
    if (getline(buf, cap, f) <= 0) {
        if (!quit_requested)
            snprintf(failure, sizeof(failure), "the daemon closed the connection without an answer");
        return NULL;
    }
    json_object *o = json_tokener_parse(*buf);
    if (o == NULL) {
        snprintf(failure, sizeof(failure), "not JSON from the daemon: %.200s", *buf);
        return NULL;
    }
    json_object *ok = field(o, "ok");
    if (ok && !json_object_get_boolean(ok)) {
        snprintf(failure, sizeof(failure), "%s", text(o, "error"));
        json_object_put(o);
        return NULL;
    }
    return o;
}

static bool send_op(FILE *f, const char *op)
{
    if (fprintf(f, "{\"op\":\"%s\"}\n", op) < 0 || fflush(f) != 0) {
        snprintf(failure, sizeof(failure), "cannot write to the daemon: %s", strerror(errno));
        return false;
    }
    return true;
}

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src);
}

/* Every TCP connection now, into s (emptied first). */
static bool fetch_connections(FILE *f, struct snapshot *s, char **buf, size_t *cap)
{
    s->n = 0;
    if (!send_op(f, "connections"))
        return false;
    for (;;) {
        json_object *o = read_answer(f, buf, cap);
        if (o == NULL)
            return false;
        if (field(o, "end")) {
            json_object_put(o);
            break;
        }
        if (s->n == s->cap) {
            size_t cap2 = s->cap ? s->cap * 2 : 256;
            struct flow *v = realloc(s->v, cap2 * sizeof(*v));
            if (v == NULL) {
                json_object_put(o);
                snprintf(failure, sizeof(failure), "out of memory");
                return false;
            }
            s->v = v;
            s->cap = cap2;
        }
        struct flow *x = &s->v[s->n++];
        memset(x, 0, sizeof(*x));
        x->id = integer(o, "id");
        x->up = integer(o, "bytes_up");
        x->down = integer(o, "bytes_down");
        x->age = json_object_get_double(field(o, "age_s"));
        copy(x->client, sizeof(x->client), text(o, "client"));
        copy(x->destination, sizeof(x->destination), text(o, "destination"));
        copy(x->domain, sizeof(x->domain), text(o, "domain"));
        copy(x->outbound, sizeof(x->outbound), text(o, "outbound"));
        copy(x->rule, sizeof(x->rule), text(o, "rule"));
        copy(x->state, sizeof(x->state), text(o, "state"));
        json_object_put(o);
    }
    s->taken = now_s();
    return true;
}

static int by_id(const void *a, const void *b)
{
    long long x = ((const struct flow *)a)->id, y = ((const struct flow *)b)->id;
    return (x > y) - (x < y);
}

static int by_rate(const void *a, const void *b)
{
    const struct flow *x = a, *y = b;
    double rx = x->rate_up + x->rate_down, ry = y->rate_up + y->rate_down;
    if (rx != ry)
        return rx < ry ? 1 : -1;
    return by_id(a, b);
}

/* Rates of now against prev (sorted by id): bytes since prev over the time
 * since prev; a flow new since prev counts from 0. */
static void compute_rates(struct snapshot *now, const struct snapshot *prev)
{
    double dt = now->taken - prev->taken;
    if (dt <= 0)
        dt = 1e-3;
    for (size_t i = 0; i < now->n; i++) {
        struct flow *x = &now->v[i];
        const struct flow *p = bsearch(x, prev->v, prev->n, sizeof(*x), by_id);
        long long up = x->up - (p ? p->up : 0), down = x->down - (p ? p->down : 0);
        x->rate_up = up > 0 ? (double)up / dt : 0;
        x->rate_down = down > 0 ? (double)down / dt : 0;
    }
}

/* ---- drawing */

struct screen {
    bool tty;
    int rows, cols, used;
};

/* One line, cut to the terminal's width; on a terminal the rest of the
 * line is cleared. Returns false once the screen is full. */
static bool line(struct screen *sc, bool bold, const char *fmt, ...)
{
    if (sc->tty && sc->used >= sc->rows - 1)
        return false;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (sc->tty && sc->cols > 0 && (size_t)sc->cols < sizeof(buf))
        buf[sc->cols] = '\0';
    if (sc->tty)
        printf("%s%s%s\033[K\n", bold ? "\033[1m" : "", buf, bold ? "\033[0m" : "");
    else
        printf("%s\n", buf);
    sc->used++;
    return true;
}

static void sum_rates(const struct snapshot *s, const char *key_field_outbound, const char *tag, double *up,
                      double *down, long long *count)
{
    *up = *down = 0;
    *count = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct flow *x = &s->v[i];
        if (strcmp(key_field_outbound ? x->outbound : x->rule, tag) != 0)
            continue;
        *up += x->rate_up;
        *down += x->rate_down;
        (*count)++;
    }
}

static void draw(struct screen *sc, struct snapshot *s, json_object *outbounds, json_object *rules)
{
    char a[32], b[32], c[32], d[32];
    double up = 0, down = 0;
    for (size_t i = 0; i < s->n; i++) {
        up += s->v[i].rate_up;
        down += s->v[i].rate_down;
    }
    human(a, sizeof(a), down, "/s");
    human(b, sizeof(b), up, "/s");
    if (sc->tty)
        fputs("\033[H", stdout);
    sc->used = 0;
    line(sc, true, "vrouterctl top: generation %lld, %zu connections, down %s, up %s%s", integer(rules, "generation"),
         s->n, a, b, sc->tty ? "   (q: quit)" : "");
    line(sc, false, "%s", "");
    line(sc, true, "%-16s %-12s %-8s %6s %8s %12s %12s", "OUTBOUND", "MODULE", "HEALTH", "CONNS", "SESSIONS",
         "DOWN/s", "UP/s");
    json_object *arr = field(outbounds, "outbounds");
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
        json_object *o = json_object_array_get_idx(arr, i), *h = field(o, "healthy");
        long long n;
        sum_rates(s, "outbound", text(o, "tag"), &up, &down, &n);
        human(a, sizeof(a), down, "/s");
        human(b, sizeof(b), up, "/s");
        const char *health = h == NULL || json_object_is_type(h, json_type_null) ? "unused"
                             : json_object_get_boolean(h)                       ? "up"
                                                                                : "down";
        line(sc, false, "%-16s %-12s %-8s %6lld %8lld %12s %12s", text(o, "tag"), text(o, "module"), health,
             integer(o, "connections"), integer(o, "sessions"), a, b);
    }
    line(sc, false, "%s", "");
    line(sc, true, "%-8s %-12s %-6s %-16s %10s %6s %12s %12s", "RULE", "NAME", "LINE", "OUTBOUND", "HITS", "CONNS",
         "DOWN/s", "UP/s");
    arr = field(rules, "rules");
    size_t nrules = arr ? json_object_array_length(arr) : 0;
    /* on a terminal the rules take at most a third of it */
    size_t shown = sc->tty && nrules > (size_t)(sc->rows / 3 + 1) ? (size_t)(sc->rows / 3) : nrules;
    for (size_t i = 0; i < shown; i++) {
        json_object *r = json_object_array_get_idx(arr, i);
        long long n;
        sum_rates(s, NULL, text(r, "name"), &up, &down, &n);
        human(a, sizeof(a), down, "/s");
        human(b, sizeof(b), up, "/s");
        line(sc, false, "%-8s %-12s %-6s %-16s %10lld %6lld %12s %12s", text(r, "index"), text(r, "name"),
             text(r, "line"), text(r, "outbound"), integer(r, "hits"), n, a, b);
    }
    if (shown < nrules)
        line(sc, false, "... %zu more rules (vrouterctl rules)", nrules - shown);
    line(sc, false, "%s", "");
    qsort(s->v, s->n, sizeof(*s->v), by_rate);
    line(sc, true, "%-8s %-24s %-24s %-20s %-12s %-8s %-11s %11s %11s %9s %9s %7s", "ID", "CLIENT", "DESTINATION",
         "DOMAIN", "OUTBOUND", "RULE", "STATE", "DOWN/s", "UP/s", "DOWN", "UP", "AGE");
    size_t limit = sc->tty ? s->n : (s->n < 25 ? s->n : 25);
    for (size_t i = 0; i < limit; i++) {
        const struct flow *x = &s->v[i];
        human(a, sizeof(a), x->rate_down, "/s");
        human(b, sizeof(b), x->rate_up, "/s");
        human(c, sizeof(c), (double)x->down, "");
        human(d, sizeof(d), (double)x->up, "");
        if (!line(sc, false, "%-8lld %-24s %-24s %-20s %-12s %-8s %-11s %11s %11s %9s %9s %6.0fs", x->id, x->client,
                  x->destination, x->domain, x->outbound, x->rule, x->state, a, b, c, d, x->age))
            break;
    }
    if (sc->tty)
        fputs("\033[J", stdout);
    fflush(stdout);
    /* back to id order for the next frame's matching */
    qsort(s->v, s->n, sizeof(*s->v), by_id);
}

/* Waits until deadline (monotonic seconds), reading keys; false on q or a
 * quit signal. */
static bool wait_until(double deadline, bool *keys)
{
    while (!quit_requested) {
        double left = deadline - now_s();
        if (left <= 0)
            return true;
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        int r = poll(&p, *keys ? 1 : 0, (int)(left * 1000) + 1);
        if (r > 0) {
            char k[64];
            ssize_t n = read(STDIN_FILENO, k, sizeof(k));
            if (n <= 0 && !(n < 0 && errno == EINTR))
                *keys = false; /* stdin closed: ^C still quits */
            for (ssize_t i = 0; i < n; i++)
                if (k[i] == 'q' || k[i] == 'Q')
                    return false;
        }
    }
    return false;
}

static void screen_size(struct screen *sc)
{
    struct winsize ws;
    sc->rows = 24;
    sc->cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        sc->rows = ws.ws_row;
        sc->cols = ws.ws_col;
    }
}

static json_object *ask(FILE *f, const char *op, char **buf, size_t *cap)
{
    return send_op(f, op) ? read_answer(f, buf, cap) : NULL;
}

int vrouterctl_top(const char *sock)
{
    struct sigaction sa = {.sa_handler = on_quit_signal}; /* no SA_RESTART: a read in progress ends */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    FILE *f = control_open(sock);
    if (f == NULL) {
        fprintf(stderr, "vrouterctl: top: %s\n", failure);
        return 1;
    }
    struct screen sc = {.tty = isatty(STDOUT_FILENO)};
    bool keys = sc.tty && isatty(STDIN_FILENO);
    struct snapshot snaps[2] = {{0}};
    char *buf = NULL;
    size_t cap = 0;
    int cur = 0;
    bool ok = fetch_connections(f, &snaps[cur], &buf, &cap);
    if (ok) {
        qsort(snaps[cur].v, snaps[cur].n, sizeof(*snaps[cur].v), by_id);
        if (sc.tty) {
            screen_size(&sc);
            enter_terminal();
            line(&sc, true, "vrouterctl top: measuring rates...");
            fflush(stdout);
        }
    }
    while (ok && wait_until(snaps[cur].taken + 1.0, &keys)) {
        struct snapshot *prev = &snaps[cur], *now = &snaps[cur ^ 1];
        if (!fetch_connections(f, now, &buf, &cap))
            break;
        qsort(now->v, now->n, sizeof(*now->v), by_id);
        compute_rates(now, prev);
        json_object *outbounds = ask(f, "outbounds", &buf, &cap);
        json_object *rules = outbounds ? ask(f, "rules", &buf, &cap) : NULL;
        if (rules == NULL) {
            json_object_put(outbounds);
            break;
        }
        if (sc.tty)
            screen_size(&sc);
        draw(&sc, now, outbounds, rules);
        json_object_put(outbounds);
        json_object_put(rules);
        cur ^= 1;
        if (!sc.tty)
            break; /* one frame */
    }
    restore_terminal();
    free(buf);
    free(snaps[0].v);
    free(snaps[1].v);
    fclose(f);
    if (failure[0] && !quit_requested) {
        fprintf(stderr, "vrouterctl: top: %s\n", failure);
        return 1;
    }
    return 0;
}
