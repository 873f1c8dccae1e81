#include "test_quic_client.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vr_test_corpus.h"

int tqc_client_present(void)
{
    const char *path = getenv("PATH");
    char buf[4096], file[4200];
    if (path == NULL)
        path = "/usr/bin:/bin";
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir != NULL;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(file, sizeof(file), "%s/gtlsclient", dir);
        if (access(file, X_OK) == 0)
            return 1;
    }
    return 0;
}

static pid_t client_start(const char *addr, int port, const char *const *extra)
{
    char portbuf[16];
    const char *argv[32];
    int n = 0;
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    argv[n++] = "gtlsclient";
    argv[n++] = "--quiet";
    argv[n++] = "--handshake-timeout=1s";
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 28; i++)
        argv[n++] = extra[i];
    argv[n++] = addr;
    argv[n++] = portbuf;
    argv[n] = NULL;
    return vr_test_spawn_quiet(argv);
}

int tqc_capture(const char *addr, const char *const *extra, struct tqc_capture *cap)
{
    int port;
    cap->n = 0;
    int fd = vr_test_bind_loopback(addr, SOCK_DGRAM, &port);
    if (fd < 0)
        return -1;
    pid_t pid = client_start(addr, port, extra);
    if (pid < 0) {
        close(fd);
        return -1;
    }
    double first = 0, deadline = vr_test_now() + 4.0;
    size_t used = 0;
    while (cap->n < TQC_DGRAMS_MAX) {
        double t = vr_test_now(), until = first > 0 ? first + 0.3 : deadline;
        if (t >= until)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)((until - t) * 1000) + 1) != 1)
            continue;
        ssize_t r = recv(fd, cap->buf + used, TQC_DGRAM_MAX, 0);
        if (r < 0)
            break;
        cap->dg[cap->n].iov_base = cap->buf + used;
        cap->dg[cap->n].iov_len = (size_t)r;
        cap->n++;
        used += TQC_DGRAM_MAX;
        if (first == 0)
            first = vr_test_now();
    }
    vr_test_reap(pid, SIGTERM, 3.0);
    close(fd);
    return (int)cap->n;
}
