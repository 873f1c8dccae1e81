#!/usr/bin/env python3
"""Open N idle TCP connections to HOST:PORT and hold them.

usage: idle_client.py HOST PORT N MAX_HOLD_SECONDS

Prints "ERRORS name=count ..." if any connect failed, then "OPEN <ok> <failed>" once every connect attempt has finished (or its
batch deadline passed), then holds the connections until a line arrives on
stdin or MAX_HOLD_SECONDS pass, whichever is first, and closes them all.
Every loop is bounded: connects go out in batches with a per-batch deadline
and an overall deadline.
"""
import collections
import errno
import resource
import select
import selectors
import socket
import sys
import time

BATCH = 500
BATCH_DEADLINE_S = 10.0
TOTAL_DEADLINE_S = 90.0


def raise_nofile(n):
    want = n + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_all(host, port, n):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    sel = selectors.DefaultSelector()
    socks, ok, failed = [], 0, 0
    errs = collections.Counter()
    t_end = time.monotonic() + TOTAL_DEADLINE_S
    for start in range(0, n, BATCH):
        if time.monotonic() > t_end:
            failed += n - start
            break
        batch = []
        for _ in range(min(BATCH, n - start)):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
            except OSError as e:
                s.close()
                failed += 1
                errs[errno.errorcode.get(e.errno, str(e.errno))] += 1
                continue
            batch.append(s)
            sel.register(s, selectors.EVENT_WRITE)
        pending = len(batch)
        deadline = min(time.monotonic() + BATCH_DEADLINE_S, t_end)
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                sel.unregister(key.fileobj)
                pending -= 1
                err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err == 0:
                    ok += 1
                else:
                    failed += 1
                    errs[errno.errorcode.get(err, str(err))] += 1
        failed += pending
        if pending:
            errs['timeout'] += pending
        for s in batch:
            try:
                sel.unregister(s)
            except (KeyError, ValueError):
                pass
        socks += batch
    if errs:
        print('ERRORS ' + ' '.join(f'{k}={v}' for k, v in errs.most_common()), flush=True)
    return socks, ok, failed


def main():
    host, port, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    raise_nofile(n)
    socks, ok, failed = open_all(host, port, n)
    print(f'OPEN {ok} {failed}', flush=True)
    select.select([sys.stdin], [], [], hold)
    for s in socks:
        s.close()
    print('CLOSED', flush=True)


if __name__ == '__main__':
    main()
