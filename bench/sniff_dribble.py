#!/usr/bin/env python3
"""Issue 11 benchmark: vrouterd's CPU for N connections each sending a
16 KiB HTTP head (Host last) one byte per TCP segment, against N sending it
whole, in interleaved rounds. CPU is the daemon's time on CPU from
/proc/PID/task/*/schedstat (read in the router namespace's PID space, which is the
host's). Bounded: every socket has a 30 s timeout, every phase a deadline.

usage: sniff_dribble.py DAEMON_PID HOST PORT [--conns N] [--rounds R]
"""
import argparse
import socket
import time

from bench_proc import cpu_ns



def sys_share(pid):
    """utime and stime ticks (coarse, but their split says where CPU went)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def cpu_s(pid):
    """The daemon's time on CPU, all threads, in seconds (schedstat, ns)."""
    return cpu_ns([pid]) / 1e9


def head():
    # 95 fields: under http.server's limit of 100; about 16 KiB in all
    pad = "".join(f"X-Pad-{i:02d}: {'p' * 158}\r\n" for i in range(95))
    h = f"GET /ip HTTP/1.1\r\n{pad}Host: h.example\r\nConnection: close\r\n\r\n".encode()
    assert 16000 < len(h) <= 16384
    return h


def finish(socks, deadline):
    ok = 0
    for s in socks:
        s.settimeout(max(0.1, deadline - time.time()))
        try:
            body = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                body += b
            ok += body.startswith(b"HTTP/1.")
        except OSError:
            pass
        s.close()
    return ok


def phase(host, port, n, dribble):
    data = head()
    deadline = time.time() + 120
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
    if dribble:
        for i in range(len(data)):
            for s in socks:
                s.send(data[i:i + 1])
            if i % 8 == 7:
                time.sleep(0.0002)  # lets each byte leave as its own segment
            if time.time() > deadline:
                break
    else:
        for s in socks:
            s.sendall(data)
    return finish(socks, deadline), len(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pid", type=int)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    tot = {"whole": 0.0, "dribble": 0.0}
    for r in range(a.rounds):
        for kind in ("whole", "dribble"):
            c0, (u0, s0) = cpu_s(a.pid), sys_share(a.pid)
            ok, size = phase(a.host, a.port, a.conns, kind == "dribble")
            time.sleep(0.2)  # the daemon finishes the relays
            used = cpu_s(a.pid) - c0
            u1, s1 = sys_share(a.pid)
            kern = (s1 - s0) / max(1, (u1 - u0) + (s1 - s0))
            tot[kind] += used
            print(f"round {r + 1} {kind:7s}: {a.conns} x {size} B head, {ok} answered, "
                  f"daemon CPU {used:.3f} s ({used / a.conns * 1000:.2f} ms/conn, {kern:.0%} in the kernel)",
                  flush=True)
    w, d = tot["whole"] / a.rounds, tot["dribble"] / a.rounds
    print(f"mean daemon CPU per round: whole {w:.3f} s, dribbled {d:.3f} s, "
          f"ratio dribbled/whole {d / w if w > 0 else float('inf'):.2f}")


if __name__ == "__main__":
    main()
