#!/usr/bin/env python3
"""Issue 13 benchmark helpers (bench/control_listing.sh): does a long
`vrouterctl connections --json` listing stall the data path?

  control_listing.py paced-server --port P [--lifetime S]
      Accepts one connection at a time and sends it 4 KiB every 5 ms
      (800 KiB/s) on an absolute schedule, for at most S seconds.
  control_listing.py paced-client HOST PORT --out FILE [--seconds S]
      Connects and appends the CLOCK_MONOTONIC time of every received chunk
      (one float per line) to FILE, for at most S seconds.
  control_listing.py measure --ctl VROUTERCTL --sock SOCKET --arrivals FILE
                             --pid DAEMON_PID [--rounds R]
      R rounds of: one `connections --json` listing (rows, wall time
      taken and the daemon's CPU time, from /proc/PID/task/*/schedstat),
      then a quiet window of the same length. From the client's
      arrivals: the worst gap between chunks overlapping each listing and
      each quiet window. CLOCK_MONOTONIC is one clock for every network
      namespace, so the client's times and these windows compare.
Every loop is bounded in count and time.
"""
import argparse
import bisect
import socket
import statistics
import subprocess
import sys
import time

from bench_proc import cpu_ns


def paced_server(args):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", args.port))
    s.listen(8)
    s.settimeout(1.0)
    end, chunk = time.monotonic() + args.lifetime, b"p" * 4096
    while time.monotonic() < end:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        c.settimeout(5)
        nxt = time.monotonic()
        try:
            while time.monotonic() < end:
                c.sendall(chunk)
                nxt += 0.005
                delay = nxt - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        except OSError:
            pass
        c.close()
    return 0


def paced_client(args):
    s = socket.create_connection((args.host, args.port), timeout=10)
    end = time.monotonic() + args.seconds
    with open(args.out, "w", buffering=1) as out:
        while time.monotonic() < end:
            try:
                b = s.recv(65536)
            except socket.timeout:
                continue
            if not b:
                break
            out.write(f"{time.monotonic():.6f}\n")
    return 0


def load_arrivals(path):
    with open(path) as f:
        return [float(l) for l in f if l.strip()]


def worst_gap(arrivals, t0, t1):
    """The longest time between consecutive chunks among gaps that overlap
    [t0, t1] (a stall that starts in the window and ends after it counts)."""
    i = max(bisect.bisect_left(arrivals, t0) - 1, 0)
    worst = 0.0
    while i + 1 < len(arrivals) and arrivals[i] <= t1:
        worst = max(worst, arrivals[i + 1] - arrivals[i])
        i += 1
    return worst


def cpu_s(pid):
    """The daemon's time on CPU, all threads, in seconds (schedstat, ns)."""
    return cpu_ns([pid]) / 1e9


def measure(args):
    windows = []  # (kind, t0, t1, rows, bytes, daemon CPU s)
    for r in range(args.rounds):
        c0, t0 = cpu_s(args.pid), time.monotonic()
        p = subprocess.run([args.ctl, "-s", args.sock, "connections", "--json"], capture_output=True, timeout=120)
        t1, c1 = time.monotonic(), cpu_s(args.pid)
        lines = p.stdout.splitlines()
        rows = len(lines) - 1 if lines and b'"end":true' in lines[-1] else -1
        windows.append(("listing", t0, t1, rows, len(p.stdout), c1 - c0))
        time.sleep(0.3)  # the listing's tail drained before the quiet window starts
        c0, q0 = cpu_s(args.pid), time.monotonic()
        time.sleep(t1 - t0)
        windows.append(("quiet", q0, time.monotonic(), 0, 0, cpu_s(args.pid) - c0))
        time.sleep(0.3)
    time.sleep(1.0)  # the client has written the arrivals after the last window
    arr = load_arrivals(args.arrivals)
    all_gaps = [b - a for a, b in zip(arr, arr[1:])]
    print(f"transfer: {len(arr)} chunks received, median gap {statistics.median(all_gaps) * 1e3:.1f} ms"
          f" (paced at 5 ms)")
    print(f"{'round':>5} {'rows':>6} {'MiB':>6} {'list s':>7} {'worst gap listing ms':>21}"
          f" {'worst gap quiet ms':>19} {'daemon CPU listing ms':>22} {'quiet ms':>9}")
    lst = [w for w in windows if w[0] == "listing"]
    qui = [w for w in windows if w[0] == "quiet"]
    for r, (l, q) in enumerate(zip(lst, qui), 1):
        print(f"{r:>5} {l[3]:>6} {l[4] / 2**20:>6.1f} {l[2] - l[1]:>7.3f} {worst_gap(arr, l[1], l[2]) * 1e3:>21.1f}"
              f" {worst_gap(arr, q[1], q[2]) * 1e3:>19.1f} {l[5] * 1e3:>22.1f} {q[5] * 1e3:>9.1f}")
    wl = max(worst_gap(arr, w[1], w[2]) for w in lst) * 1e3
    wq = max(worst_gap(arr, w[1], w[2]) for w in qui) * 1e3
    print(f"worst gap over all listings {wl:.1f} ms, over all quiet windows {wq:.1f} ms;"
          f" listing time median {statistics.median(w[2] - w[1] for w in lst):.3f} s")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("paced-server")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--lifetime", type=float, default=600)
    p = sub.add_parser("paced-client")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--out", required=True)
    p.add_argument("--seconds", type=float, default=600)
    p = sub.add_parser("measure")
    p.add_argument("--ctl", required=True)
    p.add_argument("--sock", required=True)
    p.add_argument("--arrivals", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    return {"paced-server": paced_server, "paced-client": paced_client, "measure": measure}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
