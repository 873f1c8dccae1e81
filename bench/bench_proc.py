"""Process helpers for the benchmark: run in a namespace, stop by pid, memory."""
import os
import resource
import signal
import subprocess
import time


def nsx(ns, argv, timeout=60, **kw):
    """Run argv inside namespace ns and wait (bounded) for it."""
    return subprocess.run(['ip', 'netns', 'exec', ns] + argv, capture_output=True,
                          text=True, timeout=timeout, **kw)


def spawn(ns, argv, log_path, nofile=None, stdin=None):
    """Start a long-running process in ns. `ip netns exec` and `prlimit` both
    exec, so the returned Popen's pid is the program itself."""
    if nofile:
        # Without CAP_SYS_RESOURCE (containers) the hard limit cannot be raised.
        nofile = min(nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    pre = ['prlimit', f'--nofile={nofile}:{nofile}', '--'] if nofile else []
    log = open(log_path, 'ab')
    return subprocess.Popen(['ip', 'netns', 'exec', ns] + pre + argv, stdout=log,
                            stderr=subprocess.STDOUT, stdin=stdin or subprocess.DEVNULL)


def stop(p, grace=3.0):
    """Stop one process we started: SIGTERM, bounded wait, then SIGKILL."""
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)


def wait_for(pred, timeout, step=0.05):
    """Poll pred() until true or timeout; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def children(pid):
    """Direct and indirect children of pid (for fork-per-connection relays)."""
    by_parent = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        by_parent.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in by_parent.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _status_kb(pid, key):
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid):
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mem_kb(pids, tree=False):
    """Memory of a set of processes in KiB. A single process: VmRSS. A process
    tree (fork per connection): the sum of Pss, so shared pages count once."""
    if not tree:
        return sum(_status_kb(p, 'VmRSS:') for p in pids)
    allp = list(pids)
    for p in pids:
        allp += children(p)
    return sum(_pss_kb(p) for p in allp)


def cpu_ticks(pids):
    """CPU ticks of pids and all their descendants, including reaped children
    (cutime/cstime), so a fork-per-connection relay is counted whole."""
    t = 0
    allp = list(pids)
    for p in pids:
        allp += children(p)
    for p in allp:
        try:
            with open(f'/proc/{p}/stat') as f:
                parts = f.read().rsplit(')', 1)[1].split()
            t += sum(int(x) for x in parts[11:15])
        except (OSError, IndexError, ValueError):
            pass
    return t


def cpu_ns(pids):
    """CPU time of pids in nanoseconds, every thread of each (the first field
    of /proc/PID/task/TID/schedstat: the scheduler's exact run time). For
    small amounts (an idle daemon over 10 s) where cpu_ticks' 10 ms tick is
    too coarse; descendants are not counted."""
    t = 0
    for p in pids:
        try:
            tids = os.listdir(f'/proc/{p}/task')
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f'/proc/{p}/task/{tid}/schedstat') as f:
                    t += int(f.read().split()[0])
            except (OSError, IndexError, ValueError):
                pass
    return t


def machine_steal():
    """(steal, total) jiffies of the whole machine from /proc/stat. Steal is
    time the hypervisor gave our vCPUs to someone else: a round with much of
    it measured the neighbours, not the systems."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is inside user
    return v[7], sum(v[:8])


def steal_pct(before, after):
    dt = after[1] - before[1]
    return round(100.0 * (after[0] - before[0]) / dt, 1) if dt > 0 else 0.0
