#!/usr/bin/env python3
"""Moves exact byte counts both ways at once, for relay tests.

Each side sends N deterministic pseudo-random bytes (seeded, so a lost,
duplicated or reordered segment changes the digest), optionally after a
plain-text head (an HTTP request the sniffers read), then shuts its write
side (a half-close) and reads to EOF. It prints one line:
    sent=<bytes> sent_sha=<hex> got=<bytes> got_sha=<hex>

  relay_peer.py serve  --addr A --port P --send N [--seed S] [--after-eof] [--trickle S] --out FILE
                       (one connection)
  relay_peer.py client --addr A --port P --send N [--seed S] [--head TEXT] [--delay-shut S]
"""
import argparse, hashlib, random, socket, sys, threading, time

CHUNK = 1 << 20


def payload(n, seed):
    return random.Random(seed).randbytes(n)


def run(sock, data, head, delay_shut, after_eof=False, trickle=0.0, slow_read=0.0):
    result = {}
    eof = threading.Event()

    def send():
        if after_eof:
            eof.wait()
        h = hashlib.sha256()
        sent = 0
        if head:
            sock.sendall(head)
            h.update(head)
            sent += len(head)
        view = memoryview(data)
        step = 1 if trickle else CHUNK
        for i in range(0, len(data), step):
            sock.sendall(view[i:i + step])
            if trickle:
                time.sleep(trickle)
        h.update(data)
        sent += len(data)
        if delay_shut:
            time.sleep(delay_shut)
        sock.shutdown(socket.SHUT_WR)
        result["sent"], result["sent_sha"] = sent, h.hexdigest()

    t = threading.Thread(target=send)
    t.start()
    h, got = hashlib.sha256(), 0
    while True:
        b = sock.recv(CHUNK if not slow_read else 65536)
        if not b:
            break
        h.update(b)
        got += len(b)
        if slow_read:
            time.sleep(slow_read)
    eof.set()
    t.join()
    return "sent=%d sent_sha=%s got=%d got_sha=%s" % (result["sent"], result["sent_sha"], got, h.hexdigest())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["serve", "client"])
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--send", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--head", default="")
    ap.add_argument("--delay-shut", type=float, default=0.0)
    ap.add_argument("--after-eof", action="store_true", help="send only once the peer's EOF is read")
    ap.add_argument("--trickle", type=float, default=0.0, help="send one byte per this many seconds")
    ap.add_argument("--slow-read", type=float, default=0.0, help="sleep this long after each read of at most 64 KiB")
    ap.add_argument("--out")
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()
    data = payload(a.send, a.seed)
    head = a.head.encode().decode("unicode_escape").encode("latin-1") if a.head else b""
    fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    if a.mode == "serve":
        ls = socket.socket(fam, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((a.addr, a.port))
        ls.listen(4)
        ls.settimeout(a.timeout)
        s, _ = ls.accept()
        s.settimeout(a.timeout)
        line = run(s, data, head, a.delay_shut, a.after_eof, a.trickle, a.slow_read)
        s.close()
        with open(a.out, "w") as f:
            f.write(line + "\n")
    else:
        s = socket.create_connection((a.addr, a.port), timeout=a.timeout)
        line = run(s, data, head, a.delay_shut, a.after_eof, a.trickle, a.slow_read)
        s.close()
        print(line)


if __name__ == "__main__":
    sys.exit(main())
