#!/usr/bin/env python3
"""Raw DNS over UDP for the resolver's e2e tests: hostile messages and floods.

  dns_tool.py malformed SERVER PORT          send broken queries; print "rcode=<n>" or "none" per probe
  dns_tool.py flood SERVER PORT N NAME [SRC] send N queries as fast as possible; print how many were answered
  dns_tool.py pipeline SERVER PORT N NAME [SRC] N queries in one write on one TCP connection; print the answers read
  dns_tool.py slowserve ADDR PORT DELAY_MS LOG  a UDP upstream that answers every A query with 198.51.100.30
                                             (TTL 0, so nothing is cached) after DELAY_MS; one line per query in LOG
"""
import random
import socket
import struct
import sys
import time


def query(name, qtype=1, qid=None, flags=0x0100):
    qid = random.randrange(65536) if qid is None else qid
    out = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0)
    for label in name.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0" + struct.pack(">HH", qtype, 1)


def ask(sock, server, msg, timeout=1.0):
    sock.settimeout(timeout)
    sock.sendto(msg, server)
    try:
        data, _ = sock.recvfrom(65535)
    except socket.timeout:
        return None
    return data


def malformed(server):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hdr = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    probes = {
        # a compression pointer to itself in the question name
        "pointer-loop": hdr + b"\xc0\x0c" + struct.pack(">HH", 1, 1),
        # a pointer forward, past the end
        "pointer-forward": hdr + b"\xc0\x40" + struct.pack(">HH", 1, 1),
        # a label running past the end
        "label-overrun": hdr + b"\x3fabc",
        # two questions
        "two-questions": struct.pack(">HHHHHH", 0x1234, 0x0100, 2, 0, 0, 0) + query("a.example")[12:] * 2,
        # trailing garbage after the question
        "trailing": query("a.example", qid=0x1234) + b"\x00\x01garbage",
        # a name of more than 255 octets
        "long-name": hdr + (b"\x3f" + b"a" * 63) * 5 + b"\0" + struct.pack(">HH", 1, 1),
        # only 5 bytes: no header, nothing to answer
        "short": b"\x12\x34\x01\x00\x00",
        # a response (QR set): never answered
        "response": query("a.example", flags=0x8180),
    }
    for name, msg in probes.items():
        data = ask(s, server, msg, 0.7)
        if data is None:
            print(f"{name} none")
        else:
            print(f"{name} rcode={data[3] & 0xf} id={struct.unpack('>H', data[:2])[0]:#x}")


def flood(server, n, name, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    s.setblocking(False)
    answered = 0
    deadline = time.time() + 10
    for i in range(n):
        s.sendto(query(name, qid=i & 0xffff), server)
        try:
            while True:
                s.recvfrom(65535)
                answered += 1
        except BlockingIOError:
            pass
        if time.time() > deadline:
            break
    # late answers (a slow upstream) still count: wait up to 2 s, less once all are in
    end = time.time() + 2.0
    s.settimeout(0.1)
    while time.time() < end and answered < n:
        try:
            s.recvfrom(65535)
            answered += 1
        except socket.timeout:
            pass
    print(answered)


def pipeline(server, n, name, src):
    """n queries written at once on one TCP connection; prints the answers read."""
    s = socket.create_connection(server, timeout=5, source_address=(src, 0) if src else None)
    out = b"".join(struct.pack(">H", len(q)) + q for q in (query(name, qid=i) for i in range(n)))
    s.sendall(out)
    got, buf = 0, b""
    s.settimeout(5)
    try:
        while got < n:
            data = s.recv(65536)
            if not data:
                break
            buf += data
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                buf = buf[2 + struct.unpack(">H", buf[:2])[0]:]
                got += 1
    except socket.timeout:
        pass
    print(got)


def slowserve(addr, delay_ms, log_path):
    """Answers arrive DELAY_MS late, so a burst of equal questions is certainly
    in flight together: what the resolver's coalescing is tested against."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(addr)
    s.settimeout(0.05)
    pending = []  # (due, reply, peer)
    with open(log_path, "a", buffering=1) as log:
        while True:
            now = time.time()
            while pending and pending[0][0] <= now:
                _, reply, peer = pending.pop(0)
                s.sendto(reply, peer)
            try:
                msg, peer = s.recvfrom(65535)
            except socket.timeout:
                continue
            if len(msg) < 12:
                continue
            end = 12
            labels = []
            while end < len(msg) and msg[end] != 0:
                labels.append(msg[end + 1:end + 1 + msg[end]].decode(errors="replace"))
                end += 1 + msg[end]
            question = msg[12:end + 5]
            log.write("query %s\n" % ".".join(labels))
            header = msg[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
            answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 0, 4) + bytes([198, 51, 100, 30])
            pending.append((now + delay_ms / 1000.0, header + question + answer, peer))


def main():
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "malformed":
        malformed((host, port))
    elif cmd == "pipeline":
        pipeline((host, port), int(sys.argv[4]), sys.argv[5], sys.argv[6] if len(sys.argv) > 6 else None)
    elif cmd == "slowserve":
        slowserve((host, port), int(sys.argv[4]), sys.argv[5])
    elif cmd == "flood":
        flood((host, port), int(sys.argv[4]), sys.argv[5], sys.argv[6] if len(sys.argv) > 6 else None)


if __name__ == "__main__":
    main()
