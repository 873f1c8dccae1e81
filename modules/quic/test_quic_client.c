#include "test_quic_client.h"

#include <arpa/inet.h>
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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

/* A UDP socket on addr (an IPv4 or IPv6 literal), kernel-chosen port. */
static int bind_udp(const char *addr, int *port)
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
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    return fd;
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
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp("gtlsclient", (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void client_stop(pid_t pid)
{
    int status;
    kill(pid, SIGTERM);
    double deadline = now_s() + 3.0;
    while (now_s() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || r < 0)
            return;
        poll(NULL, 0, 20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

int tqc_capture(const char *addr, const char *const *extra, struct tqc_capture *cap)
{
    int port;
    cap->n = 0;
    int fd = bind_udp(addr, &port);
    if (fd < 0)
        return -1;
    pid_t pid = client_start(addr, port, extra);
    if (pid < 0) {
        close(fd);
        return -1;
    }
    double first = 0, deadline = now_s() + 4.0;
    size_t used = 0;
    while (cap->n < TQC_DGRAMS_MAX) {
        double t = now_s(), until = first > 0 ? first + 0.3 : deadline;
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
            first = now_s();
    }
    client_stop(pid);
    close(fd);
    return (int)cap->n;
}
