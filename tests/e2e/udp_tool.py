#!/usr/bin/env python3
"""UDP peers for the end-to-end tests. Every loop is bounded in count and time.

  udp_tool.py server --port P [--log FILE] [--silent] [--reply-from-dst]
      Dual-stack UDP server. A datagram starting with b"whoami" is answered
      with "<source ip> <source port>" (what the server sees: the gateway's
      mapping); b"poke <ip> <port> <from-port>" makes it send b"poked" to
      ip:port from a second socket bound to from-port (a remote the client
      never talked to); anything else is echoed back. --reply-from-dst
      answers from the address each datagram was sent to (IP_PKTINFO), not
      the one routing would pick: needed when the host has several addresses
      or the reply leaves through another interface (a tunnel).
  udp_tool.py whoami HOST PORT [--bind PORT] [--src ADDR] [--repeat N]
      Prints what the server saw and the address the answer came from;
      with --repeat, N answers from one local port (one session), a line each.
  udp_tool.py session HOST:PORT [HOST:PORT ...] [--repeat N] [--interval S]
      From one local port, N whoami rounds over every remote in turn (S
      seconds apart); prints "<remote> <what the server saw> from <addr>"
      per answer ("<remote> no answer" when none came in 2 s).
  udp_tool.py echo HOST PORT --count N --size S --rate R
      Sends N datagrams of S bytes at R per second, waits for the echoes and
      prints "sent N received M bad B from <addr>" (bad = payload mismatch or
      a reply from another address than HOST:PORT).
  udp_tool.py fullcone HOST PORT POKE_PORT
      From one local port: whoami to HOST:PORT, then asks the server to poke
      the mapped endpoint from POKE_PORT; prints "poked from <addr>" or
      "no poke".
  udp_tool.py flood HOST PORT --count N
      Sends one datagram from each of N fresh local ports (new sessions).
  udp_tool.py replay HOST PORT FILE --bind PORT
      Sends the datagrams of a quic corpus file (modules/quic/vr_quic_corpus.h:
      byte 0's low two bits + 1 datagrams, then n-1 big-endian 16-bit
      lengths, then the datagrams) from one local port, 50 ms apart.
"""
import argparse
import os
import select
import socket
import sys
import time


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def norm(addr):
    host = addr[0]
    if host.startswith("::ffff:"):
        host = host[7:]
    return host, addr[1]


def server(args):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("::", args.port))
    if args.reply_from_dst:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    deadline = time.time() + args.lifetime
    while time.time() < deadline:
        r, _, _ = select.select([s], [], [], 1.0)
        if not r:
            continue
        anc = []
        if args.reply_from_dst:
            data, cmsgs, _, addr = s.recvmsg(65535, socket.CMSG_SPACE(20))
            for level, kind, value in cmsgs:
                if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(value) >= 16:
                    # the destination address, ifindex 0: routing picks the way out
                    anc = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, value[:16] + bytes(4))]
        else:
            data, addr = s.recvfrom(65535)
        reply = lambda payload: s.sendmsg([payload], anc, 0, addr)
        if args.log:
            with open(args.log, "a") as f:
                f.write("%s %d %d\n" % (norm(addr)[0], norm(addr)[1], len(data)))
        if args.silent:
            continue
        if data.startswith(b"whoami"):
            host, port = norm(addr)
            reply(("%s %d" % (host, port)).encode())
        elif data.startswith(b"poke "):
            _, ip, port, from_port = data.decode().split()
            p = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            p.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            p.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            p.bind(("::", int(from_port)))
            target = ip if ":" in ip else "::ffff:" + ip
            p.sendto(b"poked", (target, int(port)))
            p.close()
            reply(b"poke sent")
        else:
            reply(data)


def client_socket(host, bind_port=0, src=None):
    c = socket.socket(family_of(host), socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind((src or ("::" if family_of(host) == socket.AF_INET6 else "0.0.0.0"), bind_port))
    return c


def recv(c, timeout):
    r, _, _ = select.select([c], [], [], timeout)
    if not r:
        return None, None
    data, addr = c.recvfrom(65535)
    return data, norm(addr)


def ask(c, host, port, tries=3):
    """One whoami answer as "<seen ip> <seen port> from <ip> <port>", or None."""
    for _ in range(tries):
        c.sendto(b"whoami", (host, port))
        deadline = time.time() + 2.0
        while time.time() < deadline:
            data, addr = recv(c, max(0.0, deadline - time.time()))
            if data is None:
                break
            if data.startswith(b"poke") or data == b"poked":
                continue
            return "%s from %s %d" % (data.decode(), addr[0], addr[1])
    return None


def whoami(args):
    c = client_socket(args.host, args.bind, args.src)
    ok = 0
    for _ in range(args.repeat):
        a = ask(c, args.host, args.port)
        if a is not None:
            print(a)
            ok += 1
    if ok == 0:
        print("no answer")
        return 1
    return 0


def session(args):
    remotes = []
    for r in args.remotes:
        host, _, port = r.rpartition(":")
        remotes.append((host.strip("[]"), int(port)))
    c = client_socket(remotes[0][0])
    for _ in range(args.repeat):
        for host, port in remotes:
            a = ask(c, host, port, tries=1)
            print("%s:%d %s" % (host, port, a if a is not None else "no answer"), flush=True)
        time.sleep(args.interval)
    return 0


def echo(args):
    c = client_socket(args.host)
    interval = 1.0 / args.rate if args.rate > 0 else 0
    sent = received = bad = 0
    want = {}
    start = time.time()
    for i in range(args.count):
        payload = i.to_bytes(4, "big") + os.urandom(max(0, args.size - 4))
        want[i] = payload
        c.sendto(payload, (args.host, args.port))
        sent += 1
        while True:
            data, addr = recv(c, 0)
            if data is None:
                break
            received, bad = tally(data, addr, args, want, received, bad)
        if interval:
            next_at = start + (i + 1) * interval
            delay = next_at - time.time()
            if delay > 0:
                time.sleep(delay)
    deadline = time.time() + 3.0
    while received + bad < sent and time.time() < deadline:
        data, addr = recv(c, 0.2)
        if data is not None:
            received, bad = tally(data, addr, args, want, received, bad)
    print("sent %d received %d bad %d" % (sent, received, bad))
    return 0


def tally(data, addr, args, want, received, bad):
    i = int.from_bytes(data[:4], "big") if len(data) >= 4 else -1
    if addr != norm((args.host, args.port)) or want.get(i) != data:
        return received, bad + 1
    del want[i]
    return received + 1, bad


def fullcone(args):
    c = client_socket(args.host)
    mapped = None
    for _ in range(3):
        c.sendto(b"whoami", (args.host, args.port))
        data, _ = recv(c, 2.0)
        if data is not None:
            mapped = data.decode().split()
            break
    if mapped is None:
        print("no answer")
        return 1
    c.sendto(("poke %s %s %d" % (mapped[0], mapped[1], args.poke_port)).encode(), (args.host, args.port))
    deadline = time.time() + 2.0
    while time.time() < deadline:
        data, addr = recv(c, 0.2)
        if data == b"poked":
            print("poked from %s %d" % addr)
            return 0
    print("no poke")
    return 0


def flood(args):
    socks = []
    for i in range(args.count):
        c = client_socket(args.host)
        c.sendto(b"flood %d" % i, (args.host, args.port))
        socks.append(c)
        if len(socks) >= 200:
            for s in socks:
                s.close()
            socks = []
    for s in socks:
        s.close()
    print("flooded %d" % args.count)
    return 0


def corpus_split(blob):
    """The datagrams of a quic corpus file (the C splitter's rules)."""
    if not blob:
        return []
    n = (blob[0] & 3) + 1
    pos = min(1 + 2 * (n - 1), len(blob))
    out = []
    for i in range(n):
        want = len(blob) - pos
        if i + 1 < n and 2 + 2 * i < len(blob):
            want = (blob[1 + 2 * i] << 8) | blob[2 + 2 * i]
        want = min(want, len(blob) - pos)
        out.append(blob[pos:pos + want])
        pos += want
    return out


def replay(args):
    with open(args.file, "rb") as f:
        dgrams = corpus_split(f.read())
    c = client_socket(args.host, args.bind)
    for d in dgrams:
        c.sendto(d, (args.host, args.port))
        time.sleep(0.05)
    c.close()
    print("replayed %d datagrams (%s bytes)" % (len(dgrams), ",".join(str(len(d)) for d in dgrams)))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--lifetime", type=float, default=600)
    s.add_argument("--log", default=None, help="append '<source ip> <port> <length>' per datagram")
    s.add_argument("--silent", action="store_true", help="answer nothing (a QUIC server that never replies)")
    s.add_argument("--reply-from-dst", action="store_true",
                   help="answer from the address each datagram was sent to (IPV6_PKTINFO)")
    q = sub.add_parser("session")
    q.add_argument("remotes", nargs="+", help="HOST:PORT ([v6]:PORT), all of one family")
    q.add_argument("--repeat", type=int, default=1)
    q.add_argument("--interval", type=float, default=0)
    q = sub.add_parser("replay")
    q.add_argument("host")
    q.add_argument("port", type=int)
    q.add_argument("file")
    q.add_argument("--bind", type=int, default=0)
    for name in ("whoami", "echo", "fullcone", "flood"):
        q = sub.add_parser(name)
        q.add_argument("host")
        q.add_argument("port", type=int)
        if name == "whoami":
            q.add_argument("--bind", type=int, default=0)
            q.add_argument("--src", default=None)
            q.add_argument("--repeat", type=int, default=1)
        if name == "echo":
            q.add_argument("--count", type=int, default=100)
            q.add_argument("--size", type=int, default=1400)
            q.add_argument("--rate", type=float, default=500)
        if name == "fullcone":
            q.add_argument("poke_port", type=int)
        if name == "flood":
            q.add_argument("--count", type=int, default=1000)
    args = p.parse_args()
    return {"server": server, "whoami": whoami, "session": session, "echo": echo, "fullcone": fullcone, "flood": flood,
            "replay": replay}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
