#!/usr/bin/env python3
"""Benchmark driver (called by run.sh once the namespaces exist).

Starts nginx and iperf3 in the server namespace and every selected system in
the router namespace, then measures in interleaved rounds: single-stream and
(--metrics tput8) 8-stream TCP throughput, short-connection rate, gateway RSS per idle connection, and UDP
throughput and packet rate, upload and download (the systems that relay UDP).
Prints a table with ratios to kernel forwarding and writes it as markdown.
"""
import argparse
import json
import os
import platform
import resource
import signal
import statistics
import sys
import time

import bench_measure as M
from bench_proc import machine_steal, nsx, spawn, steal_pct, stop, wait_for
from bench_systems import ALL, ONLY_BY_NAME


class Ctx:
    def __init__(self, a):
        self.cli, self.rtr, self.srv = a.ns_cli, a.ns_rtr, a.ns_srv
        self.tmp = a.tmp
        self.vrouterd, self.module_dir = a.vrouterd, a.module_dir
        self.vrouterd_b, self.module_dir_b = a.vrouterd_b, a.module_dir_b
        self.refrelay = a.refrelay
        self.bench_dir = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


def start_servers(ctx):
    www = os.path.join(ctx.tmp, 'www')
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, 'small.html'), 'w') as f:
        f.write('x' * 100)
    os.chmod(ctx.tmp, 0o755)
    conf = os.path.join(ctx.tmp, 'nginx.conf')
    with open(conf, 'w') as f:
        f.write(f"""worker_processes 1;
pid {ctx.tmp}/nginx.pid;
error_log {ctx.tmp}/nginx.err warn;
worker_rlimit_nofile {min(200000, resource.getrlimit(resource.RLIMIT_NOFILE)[1])};
events {{ worker_connections 65535; }}
http {{
  access_log off;
  client_body_temp_path {ctx.tmp}/nginx-body;
  client_header_timeout 300s;
  keepalive_timeout 65;
  server {{
    listen 80 reuseport backlog=65535;
    listen [::]:80 ipv6only=on reuseport backlog=65535;
    root {www};
  }}
}}
""")
    nginx = spawn(ctx.srv, ['nginx', '-p', ctx.tmp, '-e', 'stderr', '-c', conf, '-g', 'daemon off;'],
                  os.path.join(ctx.tmp, 'nginx.log'))
    iperf = spawn(ctx.srv, ['iperf3', '-s', '-p', '5201'],
                  os.path.join(ctx.tmp, 'iperf3.log'))
    ok = wait_for(lambda: nsx(ctx.srv, ['ss', '-Hltn', '( sport = :80 or sport = :5201 )']).stdout.count('\n') >= 3, 10, 0.1)
    if not ok or nginx.poll() is not None or iperf.poll() is not None:
        raise RuntimeError(f'servers did not start; see {ctx.tmp}/nginx.log, iperf3.log')
    return [nginx, iperf]


def start_udp_servers(ctx, systems):
    """One iperf3 server per UDP system, bound to that system's address: an
    iperf3 server on the wildcard answers a UDP test from the namespace's
    primary address (198.19.2.2), which the client's connected socket refuses."""
    procs = []
    for s in systems:
        procs.append(spawn(ctx.srv, ['iperf3', '-s', '-B', s.dst, '-p', str(M.UDP_PORT)],
                           os.path.join(ctx.tmp, f'iperf3-udp-{s.name}.log')))
    want = len(systems)
    ok = wait_for(lambda: nsx(ctx.srv, ['ss', '-Hltn', f'sport = :{M.UDP_PORT}']).stdout.count('\n') >= want, 10, 0.1)
    if not ok or any(p.poll() is not None for p in procs):
        for p in procs:
            stop(p)
        raise RuntimeError(f'UDP iperf3 servers did not start; see {ctx.tmp}/iperf3-udp-*.log')
    return procs


UDP_TESTS = {
    # metric name -> (result key, datagram length, reverse)
    'udp': (('udp', 1400, False), ('pps', 64, False), ('down', 1400, True)),
    'udp-down': (('down', 1400, True),),
}


def run_udp(ctx, systems, res, rounds, secs, tests):
    """UDP rounds, interleaved like the TCP figures: per round every system
    gets the 1,400-byte upload test, the 64-byte packet-rate test and the
    1,400-byte download test (iperf3 -R: the server sends), or only those of
    `tests` (see UDP_TESTS)."""
    pids = lambda s: [p.pid for p in s.procs]
    for rnd in range(rounds):
        for s in systems:
            r = res[s.name]
            if r.get('error'):
                continue
            for metric, length, reverse in tests:
                if not s.alive():
                    r['error'] = 'process died'
                    break
                measure_round(ctx, s, r, metric, rnd,
                              lambda: M.udp(ctx, s.dst, pids(s), secs, length, reverse=reverse))
                time.sleep(1)


TPUT8_STREAMS = 8   # --metrics tput8: iperf3 -P 8, the multi-stream figure of issue 12 §6


def measure_round(ctx, system, r, metric, rnd, take):
    """One round of one figure for one system: point the capture at it, take
    the figure (an error is recorded and the others go on), and record the
    hypervisor's steal during it."""
    st0 = machine_steal()
    try:
        capture(ctx, system)
        v = take()
    except Exception as e:  # keep measuring the others; record why
        log(f'{system.name} {metric} round {rnd + 1}: {e}')
        r.setdefault(metric + '_errors', []).append(str(e))
        v = None
    st = steal_pct(st0, machine_steal())
    r.setdefault(metric, []).append(v)
    r.setdefault(metric + '_steal', []).append(st)
    log(f'{system.name} {metric} round {rnd + 1}: {v} (steal {st}%)')


IDLE_CPU_COUNTS = (100, 9900)   # issue 12 §4: the same CPU with 9,900 idle connections as with 100
IDLE_CPU_WINDOW_S = 10


def run_idle_cpu(ctx, systems, res, max_idle, windows):
    """The daemon's CPU while it holds few and many idle connections, for the
    systems marked idle_cpu: a per-second walk over every connection shows as
    CPU growing with the count; timers in O(1) keep it flat. `windows`
    consecutive windows of IDLE_CPU_WINDOW_S at each count."""
    for s in systems:
        r = res[s.name]
        if not s.idle_cpu or r.get('error'):
            continue
        for n in sorted({min(c, max_idle) for c in IDLE_CPU_COUNTS}):
            try:
                capture(ctx, s)
                v = M.idle_cpu(ctx, s, n, IDLE_CPU_WINDOW_S, windows)
                r.setdefault('idle_cpu', []).append(v)
                log(f'{s.name} idle CPU at {n} conns: {v}')
            except Exception as e:
                log(f'{s.name} idle CPU at {n} conns: {e}')
                r.setdefault('idle_cpu_errors', []).append(f'{n}: {e}')


def capture(ctx, system):
    nsx(ctx.rtr, ['nft', 'flush', 'ruleset'])
    rs = system.ruleset()
    if rs:
        r = nsx(ctx.rtr, ['nft', '-f', '-'], input=rs)
        if r.returncode:
            raise RuntimeError(f'nft: {r.stderr.strip()}')


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def run_metric(ctx, systems, res, metric, fn, rounds, pause):
    for rnd in range(rounds):
        for s in systems:
            r = res[s.name]
            if r.get('error'):
                continue
            if not s.alive():
                r['error'] = 'process died'
                continue
            measure_round(ctx, s, r, metric, rnd, lambda: fn(s))
            time.sleep(pause)


def _us(x):
    """CPU µs per connection of one cps round (None: no daemon, or failed)."""
    return x[4] if x and len(x) > 4 else None


def per_round_ratios(mine, ref):
    """Round-by-round ratio of CPU per connection to the reference relay's
    (round i of each: the rounds are interleaved, so they shared the noise)."""
    return [(_us(a) / _us(b)) if _us(a) is not None and _us(b) else None for a, b in zip(mine, ref)]


def cpu_per_conn_cells(s, mine, ref):
    """Two cells: the median CPU µs per connection, and the median of the
    per-round ratios to the reference relay. Kernel forwarding: no daemon."""
    if not s.procs:
        return ['-', '-']
    us = median(_us(x) for x in mine)
    if s.name == 'refrelay' or not ref:
        return [fmt(us, 'us'), '1.00' if s.name == 'refrelay' and us else '—']
    q = median(per_round_ratios(mine, ref))
    return [fmt(us, 'us'), '—' if q is None else f'{q:.2f}']


def fmt(v, kind):
    if v is None:
        return '—'
    if kind == 'gbps':
        return f'{v:.2f} Gbit/s'
    if kind == 'cps':
        return f'{v:,.0f}'
    if kind == 'us':
        return f'{v:,.1f} µs'
    if kind == 'bytes':
        return f'{v:,} B'
    return str(v)


def ratio(v, base):
    if v is None or not base:
        return '—'
    return f'{v / base:.2f}'


def report(systems, res, args, started):
    base = res.get('kernel', {})
    metrics = set(args.metrics.split(','))
    med0 = lambda r, k: median(x[0] if x else None for x in r.get(k, []))
    b_t, b_t8, b_c = med0(base, 'tput'), med0(base, 'tput8'), med0(base, 'cps')
    ref = res.get('refrelay', {}).get('cps', [])
    # The 8-stream columns only when that figure was taken (the table is wide).
    multi = 'tput8' in metrics
    hdr = ['system', 'single-stream TCP', 'x kernel'] + (['8-stream TCP', 'x kernel'] if multi else []) + \
          ['short conn/s', 'x kernel', 'daemon CPU µs / conn', 'x refrelay',
           'gateway RSS / idle conn', 'kernel slab / idle conn', 'upstream helper / conn',
           'idle conns (opened/reached)']
    rows = []
    for s in systems:
        r = res[s.name]
        t, t8, c = med0(r, 'tput'), med0(r, 'tput8'), med0(r, 'cps')
        idle = r.get('idle') or {}
        conns = f"{idle.get('opened', '—')}/{idle.get('reached_server', '—')}" if idle else '—'
        rows.append([s.label + (' (' + r['error'] + ')' if r.get('error') else ''),
                     fmt(t, 'gbps'), ratio(t, b_t)] + ([fmt(t8, 'gbps'), ratio(t8, b_t8)] if multi else []) +
                    [fmt(c, 'cps'), ratio(c, b_c),
                     *cpu_per_conn_cells(s, r.get('cps', []), ref),
                     fmt(idle.get('bytes_per_conn'), 'bytes'), fmt(idle.get('slab_bytes_per_conn'), 'bytes'),
                     fmt(idle.get('helper_bytes_per_conn'), 'bytes'),
                     conns])
    tcp = bool({'tput', 'tput8', 'cps', 'idle'} & metrics)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
    line = lambda cells: '  '.join(c.ljust(w) for c, w in zip(cells, widths))
    if tcp:
        print()
        print(line(hdr))
        print(line(['-' * w for w in widths]))
        for r in rows:
            print(line(r))
    md = [f'# vrouterd benchmark, {time.strftime("%Y-%m-%d %H:%M", time.localtime(started))}', '',
          f'Host: {platform.node()}, {os.cpu_count()} CPUs, kernel {platform.release()}; '
          f'load average at start {args.load_start:.2f}, at end {os.getloadavg()[0]:.2f}. '
          f'Runs: {args.runs} (median), {args.secs} s each; idle connections: {args.idle}'
          + (f' (requested {args.idle_requested}; the open-file hard limit allows no more)'
             if args.idle != args.idle_requested else '') + '.']
    if tcp:
        md += ['']
        md += ['| ' + ' | '.join(hdr) + ' |', '|' + '---|' * len(hdr)]
        md += ['| ' + ' | '.join(r) + ' |' for r in rows]
        md += ['', 'Per-run values (Gbit/s; conn/s; proxy CPU % during the run, 100% = one CPU):', '']
    for s in (systems if tcp else []):
        r = res[s.name]
        tp = lambda k: ', '.join(f'{x[0]:.2f} ({x[2]}%)' if x else 'fail' for x in r.get(k, []))
        t, t8 = tp('tput'), tp('tput8')
        c = ', '.join(f'{x[0]:,.0f} ({x[2]}%{f", {x[4]:g} µs/conn" if _us(x) is not None else ""})'
                      f'{" [" + x[1] + "]" if x[1] else ""}' if x else 'fail'
                      for x in r.get('cps', []))
        md.append(f'- {s.name}: throughput {t or "—"}'
                  + (f'; 8 streams {t8 or "—"}' if multi else '')
                  + f'; conn/s {c or "—"}'
                  + (f'; threads: {s.threads}' if s.threads else '')
                  + (f'; note: {s.note}' if s.note else ''))
    md += cpu_ratio_report(systems, res)
    md += idle_cpu_report(systems, res)
    md += udp_report(systems, res)
    md += steal_report(systems, res)
    text = '\n'.join(md) + '\n'
    with open(args.results, 'w') as f:
        f.write(text)
    with open(os.path.splitext(args.results)[0] + '.json', 'w') as f:
        json.dump(res, f, indent=1)
    print(f'\nresults: {args.results}')


def cpu_ratio_report(systems, res):
    """Per round: each daemon's CPU per connection over the reference relay's."""
    ref = res.get('refrelay', {}).get('cps', [])
    if not any(_us(x) is not None for x in ref):
        return []
    md = ['', 'CPU per connection / refrelay\'s, per round (daemon utime+stime from /proc/PID/stat over the '
          'round, divided by the connections wrk completed in it):', '']
    ref_steal = res['refrelay'].get('cps_steal', [])
    for s in systems:
        if s.procs and s.name != 'refrelay' and res[s.name].get('cps'):
            rr = per_round_ratios(res[s.name]['cps'], ref)
            # Steal slows every instruction (shared caches, the host's own
            # work), so a round that lost much of the CPU inflates its µs.
            quiet = [q for q, a, b in zip(rr, res[s.name].get('cps_steal', []), ref_steal)
                     if q is not None and a <= STEAL_WARN_PCT and b <= STEAL_WARN_PCT]
            md.append(f'- {s.name}: ' + ', '.join('—' if q is None else f'{q:.2f}' for q in rr)
                      + (f'; median of the {len(quiet)} rounds with steal <= {STEAL_WARN_PCT:g}% on both sides: '
                         f'{median(quiet):.2f}' if quiet else f'; no round with steal <= {STEAL_WARN_PCT:g}% on both sides'))
    # Like against like: a two-worker vrouterd against the two-thread relay.
    for name, yard in (('vrouterd-w2', 'refrelay-t2'),):
        mine, ref2 = res.get(name, {}).get('cps', []), res.get(yard, {}).get('cps', [])
        if mine and any(_us(x) is not None for x in ref2):
            rr = per_round_ratios(mine, ref2)
            ok = [q for q in rr if q is not None]
            md.append(f'- {name} / {yard}: ' + ', '.join('—' if q is None else f'{q:.2f}' for q in rr)
                      + (f'; median {median(ok):.2f}' if ok else ''))
    return md


def idle_cpu_report(systems, res):
    """The idle-CPU table (issue 12 §4): daemon CPU ms per 10 s while holding
    few and many idle connections (median of the windows; each window listed)."""
    rows, md = [], []
    for s in systems:
        for v in res[s.name].get('idle_cpu', []):
            ms = [w[0] for w in v['windows']]
            rows.append([s.label, f"{v['requested']:,}", f"{v['opened']:,}/{v['reached_server']:,}",
                         f'{median(ms) * 10 / v["window_s"]:.2f} ms' if ms else '—',
                         ', '.join(f'{w[0]:g} ms (steal {w[1]:g}%)' for w in v['windows'])])
    if not rows:
        return []
    hdr = ['system', 'idle conns', 'opened/reached', 'daemon CPU / 10 s (median)',
           'per window of %d s' % IDLE_CPU_WINDOW_S]
    return (['', 'Daemon CPU while holding idle connections (all threads, /proc/PID/task/*/schedstat; '
             'windows start %g s after the last connection reached the server):' % M.IDLE_CPU_SETTLE_S, '']
            + _table(hdr, rows))


def _table(hdr, rows):
    """Print an aligned text table; return it as markdown lines."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
    line = lambda cells: '  '.join(c.ljust(w) for c, w in zip(cells, widths))
    print()
    print(line(hdr))
    print(line(['-' * w for w in widths]))
    for r in rows:
        print(line(r))
    return ['| ' + ' | '.join(hdr) + ' |', '|' + '---|' * len(hdr)] + ['| ' + ' | '.join(r) + ' |' for r in rows]


STEAL_WARN_PCT = 5.0


def steal_report(systems, res):
    """Hypervisor steal per round: on a shared VM a round whose neighbours
    took the CPU measures them, and a ratio built on it is noise."""
    md, worst = ['', 'Machine steal per round (% of CPU time the hypervisor gave to others):', ''], 0.0
    for s in systems:
        r = res[s.name]
        for k in sorted(x for x in r if x.endswith('_steal')):
            md.append(f'- {s.name} {k[:-len("_steal")]}: ' + ', '.join(f'{x:g}%' for x in r[k]))
            worst = max([worst] + r[k])
    if len(md) == 3:
        return []
    if worst > STEAL_WARN_PCT:
        note = (f'**Steal reached {worst:g}% in a round: the machine was shared during this run; '
                'compare the rounds with little steal, or run again.**')
        print(f'\nwarning: hypervisor steal reached {worst:g}% in a round; this run is noisy')
        md += ['', note]
    return md


def udp_report(systems, res):
    """The UDP tables (markdown lines; also printed): receiver's rate and loss
    for 1,400-byte and 64-byte datagrams client -> server (upload) and for
    1,400-byte datagrams server -> client (download, iperf3 -R), ratios to
    kernel forwarding."""
    keys = ('udp', 'pps', 'down')
    us = [s for s in systems if s.udp and any(res[s.name].get(k) for k in keys)]
    if not us:
        return []
    med = lambda r, k, i: median(x[i] if x else None for x in r.get(k, []))
    pct = lambda v: '—' if v is None else f'{v:g}%'
    base = res.get('kernel', {})
    md = []
    if any(res[s.name].get('udp') or res[s.name].get('pps') for s in us):
        b_u, b_p = med(base, 'udp', 0), med(base, 'pps', 1)
        hdr = ['system', 'UDP 1400 B (receiver)', 'x kernel', 'loss', 'proxy CPU',
               'UDP 64 B pkt/s (receiver)', 'x kernel', 'loss', 'proxy CPU']
        rows = []
        for s in us:
            r = res[s.name]
            u, p = med(r, 'udp', 0), med(r, 'pps', 1)
            rows.append([s.label + (' (' + r['error'] + ')' if r.get('error') else ''),
                         fmt(u, 'gbps'), ratio(u, b_u), pct(med(r, 'udp', 2)),
                         pct(med(r, 'udp', 4)) if s.procs else '—',
                         fmt(p, 'cps'), ratio(p, b_p), pct(med(r, 'pps', 2)),
                         pct(med(r, 'pps', 4)) if s.procs else '—'])
        md += ['', 'UDP upload, client -> server (iperf3 -u -b 0 -w 4M, medians; loss and CPU are the medians '
               'of the rounds):', ''] + _table(hdr, rows)
    if any(res[s.name].get('down') for s in us):
        b_d, b_dp = med(base, 'down', 0), med(base, 'down', 1)
        hdr = ['system', 'UDP download 1400 B (client receives)', 'x kernel', 'pkt/s', 'x kernel', 'loss',
               'proxy CPU']
        rows = []
        for s in us:
            r = res[s.name]
            d, dp = med(r, 'down', 0), med(r, 'down', 1)
            rows.append([s.label + (' (' + r['error'] + ')' if r.get('error') else ''),
                         fmt(d, 'gbps'), ratio(d, b_d), fmt(dp, 'cps'), ratio(dp, b_dp),
                         pct(med(r, 'down', 2)), pct(med(r, 'down', 4)) if s.procs else '—'])
        md += ['', 'UDP download, server -> client (iperf3 -u -R -b 0 -l 1400 -w 4M, medians; loss and CPU are '
               'the medians of the rounds):', ''] + _table(hdr, rows)
    md += ['', 'UDP per round (receiver Gbit/s or pkt/s, loss %, sender pkt/s, proxy CPU %):', '']
    one = lambda x, k: ('fail' if not x else
                        (f'{x[1]:,.0f}' if k == 'pps' else f'{x[0]:.2f}') +
                        f' (loss {x[2]:g}%, sent {x[3]:,.0f}/s, CPU {x[4]}%)')
    names = (('udp', '1400 B up'), ('pps', '64 B up'), ('down', '1400 B down'))
    for s in us:
        r = res[s.name]
        md.append(f'- {s.name}: ' + '; '.join(f'{label} ' + ', '.join(one(x, k) for x in r[k])
                                            for k, label in names if r.get(k)))
    for s in us:
        if s.name == 'kernel':
            continue
        r = res[s.name]
        rr = lambda k, i: ', '.join(f'{x[i] / b[i]:.2f}' if x and b and b[i] else '—'
                                    for x, b in zip(r.get(k, []), base.get(k, [])))
        md.append(f'- {s.name} / kernel per round: ' +
                  '; '.join(f'{label} {rr(k, 1 if k == "pps" else 0)}' for k, label in names if r.get(k)))
    return md


def _on_term(signum, frame):
    raise SystemExit(128 + signum)  # run the finally blocks: stop what we started


def main():
    signal.signal(signal.SIGTERM, _on_term)
    ap = argparse.ArgumentParser()
    for k in ('ns-cli', 'ns-rtr', 'ns-srv', 'tmp', 'vrouterd', 'module-dir', 'results'):
        ap.add_argument('--' + k, required=True)
    ap.add_argument('--vrouterd-b', default='')
    ap.add_argument('--module-dir-b', default='')
    ap.add_argument('--refrelay', default='')
    ap.add_argument('--only', default='')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--secs', type=int, default=8)
    ap.add_argument('--idle', type=int, default=10000)
    ap.add_argument('--metrics', default='tput,cps,idle,udp')
    a = ap.parse_args()
    metrics = set(m for m in a.metrics.split(',') if m)
    if 'idle' not in metrics:
        a.idle = 0
    started = time.time()
    a.load_start = os.getloadavg()[0]
    # A relay holds two sockets per connection. Where the open-file hard limit
    # cannot be raised (no CAP_SYS_RESOURCE; 20,000 on stock Debian), N idle
    # connections through one process need N*2 + a few fds: clamp and say so.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    a.idle_requested = a.idle
    if a.idle * 2 + 100 > hard:
        a.idle = max(0, (hard - 100) // 2)
        log(f'open-file hard limit {hard} cannot hold {a.idle_requested} proxied connections '
            f'in one process; measuring idle RSS at {a.idle}')
    ctx = Ctx(a)
    names = [n for n in a.only.split(',') if n]
    known = [c.name for c in ALL]
    for n in names:
        if n not in known:
            sys.exit(f'unknown system {n}; known: {", ".join(known)}')
    classes = [c for c in ALL if (not names and c.name not in ONLY_BY_NAME) or c.name in names or c.name == 'kernel']
    servers, systems, res = [], [], {}
    try:
        servers = start_servers(ctx)
        for cls in classes:
            s = cls(ctx)
            s.dst = f'198.19.2.{10 + ALL.index(cls)}'   # see topo.sh: no shared 4-tuples
            res[s.name] = {}
            try:
                s.start()
            except Exception as e:
                log(f'{s.name}: cannot start: {e}')
                res[s.name]['error'] = f'not started: {e}'
                s.stop()
            systems.append(s)
        # Idle first: the short-connection load leaves thousands of TIME_WAIT
        # sockets behind that would disturb connection setup.
        for s in systems:
            if res[s.name].get('error') or not a.idle:
                continue
            n = min(a.idle, s.idle_cap) if s.idle_cap else a.idle
            try:
                capture(ctx, s)
                res[s.name]['idle'] = M.idle_rss(ctx, s, n)
                log(f'{s.name} idle: {res[s.name]["idle"]}')
            except Exception as e:
                log(f'{s.name} idle: {e}')
                res[s.name]['idle_error'] = str(e)
        if a.idle:
            run_idle_cpu(ctx, systems, res, a.idle, a.runs)
        pids = lambda s: [p.pid for p in s.procs]
        if 'tput' in metrics:
            run_metric(ctx, systems, res, 'tput', lambda s: M.throughput(ctx, s.dst, pids(s), a.secs), a.runs, 1)
        if 'tput8' in metrics:
            run_metric(ctx, systems, res, 'tput8',
                       lambda s: M.throughput(ctx, s.dst, pids(s), a.secs, streams=TPUT8_STREAMS), a.runs, 1)
        if 'cps' in metrics:
            run_metric(ctx, systems, res, 'cps', lambda s: M.conn_rate(ctx, s.dst, pids(s), a.secs, host=s.http_host), a.runs, 2)
        if metrics & set(UDP_TESTS):
            us = [s for s in systems if s.udp and not res[s.name].get('error')]
            tests = UDP_TESTS['udp'] if 'udp' in metrics else UDP_TESTS['udp-down']
            if names and not any(s.name != 'kernel' for s in us):
                log('udp: none of the selected systems relays UDP (kernel, vrouterd, vrouterd-b, vrouterd-w1, vrouterd-w2, ss-redir do); skipped')
            else:
                servers += start_udp_servers(ctx, us)
                run_udp(ctx, us, res, a.runs, a.secs, tests)
        nsx(ctx.rtr, ['nft', 'flush', 'ruleset'])
        report(systems, res, a, started)
    finally:
        for s in systems:
            s.stop()
        for p in servers + getattr(ctx, 'shared', []):
            stop(p)


if __name__ == '__main__':
    main()
