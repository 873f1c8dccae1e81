/* The service side of the daemon (issue 14) in isolation: the notify
 * protocol's datagrams as a manager receives them (path and abstract
 * sockets, no socket, a bad one, the watchdog and WATCHDOG_PID), the
 * environment unset after reading, daemon.user / daemon.group parsing with
 * FILE:LINE errors, and the readable-password warning. The drop itself
 * needs root and a fresh process: tests/e2e/test_privdrop.sh. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vr_config.h"
#include "vr_log.h"
#include "vr_notify.h"
#include "vr_privdrop.h"
#include "vr_secrets.h"
#include "vr_test.h"

static char tmpdir[PATH_MAX / 2];

static const char *tmp_path(const char *name)
{
    static char buf[4][PATH_MAX];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
    return buf[i];
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

/* A manager's socket: a path, or "@name" in the abstract namespace. */
static int manager_socket(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(sa.sun_path, name, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    if (name[0] == '@') {
        sa.sun_path[0] = '\0';
        len--;
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0) {
        perror("bind");
        exit(2);
    }
    return fd;
}

/* The next datagram within 1 s, or "" if none. */
static const char *next_message(int fd)
{
    static char buf[1024];
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static bool nothing_queued(int fd)
{
    char b[16];
    return recv(fd, b, sizeof(b), MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
}

static void status_fn(char *buf, size_t len) { snprintf(buf, len, "generation 7: 3 connections, 1 UDP sessions"); }

static uint64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void test_notify_path(void)
{
    const char *path = tmp_path("notify.sock");
    int m = manager_socket(path);
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "200000", 1);
    vr_notify_init();
    CHECK(getenv("NOTIFY_SOCKET") == NULL && getenv("WATCHDOG_USEC") == NULL);

    struct event_base *base = event_base_new();
    vr_notify_start(base, status_fn);
    vr_notify_ready();
    CHECK(strcmp(next_message(m), "READY=1\nSTATUS=generation 7: 3 connections, 1 UDP sessions") == 0);

    uint64_t before = now_usec();
    vr_notify_reloading();
    const char *msg = next_message(m);
    unsigned long long t = 0;
    CHECK(sscanf(msg, "RELOADING=1\nMONOTONIC_USEC=%llu", &t) == 1);
    CHECK(t >= before && t <= now_usec());

    vr_notify_reload_failed("a.conf:3: route: final: no outbound\nhas tag");
    CHECK(strcmp(next_message(m), "READY=1\nSTATUS=reload failed (a.conf:3: route: final: no outbound has tag), old "
                                  "generation kept; generation 7: 3 connections, 1 UDP sessions") == 0);
    vr_notify_stopping();
    CHECK(strcmp(next_message(m), "STOPPING=1\nSTATUS=stopping; generation 7: 3 connections, 1 UDP sessions") == 0);

    /* WATCHDOG_USEC = 0.2 s: pings every 0.1 s while the loop turns (0.55 s). */
    struct timeval run = {0, 550000};
    event_base_loopexit(base, &run);
    event_base_dispatch(base);
    int pings = 0, others = 0;
    while (!nothing_queued(m) && pings + others < 100) {
        if (strcmp(next_message(m), "WATCHDOG=1") == 0)
            pings++;
        else
            others++;
    }
    CHECK(pings >= 2 && pings <= 6 && others == 0); /* 5 expected; a loaded machine may skip some */
    vr_notify_fini();
    vr_notify_ready(); /* after fini: nothing */
    CHECK(nothing_queued(m));
    event_base_free(base);
    close(m);
}

static void test_notify_abstract_and_foreign_watchdog(void)
{
    char name[64];
    snprintf(name, sizeof(name), "@vr_test_service.%d", (int)getpid());
    int m = manager_socket(name);
    setenv("NOTIFY_SOCKET", name, 1);
    setenv("WATCHDOG_USEC", "100000", 1);
    setenv("WATCHDOG_PID", "1", 1); /* another process's watchdog */
    vr_notify_init();
    CHECK(getenv("WATCHDOG_PID") == NULL);
    struct event_base *base = event_base_new();
    vr_notify_start(base, NULL);
    vr_notify_ready();
    CHECK(strcmp(next_message(m), "READY=1\nSTATUS=") == 0);
    struct timeval run = {0, 300000};
    event_base_loopexit(base, &run);
    event_base_dispatch(base);
    CHECK(nothing_queued(m));
    vr_notify_fini();
    event_base_free(base);
    close(m);
}

static void test_notify_unset_and_bad(void)
{
    unsetenv("NOTIFY_SOCKET");
    vr_notify_init();
    vr_notify_ready(); /* no socket: no-ops */
    vr_notify_reloading();
    vr_notify_stopping();
    vr_notify_fini();
    setenv("NOTIFY_SOCKET", "relative/notify.sock", 1);
    vr_notify_init();
    CHECK(getenv("NOTIFY_SOCKET") == NULL);
    vr_notify_ready();
    vr_notify_fini();
    CHECK(1); /* reached without a crash or a blocked call */
}

/* ---- daemon.user / daemon.group */

#define REST                                                                                                 \
    "listeners = ( { tag = \"tp\"; mode = \"tproxy\"; address = \"::\"; port = 7000; } );\n"             \
    "outbounds = ( { tag = \"direct\"; module = \"direct\"; } );\n"

static struct vr_config *load(const char *name, const char *text)
{
    write_file(tmp_path(name), text, 0644);
    return vr_config_load(tmp_path(name));
}

static void test_user(void)
{
    struct vr_config *c = load("user.conf", "daemon = { user = \"nobody\"; };\n" REST);
    CHECK(c && c->errs.n == 0 && c->daemon.user && strcmp(c->daemon.user, "nobody") == 0);
    CHECK(c && c->daemon.uid == 65534 && c->daemon.gid == 65534 && c->daemon.group == NULL);
    CHECK(c && c->daemon.user_line == 1 && strcmp(c->daemon.user_file, tmp_path("user.conf")) == 0);
    vr_config_free(c);

    c = load("group.conf", "daemon = {\n  user = \"nobody\";\n  group = \"root\";\n};\n" REST);
    CHECK(c && c->errs.n == 0 && c->daemon.uid == 65534 && c->daemon.gid == 0);
    vr_config_free(c);

    c = load("none.conf", REST);
    CHECK(c && c->errs.n == 0 && c->daemon.user == NULL);
    vr_config_free(c);

    c = load("unknown.conf", "daemon = {\n  user = \"vr-no-such-user\";\n};\n" REST);
    CHECK(c && c->errs.n == 1);
    if (c && c->errs.n == 1) {
        CHECK_STR_CONTAINS(c->errs.msgs[0], "unknown.conf:2: ");
        CHECK_STR_CONTAINS(c->errs.msgs[0], "no user \"vr-no-such-user\" on this system");
        CHECK_STR_CONTAINS(c->errs.msgs[0], "useradd --system");
    }
    vr_config_free(c);

    c = load("badgroup.conf", "daemon = {\n  user = \"nobody\";\n  group = \"vr-no-such-group\";\n};\n" REST);
    CHECK(c && c->errs.n == 1);
    if (c && c->errs.n == 1)
        CHECK_STR_CONTAINS(c->errs.msgs[0], "badgroup.conf:3: ");
    vr_config_free(c);

    c = load("grouponly.conf", "daemon = {\n  group = \"nogroup\";\n};\n" REST);
    CHECK(c && c->errs.n == 1);
    if (c && c->errs.n == 1)
        CHECK_STR_CONTAINS(c->errs.msgs[0], "daemon.group without daemon.user");
    vr_config_free(c);

    c = load("empty.conf", "daemon = {\n  user = \"\";\n};\n" REST);
    CHECK(c && c->errs.n == 1);
    vr_config_free(c);
}

/* ---- the readable-password warning: stderr captured in a file */

static const char *warnings_of(const char *conf)
{
    static char out[4096];
    const char *capture = tmp_path("stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    struct vr_config *c = vr_config_load(conf);
    if (c)
        vr_secrets_warn_readable(c);
    vr_config_free(c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(capture, "r");
    size_t n = f ? fread(out, 1, sizeof(out) - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return out;
}

static void test_secrets(void)
{
    const char *s5 = "outbounds = ( { tag = \"direct\"; module = \"direct\"; },\n"
                     "  { tag = \"up\"; module = \"socks5\"; server = \"198.51.100.1\";\n"
                     "    username = \"u\"; password = \"p\"; } );\n"
                     "listeners = ( { tag = \"tp\"; mode = \"tproxy\"; address = \"::\"; port = 7000; } );\n";
    write_file(tmp_path("s5.conf"), s5, 0644);
    const char *w = warnings_of(tmp_path("s5.conf"));
    CHECK_STR_CONTAINS(w, "s5.conf:3: the password of outbound \"up\" is in a file every user on this host can read "
                          "(mode 0644); fix: chmod 0640");
    CHECK_STR_CONTAINS(w, "chown root:root");

    chmod(tmp_path("s5.conf"), 0640);
    CHECK(strstr(warnings_of(tmp_path("s5.conf")), "every user") == NULL);

    /* The password in an @include: that file is named, not the main one. */
    write_file(tmp_path("secret.inc"), "password = \"p\";\n", 0604);
    write_file(tmp_path("inc.conf"),
               "daemon = { user = \"nobody\"; };\n"
               "outbounds = ( { tag = \"direct\"; module = \"direct\"; },\n"
               "  { tag = \"up\"; module = \"socks5\"; server = \"198.51.100.1\"; username = \"u\";\n"
               "    @include \"secret.inc\"\n  } );\n"
               "listeners = ( { tag = \"tp\"; mode = \"tproxy\"; address = \"::\"; port = 7000; } );\n",
               0640);
    w = warnings_of(tmp_path("inc.conf"));
    CHECK_STR_CONTAINS(w, "secret.inc:1: the password of outbound \"up\"");
    CHECK_STR_CONTAINS(w, "chown root:nogroup");

    write_file(tmp_path("nopw.conf"), REST, 0644);
    CHECK(strstr(warnings_of(tmp_path("nopw.conf")), "every user") == NULL);
}

/* ---- vr_privdrop_apply in a forked child (it changes the process for good) */

static void *idle_thread(void *arg)
{
    (void)arg;
    pause();
    return NULL;
}

/* The child's exit status: 0 dropped and verified, 1 refused, 2 dropped
 * but wrong. */
static int drop_in_child(bool with_thread)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct vr_daemon_cfg d = {.user = "nobody", .uid = 65534, .gid = 65534, .user_file = "t.conf", .user_line = 1};
        pthread_t t;
        if (with_thread && pthread_create(&t, NULL, idle_thread, NULL) != 0)
            _exit(3);
        if (vr_privdrop_apply(&d) < 0)
            _exit(1);
        uid_t r, e, sv;
        getresuid(&r, &e, &sv);
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        int exact = 0;
        while (f && fgets(line, sizeof(line), f))
            exact += strncmp(line, "Cap", 3) == 0 && strstr(line, "\t0000000000003400") != NULL;
        if (f)
            fclose(f);
        _exit(r == 65534 && e == 65534 && sv == 65534 && exact == 5 && setuid(0) < 0 ? 0 : 2);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_privdrop(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_privdrop: not root, skipped (tests/e2e/test_privdrop.sh covers it)\n");
        return;
    }
    CHECK(drop_in_child(false) == 0);
    /* A thread started before the drop would keep root's bounding set:
     * refused before anything changes. */
    CHECK(drop_in_child(true) == 1);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/vr_test_service.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    chmod(tmpdir, 0755);
    const char *mods = getenv("VR_MODULE_DIR");
    if (mods)
        setenv("VROUTER_MODULE_PATH", mods, 1);
    test_notify_path();
    test_notify_abstract_and_foreign_watchdog();
    test_notify_unset_and_bad();
    test_user();
    test_secrets();
    test_privdrop();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return vr_test_report();
}
