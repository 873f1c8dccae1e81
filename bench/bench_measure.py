"""One measurement each: iperf3 throughput, wrk connection rate, idle RSS.
All are bounded in time (subprocess timeouts, tool durations) and count."""
import json
import os
import re
import subprocess
import time

from bench_proc import cpu_ns, cpu_ticks, machine_steal, mem_kb, nsx, steal_pct, wait_for

HZ = os.sysconf('SC_CLK_TCK')


def _cpu_pct(pids, t0, c0):
    dt = time.monotonic() - t0
    return round(100.0 * (cpu_ticks(pids) - c0) / HZ / max(dt, 1e-3), 1)


def _iperf3(ctx, pids, secs, what, args):
    """Runs the iperf3 client in the client namespace with JSON output;
    returns its report and the proxy's CPU % meanwhile. what names it in
    errors."""
    t0, c0 = time.monotonic(), cpu_ticks(pids)
    r = nsx(ctx.cli, ['iperf3'] + args + ['-J', '--connect-timeout', '3000'], timeout=secs + 30)
    cpu = _cpu_pct(pids, t0, c0)
    try:
        j = json.loads(r.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f'{what}: {r.stderr.strip() or r.stdout[:200]}')
    if 'error' in j:
        raise RuntimeError(f'{what}: {j["error"]}')
    return j, cpu


def throughput(ctx, dst, pids, secs, streams=1):
    """TCP, client -> server, through whatever is captured now: one stream,
    or `streams` parallel connections (iperf3 -P; the sum over them). With
    several workers the streams spread over the workers' SO_REUSEPORT
    sockets. Returns (Gbit/s, retransmits, proxy CPU %)."""
    j, cpu = _iperf3(ctx, pids, secs, 'iperf3', ['-c', dst, '-t', str(secs), '-O', '1'] +
                     (['-P', str(streams)] if streams > 1 else []))
    end = j['end']
    return end['sum_received']['bits_per_second'] / 1e9, end['sum_sent'].get('retransmits'), cpu


def conn_rate(ctx, dst, pids, secs, conns=50, host=None):
    """Short connections: one request per connection (Connection: close).
    host: a Host header to send instead of the address (sniffing systems).
    Returns (conn/s, wrk's error summary, proxy CPU %, connections completed,
    proxy CPU µs per completed connection). The last is the daemon's
    utime+stime (/proc/PID/stat, 10 ms ticks) over the whole round divided by
    wrk's count of completed requests, one per connection; None without a
    daemon (kernel forwarding)."""
    t0, c0 = time.monotonic(), cpu_ticks(pids)
    r = nsx(ctx.cli, ['wrk', '-t1', f'-c{conns}', f'-d{secs}s', '--timeout', '2s',
                      '-H', 'Connection: close'] + (['-H', f'Host: {host}'] if host else []) +
          [f'http://{dst}/small.html'], timeout=secs + 30)
    ticks = cpu_ticks(pids) - c0
    cpu = round(100.0 * ticks / HZ / max(time.monotonic() - t0, 1e-3), 1)
    m = re.search(r'Requests/sec:\s+([\d.]+)', r.stdout)
    n = re.search(r'(\d+) requests in', r.stdout)
    if not m or not n:
        raise RuntimeError(f'wrk: {r.stderr.strip() or r.stdout[:200]}')
    errs = ' '.join(x.group(0) for x in (re.search(r'Socket errors:.*', r.stdout),
                                        re.search(r'Non-2xx.*', r.stdout)) if x)
    done = int(n.group(1))
    us = round(ticks / HZ * 1e6 / done, 1) if pids and done else None
    return float(m.group(1)), errs, cpu, done, us


def _established_to_http(ctx):
    r = nsx(ctx.srv, ['ss', '-Htn', 'state', 'established', f'( sport = :80 )'], timeout=20)
    return len(r.stdout.splitlines())


class _IdleHold:
    """Context manager: n idle connections from the client through the
    gateway to nginx (idle_client.py), held until exit. On enter it waits
    (bounded) until the upstream legs reached the server; on exit it closes
    them and waits until the server saw them go, so the next measurement
    starts clean. Attributes: opened, failed, errors, reached."""

    def __init__(self, ctx, system, n, hold_max=120):
        self.ctx, self.system, self.n, self.hold_max = ctx, system, n, hold_max

    def __enter__(self):
        ctx = self.ctx
        self.base_srv = _established_to_http(ctx)
        self.p = subprocess.Popen(['ip', 'netns', 'exec', ctx.cli, 'python3',
                                   os.path.join(ctx.bench_dir, 'idle_client.py'),
                                   self.system.dst, '80', str(self.n), str(self.hold_max)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line, self.errors = '', ''
            end = time.monotonic() + 100
            while not line.startswith('OPEN') and time.monotonic() < end and self.p.poll() is None:
                line = self.p.stdout.readline().strip()
                if line.startswith('ERRORS'):
                    self.errors = line[7:]
            parts = line.split()
            self.opened = int(parts[1]) if len(parts) == 3 else 0
            self.failed = int(parts[2]) if len(parts) == 3 else self.n
            # The client's connect completes at the gateway; wait (bounded)
            # until the upstream legs reached the server.
            wait_for(lambda: _established_to_http(ctx) - self.base_srv >= self.opened, 20, 0.25)
            self.reached = _established_to_http(ctx) - self.base_srv
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.p.stdin.write('close\n')
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=5)
        # let the relays notice the closes before the next system runs
        wait_for(lambda: _established_to_http(self.ctx) <= self.base_srv, 20, 0.25)
        return False


def idle_rss(ctx, system, n, hold_max=120):
    """Open n idle connections from the client through the gateway to nginx,
    wait until the server holds them, and take the memory delta of the
    gateway processes (and of upstream helpers, reported apart)."""
    pids = [p.pid for p in system.procs]
    hpids = [p.pid for p in system.helpers]
    before = mem_kb(pids, system.tree), mem_kb(hpids, system.tree)
    slab_before = slab_kb()
    with _IdleHold(ctx, system, n, hold_max) as h:
        # wait for memory to settle
        last, stable_since = -1, time.monotonic()
        settle_end = time.monotonic() + 10
        while time.monotonic() < settle_end:
            cur = mem_kb(pids, system.tree)
            if cur != last:
                last, stable_since = cur, time.monotonic()
            elif time.monotonic() - stable_since >= 1.5:
                break
            time.sleep(0.25)
        after = mem_kb(pids, system.tree), mem_kb(hpids, system.tree)
        slab_after = slab_kb()
    # Per connection that was really proxied (reached the server): a relay
    # that runs out of fds leaves the rest in its accept queue, costing it nothing.
    held = min(h.opened, h.reached)
    per = lambda a, b: round((a - b) * 1024 / held) if held > 0 else None
    return {'requested': n, 'opened': h.opened, 'failed': h.failed, 'connect_errors': h.errors,
            'reached_server': h.reached, 'rss_before_kb': before[0], 'rss_after_kb': after[0],
            'bytes_per_conn': per(after[0], before[0]) if pids else None,
            'helper_bytes_per_conn': per(after[1], before[1]) if hpids else None,
            # machine-wide: the client's and server's sockets too (the same for
            # every system), and whatever else the machine did meanwhile
            'slab_bytes_per_conn': per(slab_after, slab_before) if slab_before and slab_after else None}


def slab_kb():
    """The kernel's slab memory (/proc/meminfo Slab: reclaimable and not), KiB."""
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('Slab:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


IDLE_CPU_SETTLE_S = 3.0   # after the last upstream leg is up: the opening's work is done


def idle_cpu(ctx, system, n, window_s, windows):
    """The daemon's CPU while it holds n idle connections (issue 12 §4): open
    them, wait until they reached the server and IDLE_CPU_SETTLE_S more, then
    take `windows` consecutive windows of window_s seconds each. Per window:
    (CPU ms, machine steal %). CPU is the scheduler's exact run time of every
    thread (/proc/PID/task/*/schedstat): an idle daemon spends a few ms per
    10 s, below /proc/PID/stat's 10 ms tick."""
    pids = [p.pid for p in system.procs]
    with _IdleHold(ctx, system, n) as h:
        time.sleep(IDLE_CPU_SETTLE_S)
        out = []
        for _ in range(windows):
            st0, c0 = machine_steal(), cpu_ns(pids)
            time.sleep(window_s)
            out.append((round((cpu_ns(pids) - c0) / 1e6, 2), steal_pct(st0, machine_steal())))
    return {'requested': n, 'opened': h.opened, 'failed': h.failed, 'connect_errors': h.errors,
            'reached_server': h.reached, 'window_s': window_s, 'windows': out}


UDP_PORT = 5202   # one iperf3 server per UDP system, bound to its address (vrbench.start_udp_servers)


def udp(ctx, dst, pids, secs, length, rate='0', sockbuf='4M', reverse=False):
    """iperf3 -u, client -> server (reverse: server -> client, iperf3 -R), one
    flow of `length`-byte datagrams at offered rate `rate` (iperf3 -b; 0 = as
    fast as the sender can), with the same socket buffer (-w) on both ends for
    every system. Returns the receiver's (Gbit/s, packets/s, loss %, sender's
    packets/s, proxy CPU %); with reverse the receiver is the client."""
    j, cpu = _iperf3(ctx, pids, secs, 'iperf3 -u',
                     ['-c', dst, '-p', str(UDP_PORT), '-u', '-b', rate, '-l', str(length),
                      '-w', sockbuf, '-t', str(secs)] + (['-R'] if reverse else []))
    rx, tx = j['end']['sum_received'], j['end']['sum_sent']
    if not rx.get('seconds') or not rx.get('packets'):
        raise RuntimeError('iperf3 -u: the receiver got nothing')
    got = rx['packets'] - rx['lost_packets']
    return (rx['bits_per_second'] / 1e9, got / rx['seconds'], round(rx['lost_percent'], 2),
            tx['packets'] / max(tx['seconds'], 1e-3), cpu)
