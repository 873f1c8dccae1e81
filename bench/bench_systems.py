"""The systems under test: how to start each one in the router namespace and
how traffic arriving from the client is captured for it.

Every system keeps running for the whole benchmark on its own port; switching
between systems only swaps the router's nftables ruleset, so rounds can be
interleaved (system A, B, C, A, B, C, ...) and machine noise spreads evenly.
"""
import os
import resource

from bench_proc import nsx, spawn, stop, wait_for

SRV4 = '198.19.2.2'
MARK = 1
BYPASS_MARK = 0xff   # vrouterd's daemon.bypass_mark and refrelay's SO_MARK on upstream sockets


def _tproxy_ruleset(targets, udp_port=None):
    """targets: list of (extra match, port). Established flows to a
    transparent socket are marked first so they skip the tproxy lookup.
    udp_port: also send UDP to that port (the system's TPROXY UDP listener).

    A bare SYN never takes that shortcut: a proxy that passes the server's
    FIN on closes the client leg first, so the router keeps a transparent
    TIME_WAIT socket for the client's 4-tuple. "socket transparent 1" matches
    TIME_WAIT sockets too, so a new SYN from a reused client port would be
    delivered to the TIME_WAIT socket, which answers with an ACK unless the
    new ISN/timestamp happen to be higher; the client then sends RST and
    retries the SYN ~10 ms later. The tproxy statement instead reopens the
    4-tuple (nf_tproxy_handle_time_wait: a SYN to a TIME_WAIT socket goes to
    the listener). Measured with one wrk connection: vrouterd 108 conn/s with
    the plain socket rule, 4,300 with this one (kernel forwarding 7,500).

    UDP has no handshake and no TIME_WAIT, so its shortcut is the plain
    "socket transparent 1" match: it finds the proxy's transparent reply
    socket for the client's flow (vrouterd reads those too, docs/UDP.md)."""
    lines = ''.join(f'    meta l4proto tcp {m}tproxy to :{p} meta mark set {MARK} accept\n'
                    for m, p in targets)
    if udp_port:
        lines += (f'    meta l4proto udp socket transparent 1 meta mark set {MARK} accept\n'
                  f'    meta l4proto udp tproxy to :{udp_port} meta mark set {MARK} accept\n')
    return f"""table inet vbench {{
  chain prerouting {{
    type filter hook prerouting priority mangle; policy accept;
    iifname != "rc" return
    fib daddr type local return
    tcp flags & (fin | syn | rst | ack) != syn socket transparent 1 meta mark set {MARK} accept
{lines}  }}
}}
"""


def _redirect_ruleset(port):
    return f"""table ip vbnat {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname != "rc" return
    fib daddr type local return
    meta l4proto tcp redirect to :{port}
  }}
}}
"""


def _port_open(ns, port):
    r = nsx(ns, ['ss', '-Hltn', f'sport = :{port}'], timeout=10)
    return bool(r.stdout.strip())


class System:
    name = ''            # --only key
    label = ''           # table row
    tree = False         # fork per connection: memory is the Pss sum of the tree
    idle_cap = None      # idle connection count limit, if the system cannot hold N
    threads = None       # threads of the (first) gateway process once started, where recorded
    note = ''
    http_host = None     # Host header for the connection-rate load (None: wrk's default)
    udp = False          # measured by the UDP figures (--metrics udp)
    idle_cpu = False     # measured by the idle-CPU figure (--metrics idle): daemon CPU at few vs many idle conns

    def __init__(self, ctx):
        self.ctx = ctx
        self.procs = []      # gateway processes (router ns), memory measured
        self.helpers = []    # upstream helpers (server ns), memory reported apart

    def start(self):
        pass

    def ruleset(self):
        return ''

    def stop(self):
        for p in self.procs + self.helpers:
            stop(p)

    def alive(self):
        return all(p.poll() is None for p in self.procs + self.helpers)

    def log(self, what):
        return os.path.join(self.ctx.tmp, f'{self.name}-{what}.log')

    def _spawn_rtr(self, argv, what, nofile=262144):
        p = spawn(self.ctx.rtr, argv, self.log(what), nofile=nofile)
        self.procs.append(p)
        return p

    def _spawn_srv(self, argv, what, nofile=262144):
        p = spawn(self.ctx.srv, argv, self.log(what), nofile=nofile)
        self.helpers.append(p)
        return p

    def _wait_port(self, ns, port):
        if not wait_for(lambda: _port_open(ns, port), 10, 0.1):
            raise RuntimeError(f'{self.name}: nothing listens on port {port}; see {self.ctx.tmp}')


class Kernel(System):
    name, label = 'kernel', 'kernel forwarding (no proxy)'
    note = 'no daemon: RSS not applicable'
    udp = True


class Vrouterd(System):
    """vrouterd with one TPROXY listener; subclasses change the listener's
    extra keys, the outbounds and the rules (each instance on its own port).
    No `workers` key: the daemon runs its default, one worker per online CPU
    (vrouterd-w1 and vrouterd-w2 set it)."""
    name, label = 'vrouterd', 'vrouterd, `direct` outbound (TPROXY), default workers (one per CPU)'
    PORT = 7893
    daemon_extra = ''   # more keys for the daemon block
    listener_extra = ''
    outbounds = '{ tag = "direct"; module = "direct"; }'
    rules = ''
    final = 'direct'
    idle_cpu = True
    udp = True           # the plain vrouterd also takes UDP (network = ["tcp", "udp"]); subclasses do not

    def conf_text(self):
        # UDP's share of the open-file budget would otherwise leave TCP half
        # of this machine's 20,000 files: the idle figure needs 9,900.
        net = ' network = ["tcp", "udp"]; udp = { max_sessions = 1024; };' if self.udp else ''
        return f"""daemon = {{ module_path = "{self.module_dir()}"; log_level = "warn";
           bypass_mark = {BYPASS_MARK:#x}; max_connections = 65536;
           max_connections_per_client = 0;{self.daemon_extra} }};  # one bench client holds them all
listeners = ( {{ tag = "tp"; mode = "tproxy"; address = "::"; port = {self.PORT};{net}{self.listener_extra} }} );
outbounds = ( {self.outbounds} );
route = {{ {self.rules}final = "{self.final}"; }};
"""

    def start(self):
        self.pre_start()
        conf = os.path.join(self.ctx.tmp, f'{self.name}.conf')
        with open(conf, 'w') as f:
            f.write(self.conf_text())
        # No prlimit: vrouterd raises RLIMIT_NOFILE itself; that is part of what is measured.
        p = self._spawn_rtr([self.binary(), '-f', conf], 'daemon', nofile=None)

        def ready():
            if p.poll() is not None:
                return True
            with open(self.log('daemon'), errors='replace') as f:
                return 'vrouterd ready' in f.read()
        wait_for(ready, 10, 0.05)
        if p.poll() is not None:
            raise RuntimeError(f'vrouterd exited with {p.returncode}; see {self.log("daemon")}')
        self._wait_port(self.ctx.rtr, self.PORT)
        # Threads once ready: the main thread plus the workers (reported with
        # the per-run values, so a table says how many workers really ran).
        try:
            self.threads = len(os.listdir(f'/proc/{p.pid}/task'))
        except OSError:
            self.threads = None

    def pre_start(self):
        pass

    def binary(self):
        return self.ctx.vrouterd

    def module_dir(self):
        return self.ctx.module_dir

    def ruleset(self):
        return _tproxy_ruleset([('', self.PORT)], udp_port=self.PORT if self.udp else None)


class VrouterdB(Vrouterd):
    """A/B: the plain vrouterd configuration run from a second build
    (run.sh --build-b/--src-b), interleaved with the first."""
    name, label = 'vrouterd-b', 'vrouterd, second build (--build-b)'
    PORT = 7897

    def binary(self):
        return self.ctx.vrouterd_b

    def module_dir(self):
        return self.ctx.module_dir_b


class VrouterdBW1(VrouterdB):
    """A/B for issue 12 §5: vrouterd-w1's configuration from the second build."""
    name, label = 'vrouterd-b-w1', 'vrouterd, second build (--build-b), workers = 1'
    PORT = 7905
    daemon_extra = ' workers = 1;'


class VrouterdSniff(Vrouterd):
    """Issue 3: the same daemon with the tls and http sniffers on the
    listener. wrk sends its request first, so the http sniffer answers on the
    first bytes and no timeout is involved. The config proves the sniffing
    works: the final outbound goes nowhere (refused), so a wrk request only
    succeeds if the http sniffer read the Host and the domain rule matched;
    iperf3 (not HTTP) and the idle connections (send nothing: they wait out
    sniff_timeout_ms) are "unknown" and go direct."""
    name, label = 'vrouterd-sniff', 'vrouterd, `direct`, sniff = ["tls", "http"]'
    PORT = 7894
    udp = False
    listener_extra = ' sniff = ["tls", "http"]; sniff_timeout_ms = 300;'
    outbounds = ('{ tag = "direct"; module = "direct"; },\n'
                 f'  {{ tag = "nowhere"; module = "socks5"; server = "{SRV4}"; port = 9; connect_timeout_ms = 1000; }}')
    rules = ('rules = ( { domain_suffix = ["bench.example"]; outbound = "direct"; },\n'
             '  { protocol = ["unknown"]; outbound = "direct"; } ); ')
    final = 'nowhere'
    http_host = 'www.bench.example'
    note = ('wrk sends Host: www.bench.example, matched by a domain_suffix rule; '
            'final goes nowhere, so every successful request was sniffed')


class VrouterdBSniff(VrouterdSniff):
    """A/B: vrouterd-sniff's configuration (workers default) from the second build."""
    name, label = 'vrouterd-b-sniff', 'vrouterd, second build (--build-b), sniff = ["tls", "http"]'
    PORT = 7906

    def binary(self):
        return self.ctx.vrouterd_b

    def module_dir(self):
        return self.ctx.module_dir_b


DANTE_PORT = 1085


def _dante(system):
    """One Dante server in the server namespace, shared by every system that
    uses it (the SAME server for vrouterd-socks5 and redsocks-dante). Started
    by the first user, stopped by the driver at the end (ctx.shared)."""
    ctx = system.ctx
    p = getattr(ctx, 'dante', None)
    if p is None:
        conf = os.path.join(ctx.tmp, 'dante.conf')
        with open(conf, 'w') as f:
            f.write(f"""logoutput: {ctx.tmp}/dante.log
internal: {SRV4} port = {DANTE_PORT}
external: {SRV4}
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{ from: 0/0 to: 0/0 log: error }}
socks pass {{ from: 0/0 to: 0/0 log: error }}
""")
        p = spawn(ctx.srv, ['danted', '-f', conf, '-N', '4'], os.path.join(ctx.tmp, 'dante-stdout.log'),
                  nofile=262144)
        ctx.dante = p
        ctx.shared = getattr(ctx, 'shared', []) + [p]
        system._wait_port(ctx.srv, DANTE_PORT)
    if p.poll() is not None:
        raise RuntimeError(f'danted exited with {p.returncode}; see {ctx.tmp}/dante.log')
    system.helpers.append(p)


class VrouterdSocks5(Vrouterd):
    name, label = 'vrouterd-socks5', 'vrouterd, `socks5` outbound -> danted (TPROXY)'
    PORT = 7895
    udp = False
    outbounds = f'{{ tag = "dante"; module = "socks5"; server = "{SRV4}"; port = {DANTE_PORT}; }}'
    final = 'dante'
    idle_cpu = False   # the idle-CPU figure is about the daemon's timers: vrouterd and vrouterd-sniff show it
    note = 'helper = danted (shared with redsocks-dante)'

    def pre_start(self):
        _dante(self)

    def stop(self):
        for p in self.procs:   # danted is shared: the driver stops it
            stop(p)


class SsRedir(System):
    name, label = 'ss-redir', 'ss-redir -> ss-server (TPROXY, aes-128-gcm)'
    PORT, SPORT = 12345, 8388
    note = 'encrypts; helper = ss-server'
    udp = True   # -u: UDP relay too (TPROXY, IP_RECVORIGDSTADDR) over ss-server's UDP relay

    def start(self):
        key = ['-k', 'vrbench', '-m', 'aes-128-gcm']
        self._spawn_srv(['ss-server', '-s', SRV4, '-p', str(self.SPORT), '-u'] + key, 'server')
        self._wait_port(self.ctx.srv, self.SPORT)
        self._spawn_rtr(['ss-redir', '-s', SRV4, '-p', str(self.SPORT), '-b', '0.0.0.0',
                         '-l', str(self.PORT), '-T', '-u'] + key, 'redir')
        self._wait_port(self.ctx.rtr, self.PORT)

    def ruleset(self):
        return _tproxy_ruleset([('', self.PORT)], udp_port=self.PORT)


class Redsocks(System):
    name, label = 'redsocks', 'redsocks -> microsocks (REDIRECT)'
    PORT, SPORT = 12346, 1080
    note = 'helper = microsocks'

    def _conf(self, sport):
        conf = os.path.join(self.ctx.tmp, f'{self.name}.conf')
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nofile, conn_max = min(262144, hard), (min(262144, hard) - 100) // 2
        with open(conf, 'w') as f:
            f.write(f"""base {{ log_debug = off; log_info = off; log = stderr; daemon = off;
  redirector = iptables; redsocks_conn_max = {conn_max}; rlimit_nofile = {nofile}; }}
redsocks {{ local_ip = 0.0.0.0; local_port = {self.PORT}; ip = {SRV4}; port = {sport}; type = socks5; }}
""")
        return conf

    def start(self):
        self._spawn_srv(['microsocks', '-i', SRV4, '-p', str(self.SPORT)], 'microsocks')
        self._wait_port(self.ctx.srv, self.SPORT)
        self._spawn_rtr(['redsocks', '-c', self._conf(self.SPORT)], 'redsocks')
        self._wait_port(self.ctx.rtr, self.PORT)

    def ruleset(self):
        return _redirect_ruleset(self.PORT)


class RedsocksDante(Redsocks):
    name, label = 'redsocks-dante', 'redsocks -> danted (REDIRECT)'
    PORT = 12349
    note = 'helper = danted (shared with vrouterd-socks5)'

    def start(self):
        _dante(self)
        self._spawn_rtr(['redsocks', '-c', self._conf(DANTE_PORT)], 'redsocks')
        self._wait_port(self.ctx.rtr, self.PORT)

    def stop(self):
        for p in self.procs:   # danted is shared: the driver stops it
            stop(p)


class Socat(System):
    """socat cannot recover the original destination, so one fixed-target
    relay per service port: 5201 (iperf3) and 80 (nginx)."""
    name, label = 'socat', 'socat TPROXY relay (fork per conn, fixed target)'
    P_IPERF, P_HTTP = 12347, 12348
    tree = True
    idle_cap = 1000
    note = 'one process per connection; memory = Pss sum at 1,000 conns'

    def start(self):
        for port, target, what in ((self.P_IPERF, 5201, 'iperf'), (self.P_HTTP, 80, 'http')):
            self._spawn_rtr(['socat', f'TCP4-LISTEN:{port},ip-transparent,reuseaddr,fork,backlog=4096',
                             f'TCP4:{SRV4}:{target}'], what)
            self._wait_port(self.ctx.rtr, port)

    def ruleset(self):
        return _tproxy_ruleset([('tcp dport 5201 ', self.P_IPERF), ('tcp dport 80 ', self.P_HTTP)])


class KernelWg(System):
    """Kernel forwarding into the WireGuard tunnel wg1 (topo.sh bench_wg_up:
    the router routes this system's server address into wg1, the server
    routes the replies back through it)."""
    name, label = 'kernel-wg', 'kernel forwarding into wg1 (wireguard-go)'
    note = 'no daemon: RSS not applicable'

    def start(self):
        r = nsx(self.ctx.rtr, ['ip', 'route', 'get', self.dst], timeout=10)
        if 'dev wg1' not in r.stdout:
            raise RuntimeError('no wg1 tunnel (run.sh builds it when a -wg system is selected)')


class VrouterdWg(Vrouterd):
    name, label = 'vrouterd-wg', 'vrouterd, `wireguard-bind` wg1 (TPROXY)'
    PORT = 7896
    outbounds = '{ tag = "wg1"; module = "wireguard-bind"; interface = "wg1"; }'
    final = 'wg1'
    udp = False
    idle_cpu = False
    note = 'same wireguard-go tunnel as kernel-wg'


class VrouterdW1(Vrouterd):
    """Issue 12 §3/§6: the plain vrouterd configuration with one worker (one
    event-loop thread, one SO_REUSEPORT socket per listener)."""
    name, label = 'vrouterd-w1', 'vrouterd, `direct` outbound (TPROXY), workers = 1'
    PORT = 7899
    daemon_extra = ' workers = 1;'


class VrouterdW2(Vrouterd):
    """The same with two workers: two event-loop threads, the kernel spreads
    new connections over their SO_REUSEPORT sockets."""
    name, label = 'vrouterd-w2', 'vrouterd, `direct` outbound (TPROXY), workers = 2'
    PORT = 7900
    daemon_extra = ' workers = 2;'


class VrouterdSplice(Vrouterd):
    """Issue 17: the plain vrouterd configuration with daemon.relay =
    "splice" (zero-copy through pipes in the worker)..."""
    name, label = 'vrouterd-splice', 'vrouterd, `direct` outbound (TPROXY), relay = "splice"'
    PORT = 7903
    daemon_extra = ' relay = "splice";'
    udp = False  # TCP only: the open-file budget goes to the idle connections


class VrouterdSockmap(Vrouterd):
    """... and with daemon.relay = "sockmap" (a BPF stream verdict moves the
    bytes between the two sockets in the kernel once the server is connected)."""
    name, label = 'vrouterd-sockmap', 'vrouterd, `direct` outbound (TPROXY), relay = "sockmap"'
    PORT = 7904
    daemon_extra = ' relay = "sockmap";'
    udp = False


class RefRelay(System):
    """The yardstick of issue 12 §5: bench/refrelay.c, a minimal epoll +
    splice TPROXY relay (run.sh compiles it into the build directory). Same
    capture as vrouterd; its upstream sockets carry vrouterd's bypass_mark
    (0xff), so the router treats both alike. What it costs per connection is
    the kernel's work for a userspace TCP relay, and little else."""
    name, label = 'refrelay', 'reference relay (bench/refrelay.c, epoll + splice, TPROXY)'
    PORT = 7898
    idle_cpu = True
    note = 'minimal epoll + splice relay: the CPU-per-connection yardstick'

    def start(self):
        if not self.ctx.refrelay or not os.access(self.ctx.refrelay, os.X_OK):
            raise RuntimeError(f'no refrelay binary at {self.ctx.refrelay!r} (run.sh compiles bench/refrelay.c)')
        self._spawn_rtr([self.ctx.refrelay, str(self.PORT), hex(BYPASS_MARK)], 'refrelay')
        self._wait_port(self.ctx.rtr, self.PORT)

    def ruleset(self):
        return _tproxy_ruleset([('', self.PORT)])


class RefRelayT2(RefRelay):
    """The yardstick for vrouterd-w2: the same reference relay with two
    threads, each its own epoll loop and SO_REUSEPORT listener, as
    vrouterd's workers are. Two threads on a 2-vCPU machine shared with wrk
    and nginx cost wakeups and cross-CPU traffic that one loop does not pay;
    comparing vrouterd-w2 with a one-thread relay charges that to vrouterd."""
    name, label = 'refrelay-t2', 'reference relay, 2 threads (SO_REUSEPORT, as vrouterd workers = 2)'
    PORT = 7902
    note = 'minimal epoll + splice relay, 2 threads: the yardstick for workers = 2'

    def start(self):
        if not self.ctx.refrelay or not os.access(self.ctx.refrelay, os.X_OK):
            raise RuntimeError(f'no refrelay binary at {self.ctx.refrelay!r} (run.sh compiles bench/refrelay.c)')
        self._spawn_rtr([self.ctx.refrelay, str(self.PORT), hex(BYPASS_MARK), '2'], 'refrelay')
        self._wait_port(self.ctx.rtr, self.PORT)


class VrouterdOffload(Vrouterd):
    """Issue 15, the kernel fast path: the flow is decided by an ip_set rule
    (10,000 /32s, the system's server address among them) -> a plain direct
    outbound, so the nftables installer's compiled chain forwards it and it
    never reaches vrouterd. The ruleset is exactly the table `vrouterd --plan`
    prints for that config with the nftables installer (renamed to the
    bench's table, installed by the bench's ruleset swap like every other
    system's capture); the daemon runs the same rules without the installer,
    so anything the chain returned would still be proxied. The final
    outbound (bind_interface) is not kernel-expressible: the chain ends in a
    capture, as on a real gateway. Compare with `vrouterd` (the same flow
    with daemon.offload = false: proxied) and `kernel`."""
    name, label = 'vrouterd-offload', 'vrouterd, ip_set rule -> `direct`, daemon.offload = true (kernel fast path)'
    PORT = 7901
    udp = False
    idle_cpu = False
    outbounds = ('{ tag = "direct"; module = "direct"; },\n'
                 '  { tag = "via-rs"; module = "direct"; bind_interface = "rs"; }')
    final = 'via-rs'
    note = 'flows forwarded by the compiled nft chain: the daemon sees none of them (its RSS/CPU are idle figures)'
    rule_extra = ''   # more keys for the ip_set rule in the planned table

    def pre_start(self):
        setfile = os.path.join(self.ctx.tmp, 'offload-set.txt')
        with open(setfile, 'w') as f:
            # 10,000 /32s in 198.18.160.0/19 (never a host here), then this system's server address
            for i in range(10000):
                f.write(f'198.18.{160 + i // 256}.{i % 256}\n')
            f.write(f'{self.dst}\n')
        # the daemon has no installer (the bench installs the table): its rule
        # stays a plain one (offload = "stateless" needs an installer)
        self.rules = f'rules = ( {{ ip_set = "{setfile}"; outbound = "direct"; }} ); '
        plan_conf = os.path.join(self.ctx.tmp, f'{self.name}-plan.conf')
        with open(plan_conf, 'w') as f:
            f.write(self.conf_text().replace('log_level = "warn";', 'log_level = "warn"; offload = true;')
                    .replace('outbound = "direct"; }', f'outbound = "direct";{self.rule_extra} }}') +
                    'installers = ( { module = "nftables"; table = "vbench"; listener = "tp"; mark = 0x1; '
                    'interfaces = ["rc"]; } );\n')
        r = nsx(self.ctx.rtr, [self.binary(), '--plan', '-f', plan_conf], timeout=60)
        text = r.stdout
        start = text.find('table inet vbench {')
        if r.returncode != 0 or start < 0:
            raise RuntimeError(f'vrouterd --plan failed: {r.stdout}{r.stderr}')
        body = text[start:]
        end = body.find('\n}\n')
        self._ruleset = body[:end + 3]
        if 'jump fastpath' not in self._ruleset:
            raise RuntimeError('vrouterd --plan printed no fast path chain')

    def ruleset(self):
        return self._ruleset


class KernelCt(Kernel):
    """Kernel forwarding with conntrack on in the router (as on any gateway
    that masquerades its LAN): the baseline for vrouterd-offload, whose table
    uses conntrack (forwarded connections stay forwarded across a reload)."""
    name, label = 'kernel-ct', 'kernel forwarding, conntrack on (no proxy)'
    udp = False

    def ruleset(self):
        return """table inet vbench {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    iifname != "rc" return
    tcp flags & (fin | syn | rst | ack) != syn ct state established accept
  }
}
"""


class VrouterdOffloadStateless(VrouterdOffload):
    """The same config as vrouterd-offload with the ip_set rule's
    offload = "stateless": its flows are untracked (notrack at raw priority,
    both directions) and forwarded without conntrack. Compare with
    vrouterd-offload (conntrack marks), kernel-ct and kernel (no conntrack)."""
    name, label = ('vrouterd-offload-stateless',
                   'vrouterd, ip_set rule -> `direct`, offload = "stateless" (kernel fast path, notrack)')
    PORT = 7905
    rule_extra = ' offload = "stateless";'
    note = 'flows forwarded untracked by the compiled nft chains: the daemon sees none of them'

    def pre_start(self):
        super().pre_start()
        if 'notrack accept' not in self._ruleset:
            raise RuntimeError('vrouterd --plan printed no stateless (notrack) chain')


# Order matters only for the server address each gets (198.19.2.10 + index): append.
ALL = [Kernel, Vrouterd, SsRedir, Redsocks, Socat, VrouterdSniff, VrouterdSocks5, RedsocksDante,
       KernelWg, VrouterdWg, VrouterdB, RefRelay, VrouterdW1, VrouterdW2, VrouterdOffload, KernelCt,
       RefRelayT2, VrouterdSplice, VrouterdSockmap, VrouterdBW1, VrouterdBSniff, VrouterdOffloadStateless]
ONLY_BY_NAME = ('vrouterd-b', 'vrouterd-b-w1', 'vrouterd-b-sniff')   # measured only when named in --only
WG_KERNEL_DST = '198.19.2.18'   # 10 + ALL.index(KernelWg): run.sh routes it into wg1
