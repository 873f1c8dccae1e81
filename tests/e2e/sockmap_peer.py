#!/usr/bin/env python3
"""Peers for tests/e2e/test_relay_sockmap_fallback.sh: connections that take
the sockmap relay's fall-backs to splice. Payloads are relay_peer.py's
(seeded pseudo-random bytes), so its client is the other end. Every wait is
bounded by --timeout.

  sockmap_peer.py s5serve --addr A --port P --send N [--reply-delay S] [--at-once] --out FILE
      A SOCKS5 server (method "none") that is itself the destination: it
      answers one CONNECT after --reply-delay seconds (the client meanwhile
      sends into the router's socket), then sends N bytes and its FIN,
      reads to EOF and writes relay_peer.py's result line to FILE.
      --at-once: the reply, the N bytes and the FIN leave in one corked
      write, so they are all queued in the router's socket before the
      outbound is even connected (N up to one segment: the FIN then rides
      on the segment of the reply).
      --read-delay S: after the reply, reads nothing for S seconds (what
      the router writes to it waits), sending meanwhile.
      --send-delay S: after the reply, sends only after S seconds.
  sockmap_peer.py many-serve --addr A --port P --conns C --send N --out FILE
      Accepts C connections; each sends N bytes (seed 7) and its FIN and
      reads to EOF; writes "conns=C exact=K" (K: connections that got
      exactly the client's N bytes, seed 3).
  sockmap_peer.py many --addr A --port P --conns C --send N [--hold S]
      Opens C connections one after the other and keeps them all open,
      waits S seconds, then each sends N bytes (seed 3) and its FIN and
      reads to EOF; prints "conns=C exact=K".
"""
import argparse, hashlib, random, socket, struct, sys, threading, time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from relay_peer import payload, run  # noqa: E402


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed during the handshake")
        b += c
    return b


def drain(s):
    """Reads s to EOF; its sha256 object and the byte count."""
    h, got = hashlib.sha256(), 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            return h, got
        h.update(b)
        got += len(b)


def socks_handshake(s):
    ver, nm = recv_exact(s, 2)
    recv_exact(s, nm)
    s.sendall(b"\x05\x00")
    ver, cmd, _, atyp = recv_exact(s, 4)
    if atyp == 1:
        recv_exact(s, 4)
    elif atyp == 4:
        recv_exact(s, 16)
    else:
        recv_exact(s, recv_exact(s, 1)[0])
    recv_exact(s, 2)
    return b"\x05\x00\x00\x01" + socket.inet_aton("0.0.0.0") + struct.pack(">H", 0)


def listener(addr, port, backlog, timeout):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(backlog)
    ls.settimeout(timeout)
    return ls


def s5serve(a):
    ls = listener(a.addr, a.port, 4, a.timeout)
    s, _ = ls.accept()
    s.settimeout(a.timeout)
    reply = socks_handshake(s)
    time.sleep(a.reply_delay)
    data = payload(a.send, 7)
    if a.at_once:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        s.sendall(reply + data)
        s.shutdown(socket.SHUT_WR)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        h, got = drain(s)
        line = "sent=%d sent_sha=%s got=%d got_sha=%s" % (
            len(data), hashlib.sha256(data).hexdigest(), got, h.hexdigest())
    elif a.read_delay or a.send_delay:
        s.sendall(reply)
        t = threading.Thread(target=lambda: (time.sleep(a.send_delay), s.sendall(data), s.shutdown(socket.SHUT_WR)))
        t.start()
        time.sleep(a.read_delay)
        h, got = drain(s)
        t.join()
        line = "sent=%d sent_sha=%s got=%d got_sha=%s" % (
            len(data), hashlib.sha256(data).hexdigest(), got, h.hexdigest())
    else:
        s.sendall(reply)
        line = run(s, data, b"", 0.0)
    s.close()
    with open(a.out, "w") as f:
        f.write(line + "\n")


def exchange(s, send, expect):
    """Sends send and the FIN while reading to EOF; True when what came is expect."""
    t = threading.Thread(target=lambda: (s.sendall(send), s.shutdown(socket.SHUT_WR)))
    t.start()
    h, got = drain(s)
    t.join()
    s.close()
    return got == len(expect) and h.digest() == hashlib.sha256(expect).digest()


def many(a, socks, mine, theirs):
    ok = []
    ts = [threading.Thread(target=lambda s=s: ok.append(exchange(s, mine, theirs))) for s in socks]
    for t in ts:
        t.start()
    for t in ts:
        t.join(a.timeout)
    return "conns=%d exact=%d" % (len(socks), sum(ok))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["s5serve", "many-serve", "many"])
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--send", type=int, required=True)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--reply-delay", type=float, default=0.0)
    ap.add_argument("--at-once", action="store_true")
    ap.add_argument("--read-delay", type=float, default=0.0)
    ap.add_argument("--send-delay", type=float, default=0.0)
    ap.add_argument("--hold", type=float, default=0.0)
    ap.add_argument("--out")
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    if a.mode == "s5serve":
        return s5serve(a)
    mine, theirs = (payload(a.send, 7), payload(a.send, 3)) if a.mode == "many-serve" else \
        (payload(a.send, 3), payload(a.send, 7))
    if a.mode == "many-serve":
        ls = listener(a.addr, a.port, a.conns, a.timeout)
        socks = []
        for _ in range(a.conns):
            s, _ = ls.accept()
            s.settimeout(a.timeout)
            socks.append(s)
        with open(a.out, "w") as f:
            f.write(many(a, socks, mine, theirs) + "\n")
    else:
        socks = [socket.create_connection((a.addr, a.port), timeout=a.timeout) for _ in range(a.conns)]
        time.sleep(a.hold)
        print(many(a, socks, mine, theirs))


if __name__ == "__main__":
    sys.exit(main())
