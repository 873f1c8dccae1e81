#include "test_dns_dig.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vr_dns_parse.h"
#include "vr_test_corpus.h"

#define VR_DNS_DIG_BUF 70000

/* Starts dig with argv (the server and port options added in front of the
 * query arguments), output to /dev/null. */
static pid_t dig_start(int port, const char *const *args)
{
    char portbuf[16];
    const char *argv[32];
    int n = 0;
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    argv[n++] = "dig";
    argv[n++] = "+retry=0";
    argv[n++] = "+time=1";
    argv[n++] = "-p";
    argv[n++] = portbuf;
    argv[n++] = "@127.0.0.1";
    for (int i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return vr_test_spawn_quiet(argv);
}

/* The query turned into a REFUSED response, so dig exits at once. */
static void refuse(uint8_t *msg, size_t n)
{
    if (n >= VR_DNS_HEADER_LEN) {
        msg[2] |= 0x80;
        msg[3] = (uint8_t)((msg[3] & 0xf0) | 5);
    }
}

/* Runs dig over UDP and captures its first datagram into buf. Returns its
 * length, or -1. */
ssize_t vr_dns_dig_capture_udp(const char *const *args, uint8_t *buf, size_t bufsz)
{
    int port;
    int fd = vr_test_bind_loopback("127.0.0.1", SOCK_DGRAM, &port);
    if (fd < 0)
        return -1;
    pid_t pid = dig_start(port, args);
    ssize_t n = -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (pid > 0 && poll(&p, 1, 4000) == 1) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        n = recvfrom(fd, buf, bufsz, 0, (struct sockaddr *)&from, &fl);
        if (n > 0) {
            static uint8_t r[VR_DNS_DIG_BUF];
            size_t rn = (size_t)n < sizeof(r) ? (size_t)n : sizeof(r);
            memcpy(r, buf, rn);
            refuse(r, rn);
            sendto(fd, r, rn, 0, (struct sockaddr *)&from, fl);
        }
    }
    if (pid > 0)
        vr_test_reap(pid, 0, 5.0); /* dig exits on the REFUSED */
    close(fd);
    return n;
}

/* Runs dig +tcp and captures the stream (length prefix and message) into
 * buf. Returns its length, or -1. */
ssize_t vr_dns_dig_capture_tcp(const char *const *args, uint8_t *buf, size_t bufsz)
{
    int port;
    int lfd = vr_test_bind_loopback("127.0.0.1", SOCK_STREAM, &port);
    if (lfd < 0)
        return -1;
    pid_t pid = dig_start(port, args);
    ssize_t total = -1;
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (pid > 0 && poll(&p, 1, 4000) == 1) {
        int c = accept(lfd, NULL, NULL);
        double deadline = vr_test_now() + 4.0;
        total = 0;
        /* Read until the whole first message is in, EOF or 4 s. */
        while (c >= 0 && vr_test_now() < deadline && (size_t)total < bufsz) {
            if (total >= 2 && (size_t)total >= 2u + (size_t)((buf[0] << 8) | buf[1]))
                break;
            struct pollfd cp = {.fd = c, .events = POLLIN};
            if (poll(&cp, 1, 500) != 1)
                continue;
            ssize_t r = read(c, buf + total, bufsz - (size_t)total);
            if (r <= 0)
                break;
            total += r;
        }
        if (c >= 0 && total > 2) {
            static uint8_t r[VR_DNS_DIG_BUF];
            size_t rn = (size_t)total < sizeof(r) ? (size_t)total : sizeof(r);
            memcpy(r, buf, rn);
            refuse(r + 2, rn - 2);
            ssize_t w = write(c, r, rn);
            (void)w;
        }
        if (c >= 0)
            close(c);
    }
    if (pid > 0)
        vr_test_reap(pid, 0, 5.0); /* dig exits on the REFUSED */
    close(lfd);
    return total;
}
