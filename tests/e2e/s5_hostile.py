#!/usr/bin/env python3
"""Peers for tests/e2e/test_socks5_hardening.sh. Every loop is bounded in time.

  s5_hostile.py server ADDR PORT --claim IP:PORT[,IP:PORT...] [--log FILE] [--lifetime S]
      A SOCKS5 server (method "none") that answers UDP ASSOCIATE with a relay
      on ADDR. For every datagram the relay gets it sends back one datagram
      per --claim, whose SOCKS header names that claimed source (payload
      b"evil <claim>"), then one naming the datagram's real destination
      (payload b"ok"). A CONNECT is logged as "connect atyp=<ATYP> <target>"
      and answered with REP=2 (not allowed). Each UDP ASSOCIATE appends
      "assoc <client ip>" to --log.
  s5_hostile.py service ADDR PORT --log FILE [--lifetime S]
      A UDP service bound with SO_REUSEADDR (like many DNS servers); appends
      every datagram's payload to FILE.
  s5_hostile.py poke SRC_IP:SRC_PORT DST_IP:DST_PORT
      Sends b"poke" from a socket bound (SO_REUSEADDR) to SRC.
  s5_hostile.py send DST_IP:DST_PORT PAYLOAD
      Sends PAYLOAD from an ephemeral port.
  s5_hostile.py collect HOST PORT [--bind P] [--src ADDR] [--wait S]
      Sends b"hello" from one local port and prints every answer in S seconds
      as "<payload> from <ip> <port>" ("none" when nothing came).
"""
import argparse
import select
import socket
import struct
import sys
import threading
import time


def hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def socks_addr(host, port):
    if ":" in host:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + struct.pack(">H", port)
    return b"\x01" + socket.inet_aton(host) + struct.pack(">H", port)


def parse_udp_header(d):
    """(header length, (host, port)) of a SOCKS5 UDP request, or None."""
    if len(d) < 10 or d[2] != 0:
        return None
    if d[3] == 1:
        return 10, (socket.inet_ntoa(d[4:8]), struct.unpack(">H", d[8:10])[0])
    if d[3] == 4 and len(d) >= 22:
        return 22, (socket.inet_ntop(socket.AF_INET6, d[4:20]), struct.unpack(">H", d[20:22])[0])
    return None


def request_target(req):
    """"host:port" of a SOCKS5 request, "?" when malformed."""
    try:
        if req[3] == 3:
            n = req[4]
            return "%s:%d" % (req[5:5 + n].decode(), struct.unpack(">H", req[5 + n:7 + n])[0])
        h = parse_udp_header(b"\x00\x00\x00" + req[3:])
        return "%s:%d" % h[1] if h else "?"
    except (IndexError, struct.error, UnicodeDecodeError):
        return "?"


def server(args):
    claims = [hostport(c) for c in args.claim.split(",") if c]
    relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    relay.bind((args.addr, 0))
    relay_port = relay.getsockname()[1]
    lock = threading.Lock()

    def log(line):
        if args.log:
            with lock, open(args.log, "a") as f:
                f.write(line + "\n")

    def relay_loop():
        while True:
            d, a = relay.recvfrom(65535)
            h = parse_udp_header(d)
            if h is None:
                continue
            for host, port in claims:
                relay.sendto(b"\x00\x00\x00" + socks_addr(host, port) +
                             ("evil %s:%d" % (host, port)).encode(), a)
            relay.sendto(b"\x00\x00\x00" + socks_addr(*h[1]) + b"ok", a)

    def control(c, peer):
        try:
            c.settimeout(args.lifetime)
            c.recv(16)
            c.sendall(b"\x05\x00")
            req = c.recv(300)
            if len(req) < 2 or req[1] != 3:
                log("connect atyp=%d %s" % (req[3] if len(req) > 3 else -1, request_target(req)))
                c.sendall(b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00")
                return
            log("assoc %s" % peer[0])
            c.sendall(b"\x05\x00\x00" + socks_addr(args.addr, relay_port))
            c.recv(16)  # until the association ends
        except OSError:
            pass
        finally:
            c.close()

    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.addr, args.port))
    lsock.listen(128)
    threading.Thread(target=relay_loop, daemon=True).start()

    def accept_loop():
        while True:
            c, peer = lsock.accept()
            threading.Thread(target=control, args=(c, peer), daemon=True).start()
    threading.Thread(target=accept_loop, daemon=True).start()
    time.sleep(args.lifetime)
    return 0


def service(args):
    s = socket.socket(socket.AF_INET6 if ":" in args.addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.addr, args.port))
    deadline = time.time() + args.lifetime
    open(args.log, "a").close()
    while time.time() < deadline:
        r, _, _ = select.select([s], [], [], 0.5)
        if r:
            d, _ = s.recvfrom(65535)
            with open(args.log, "a") as f:
                f.write(d.decode(errors="replace") + "\n")
    return 0


def poke(args):
    src, dst = hostport(args.src), hostport(args.dst)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(src)
    s.sendto(b"poke", dst)
    s.close()
    return 0


def send(args):
    dst = hostport(args.dst)
    s = socket.socket(socket.AF_INET6 if ":" in dst[0] else socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(args.payload.encode(), dst)
    s.close()
    return 0


def collect(args):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind((args.src, args.bind))
    c.sendto(b"hello", (args.host, args.port))
    deadline = time.time() + args.wait
    got = 0
    while time.time() < deadline:
        r, _, _ = select.select([c], [], [], max(0.0, deadline - time.time()))
        if not r:
            break
        d, a = c.recvfrom(65535)
        print("%s from %s %d" % (d.decode(errors="replace"), a[0], a[1]))
        got += 1
    if got == 0:
        print("none")
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("server")
    a.add_argument("addr")
    a.add_argument("port", type=int)
    a.add_argument("--claim", default="")
    a.add_argument("--log")
    a.add_argument("--lifetime", type=float, default=300)
    a = sub.add_parser("service")
    a.add_argument("addr")
    a.add_argument("port", type=int)
    a.add_argument("--log", required=True)
    a.add_argument("--lifetime", type=float, default=300)
    a = sub.add_parser("poke")
    a.add_argument("src")
    a.add_argument("dst")
    a = sub.add_parser("send")
    a.add_argument("dst")
    a.add_argument("payload")
    a = sub.add_parser("collect")
    a.add_argument("host")
    a.add_argument("port", type=int)
    a.add_argument("--bind", type=int, default=0)
    a.add_argument("--src", default="0.0.0.0")
    a.add_argument("--wait", type=float, default=1.5)
    args = p.parse_args()
    return {"server": server, "service": service, "poke": poke, "send": send,
            "collect": collect}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
