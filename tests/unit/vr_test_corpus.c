#include "vr_test_corpus.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vrouter/vr_plugin.h>

#include "vr_test.h"

/* ---- corpus files ---------------------------------------------------------- */

uint8_t *vr_test_read_file(const char *path, size_t max, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return NULL;
    }
    /* One byte more than max tells a file that is too long. */
    uint8_t *tmp = malloc(max + 1);
    size_t n = tmp != NULL ? fread(tmp, 1, max + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (tmp == NULL || err || n > max) {
        fprintf(stderr, "%s: %s\n", path,
                tmp == NULL ? "out of memory" : err ? "read error" : "longer than expected");
        free(tmp);
        return NULL;
    }
    uint8_t *buf = malloc(n ? n : 1);
    if (buf != NULL) {
        memcpy(buf, tmp, n);
        *len = n;
    }
    free(tmp);
    return buf;
}

int vr_test_read_expect(const char *path, const char *key, char *val, size_t valsz)
{
    FILE *f = fopen(path, "r");
    char line[512];
    size_t klen = strlen(key);
    val[0] = '\0';
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
            snprintf(val, valsz, "%s", line + klen + 1);
            val[strcspn(val, "\r\n")] = '\0';
        }
    }
    fclose(f);
    return 0;
}

static int is_bin(const struct dirent *e)
{
    size_t nl = strlen(e->d_name);
    return nl >= 5 && strcmp(e->d_name + nl - 4, ".bin") == 0;
}

/* strcmp, not alphasort: the order must not depend on the locale. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int vr_test_corpus_each(const char *dir,
                        int (*fn)(const char *bin_path, const char *expect_path,
                                  const char *name, void *arg),
                        void *arg)
{
    struct dirent **list;
    int n = scandir(dir, &list, is_bin, by_name), count = 0;
    if (n < 0) {
        fprintf(stderr, "cannot open corpus %s: %s\n", dir, strerror(errno));
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const char *file = list[i]->d_name;
        int stem = (int)(strlen(file) - 4);
        char path[4096], expect[4096], name[256];
        int pl = snprintf(path, sizeof(path), "%s/%s", dir, file);
        int el = snprintf(expect, sizeof(expect), "%s/%.*s.expect", dir, stem, file);
        snprintf(name, sizeof(name), "%.*s", stem, file);
        if (pl < 0 || (size_t)pl >= sizeof(path) || el < 0 || (size_t)el >= sizeof(expect))
            fprintf(stderr, "%s/%s: path too long, not checked\n", dir, file);
        else if (fn(path, expect, name, arg) == 0)
            count++;
    }
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return count;
}

/* ---- the module ------------------------------------------------------------- */

int vr_test_sniffer_args(int argc, char **argv, const char *option, const char **module,
                         const char **corpus, const char **extra)
{
    *module = *corpus = *extra = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--module") == 0)
            *module = argv[i + 1];
        else if (strcmp(argv[i], "--corpus") == 0)
            *corpus = argv[i + 1];
        else if (strcmp(argv[i], option) == 0)
            *extra = argv[i + 1];
    }
    return *module && *corpus ? 0 : -1;
}

const struct vr_sniffer_ops *vr_test_load_sniffer(const char *path, const char *name)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return NULL;
    }
    const struct vr_module_desc *d = dlsym(dl, VR_MODULE_SYMBOL_NAME);
    CHECK(d != NULL);
    if (d == NULL)
        return NULL;
    CHECK(d->abi_major == VR_ABI_MAJOR && d->size == sizeof(*d));
    CHECK(strcmp(d->name, name) == 0 && d->kind == VR_KIND_SNIFFER);
    const struct vr_sniffer_ops *ops = d->ops;
    CHECK(ops != NULL && ops->size == sizeof(*ops) && strcmp(ops->protocol, name) == 0);
    return ops; /* the module stays loaded until exit */
}

/* ---- a fresh capture ---------------------------------------------------------- */

void vr_test_fresh_capture(const char *script, const char *protocol, const char *what,
                           int (*check_dir)(const char *dir))
{
    char dir[256], cmd[8192], client[32];
    size_t i;
    snprintf(dir, sizeof(dir), "/tmp/vr-sniff-%s-XXXXXX", protocol);
    for (i = 0; protocol[i] != '\0' && i + 1 < sizeof(client); i++)
        client[i] = (char)toupper((unsigned char)protocol[i]);
    client[i] = '\0';
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof(cmd), "'%s' '%s' >&2", script, dir);
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (rc == 77) {
        printf("fresh capture skipped: no %s client installed\n", client);
    } else {
        CHECK(rc == 0);
        int got = check_dir(dir);
        printf("fresh capture: %d %s checked\n", got, what);
        CHECK(got > 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* ---- running a real client against a loopback socket ------------------------- */

double vr_test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int vr_test_bind_loopback(const char *addr, int type, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        sl = sizeof(*a4);
    } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        sl = sizeof(*a6);
    } else {
        return -1;
    }
    int fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
        (type == SOCK_STREAM && listen(fd, 4) < 0)) {
        close(fd);
        return -1;
    }
    *port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    return fd;
}

pid_t vr_test_spawn_quiet(const char *const *argv)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int vr_test_reap(pid_t pid, int sig, double timeout)
{
    int status = 0;
    if (sig != 0)
        kill(pid, sig);
    double deadline = vr_test_now() + timeout;
    while (vr_test_now() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0)
            return -1;
        poll(NULL, 0, 20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}
