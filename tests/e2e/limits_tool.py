#!/usr/bin/env python3
"""Peers for tests/e2e/test_limits.sh and bench/fd_budget.sh. Every loop is
bounded in count and time.

  limits_tool.py zerowin --port P [--lifetime S]
      A server that accepts every connection and never reads (SO_RCVBUF at
      its minimum): each connection's window closes after a few KiB.
  limits_tool.py stall HOST PORT --count N --bytes B [--hold S] [--src A,B,...]
      Opens N connections (source addresses taken in turn from --src) and
      sends up to B bytes on each, without blocking, then keeps them open
      for S seconds. Prints "connected C sent X" when done sending.
  limits_tool.py cap HOST PORT --count N --src A,B,... [--hold S]
      Opens N connections from the given sources in turn, waits 1.5 s and
      prints "held H reset R failed F": held ones are still open, reset
      ones were accepted and then reset by the proxy, failed ones never
      connected. Then keeps the held ones open for S seconds.
  limits_tool.py lateget HOST PORT PATH --count N --wait S
      Opens N connections, prints "connected N", waits S seconds, then
      sends a GET for PATH on all of them at once and reads the replies in
      parallel; prints "<body length> <sha256>" per connection.
  limits_tool.py udpflood HOST PORT --src A,B,... --per-src K
      From each source address, K datagrams from K fresh ports (K new
      sessions per address). Prints "flooded N".
"""
import argparse
import errno
import os
import socket
import sys
import time


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def zerowin(args):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # inherited by accepted sockets: the window closes after a few KiB
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    s.bind(("::", args.port))
    s.listen(4096)
    s.settimeout(1.0)
    held, end = [], time.time() + args.lifetime
    while time.time() < end and len(held) < 20000:
        try:
            c, _ = s.accept()
            held.append(c)
        except socket.timeout:
            pass
    return 0


def sources(arg):
    return [a for a in arg.split(",") if a] if arg else [None]


def connect_from(host, port, src, blocking=True):
    c = socket.socket(family_of(host), socket.SOCK_STREAM)
    if src:
        c.bind((src, 0))
    c.settimeout(5)
    c.connect((host, port))
    if not blocking:
        c.setblocking(False)
    return c


def stall(args):
    srcs, socks, sent = sources(args.src), [], 0
    chunk = b"x" * 65536
    for i in range(args.count):
        try:
            c = connect_from(args.host, args.port, srcs[i % len(srcs)], blocking=False)
        except OSError:
            continue
        socks.append(c)
        left = args.bytes
        while left > 0:
            try:
                n = c.send(chunk[:min(left, len(chunk))])
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            left -= n
            sent += n
    print("connected %d sent %d" % (len(socks), sent), flush=True)
    time.sleep(args.hold)
    return 0


def cap(args):
    srcs, socks, failed, reset = sources(args.src), [], 0, 0
    for i in range(args.count):
        try:
            socks.append(connect_from(args.host, args.port, srcs[i % len(srcs)]))
        except ConnectionResetError:
            reset += 1  # accepted and reset before connect() returned
        except OSError as e:
            print("connect %d: %s" % (i, e), file=sys.stderr)
            failed += 1
    time.sleep(1.5)
    held = []
    for c in socks:
        c.setblocking(False)
        try:
            data = c.recv(1)
            if data == b"":
                reset += 1  # closed on us: counted with the resets
            else:
                held.append(c)
        except BlockingIOError:
            held.append(c)
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE):
                reset += 1
            else:
                print("check: %s" % e, file=sys.stderr)
                failed += 1
    print("held %d reset %d failed %d" % (len(held), reset, failed), flush=True)
    time.sleep(args.hold)
    return 0


def lateget(args):
    import hashlib
    import threading
    socks = [connect_from(args.host, args.port, None) for _ in range(args.count)]
    print("connected %d" % len(socks), flush=True)
    time.sleep(args.wait)
    results = [None] * len(socks)

    def fetch(i, c):
        c.settimeout(60)
        try:
            c.sendall(("GET %s HTTP/1.0\r\nHost: test\r\n\r\n" % args.path).encode())
            data = b""
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                data += b
            body = data.partition(b"\r\n\r\n")[2]
            results[i] = "%d %s" % (len(body), hashlib.sha256(body).hexdigest())
        except OSError as e:
            results[i] = "error %s" % e

    threads = [threading.Thread(target=fetch, args=(i, c)) for i, c in enumerate(socks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    for r in results:
        print(r)
    return 0


def udpflood(args):
    n = 0
    for src in sources(args.src):
        socks = []
        for _ in range(args.per_src):
            c = socket.socket(family_of(args.host), socket.SOCK_DGRAM)
            c.bind((src, 0) if src else ("", 0))
            c.sendto(b"flood %d" % n, (args.host, args.port))
            socks.append(c)
            n += 1
        for c in socks:
            c.close()
    print("flooded %d" % n)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("zerowin")
    q.add_argument("--port", type=int, required=True)
    q.add_argument("--lifetime", type=float, default=600)
    q = sub.add_parser("lateget")
    q.add_argument("host")
    q.add_argument("port", type=int)
    q.add_argument("path")
    q.add_argument("--count", type=int, default=3)
    q.add_argument("--wait", type=float, default=2)
    for name in ("stall", "cap", "udpflood"):
        q = sub.add_parser(name)
        q.add_argument("host")
        q.add_argument("port", type=int)
        q.add_argument("--src", default="")
        if name in ("stall", "cap"):
            q.add_argument("--count", type=int, required=True)
            q.add_argument("--hold", type=float, default=0)
        if name == "stall":
            q.add_argument("--bytes", type=int, default=131072)
        if name == "udpflood":
            q.add_argument("--per-src", type=int, default=10)
    args = p.parse_args()
    return {"zerowin": zerowin, "stall": stall, "cap": cap, "udpflood": udpflood, "lateget": lateget}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
