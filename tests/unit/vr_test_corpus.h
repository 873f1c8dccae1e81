/* Shared by the sniffer unit tests (modules/{tls,http,dns,quic}/test_*.c):
 * corpus files (<name>.bin with <name>.expect of key=value lines), loading
 * a built sniffer module with dlopen, a fresh capture by a script, and
 * running a real client against a socket bound on loopback. Link with
 * vr_test.c; the checks made here count in the same "N passed" total. */
#ifndef VR_TEST_CORPUS_H
#define VR_TEST_CORPUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vr_sniffer_ops;

/* The whole file in an exact-size heap buffer (so ASan sees any read past
 * its end), *len its size. NULL (with a message) when it cannot be read or
 * is longer than max bytes. Free with free(). */
uint8_t *vr_test_read_file(const char *path, size_t max, size_t *len);

/* The value of the last key=value line of a .expect file into val, without
 * the line end; val is empty when the key is absent. -1 when the file
 * cannot be opened, else 0. */
int vr_test_read_expect(const char *path, const char *key, char *val, size_t valsz);

/* Calls fn for every <name>.bin of dir, in strcmp order of the file names:
 * bin_path is dir/<name>.bin, expect_path dir/<name>.expect (which may not
 * exist), name is <name>. fn returns 0 when it checked the file. Returns
 * how many it checked (0, with a message, when dir cannot be read). */
int vr_test_corpus_each(const char *dir,
                        int (*fn)(const char *bin_path, const char *expect_path,
                                  const char *name, void *arg),
                        void *arg);

/* dlopen()s the module at path (kept loaded until exit) and checks its
 * descriptor: the ABI major and size, the name, the sniffer kind, and that
 * its ops table has the right size and protocol == name. Returns the ops,
 * or NULL when the module cannot be loaded or has no usable ops table. The
 * caller checks networks and which entry points are set. */
const struct vr_sniffer_ops *vr_test_load_sniffer(const char *path, const char *name);

/* The command line every sniffer test takes: --module PATH --corpus DIR and
 * one optional `option VALUE` (--capture, --save) into *extra. Returns 0
 * when both required ones are given, else -1 (print the usage, exit 2). */
int vr_test_sniffer_args(int argc, char **argv, const char *option, const char **module,
                         const char **corpus, const char **extra);

/* Runs `script DIR` into a fresh /tmp/vr-sniff-<protocol>-XXXXXX and hands
 * DIR to check_dir (which returns how many files it checked): exit 77 is a
 * skip (no client installed), else the script must succeed and at least
 * one file must be checked. Prints "fresh capture: N <what> checked". */
void vr_test_fresh_capture(const char *script, const char *protocol, const char *what,
                           int (*check_dir)(const char *dir));

/* ---- running a real client against a loopback socket --------------------- */

/* CLOCK_MONOTONIC in seconds. */
double vr_test_now(void);

/* A socket of type (SOCK_DGRAM, or SOCK_STREAM, then listening) bound on
 * addr (an IPv4 or IPv6 literal) at a kernel-chosen port, *port that port.
 * -1 on failure. */
int vr_test_bind_loopback(const char *addr, int type, int *port);

/* Starts argv[0] (looked up on PATH) with argv, stdin, stdout and stderr on
 * /dev/null. The child's pid, or -1. */
pid_t vr_test_spawn_quiet(const char *const *argv);

/* Sends sig to pid first unless sig is 0, waits at most timeout seconds for
 * it to exit, then SIGKILLs and reaps it. Its exit status when it exited in
 * time, else -1. */
int vr_test_reap(pid_t pid, int sig, double timeout);

#endif
