#!/bin/bash
# Issue 14 end to end: daemon.user without systemd. Started as root with
# daemon.user = "nobody" (group nogroup; no user is created on the host),
# vrouterd sets up as root and then runs as nobody with exactly
# CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE (0x3400) in every set
# and the bounding set. Afterwards: TPROXY TCP (IPv4, IPv6) and UDP through
# the installers' capture, routing_mark (SO_MARK) and bind_interface
# (SO_BINDTODEVICE), a wireguard-bind link watch, the installers applying a
# changed config on reload and rolling back a failing one, the config read
# again on reload through its group, the control socket, a daemon.user change
# on reload warned about and not applied, a module directory the user owns
# still refused, and the installers' objects removed at SIGTERM. Plus: -t
# names an unknown user or group with FILE:LINE, a non-root start with
# another daemon.user is refused, an already-dropped start (systemd's User=)
# runs, and a world-readable config holding a socks5 password is warned about.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/inst_lib.sh"

PORT=7895
CTL_BIN=$VR_BUILD/tools/vrouterctl
SOCK=$VR_TMP/run/control.sock
# inst_conf's configs (test_installers.sh), with daemon.user and the
# outbounds this test needs: port 8080 by routing_mark 0x77, port 8081 by
# bind_interface rb, a wireguard-bind on rb, and a socks5 with a password
# (never used by a rule: only its config is read).
pd_conf() { # FILE A|B [DAEMON KEYS, default user nobody]
    inst_conf "$1" "$2"
    python3 - "$1" "${3:-user = \"nobody\"; group = \"nogroup\";}" "$SOCK" <<'PY'
import sys
path, keys, sock = sys.argv[1:4]
s = open(path).read()
s = s.replace('bypass_mark = 0xff; };', 'bypass_mark = 0xff; %s control = { path = "%s"; group = "nogroup"; };\n           metrics = { address = "127.0.0.1"; port = 9479; }; };' % (keys, sock), 1)
s = s.replace('outbounds = ( { tag = "direct"; module = "direct"; } );', '''outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "marked"; module = "direct"; routing_mark = 0x77; },
  { tag = "wan-c"; module = "direct"; bind_interface = "rb"; },
  { tag = "wg-rb"; module = "wireguard-bind"; interface = "rb"; },
  { tag = "s5"; module = "socks5"; server = "198.19.2.2"; port = 1080; password = "secret";
    @include "s5_user.inc"
  }
);''', 1)
s = s.replace('route = { final = "direct"; };', '''route = { rules = ( { port = 8080; outbound = "marked"; }, { port = 8081; outbound = "wan-c"; },
                    { port = 8082; outbound = "wg-rb"; } ); final = "direct"; };''', 1)
open(path, "w").write(s)
PY
}
ctl() { "$CTL_BIN" -s "$SOCK" "$@"; }
status_of() { grep -E "^$1:" "/proc/$VR_DAEMON_PID/status" | cut -f2- | tr -s ' \t' ' '; }
fetch_ip() { in_cli curl -s --max-time 5 "$1" | cut -d' ' -f1; }

vr_topo_up || exit 1
# a second router-server link, rb/sb, for bind_interface and wireguard-bind
ip link add rb netns "$NS_RTR" type veth peer name sb netns "$NS_SRV"
in_rtr ip addr add 198.19.3.1/24 dev rb
in_srv ip addr add 198.19.3.2/24 dev sb
in_rtr ip link set rb up
in_srv ip link set sb up
in_srv ip route add 198.19.3.0/24 dev sb 2>/dev/null
# routing_mark 0x77: its own table, which leaves from 198.19.2.3
in_rtr ip rule add priority 100 fwmark 0x77 lookup 177
in_rtr ip route add 198.19.2.0/24 dev rs src 198.19.2.3 table 177
in_srv ip addr add 203.0.113.5/24 dev s0
in_rtr ip route add 203.0.113.0/24 via 198.19.2.2
vr_http_server || exit 1
vr_http_server 8080 || exit 1
vr_http_server 8081 || exit 1
vr_http_server 8082 || exit 1
UT="python3 $VR_SRC/tests/e2e/udp_tool.py"
vr_bg "$NS_SRV" $UT server --port 7001
# mktemp -d is 0700: the configs in it must be reachable by nobody on reload
chmod 0755 "$VR_TMP"
# an @include read again on each reload: root's, readable by the group only
echo 'username = "u";' >"$VR_TMP/s5_user.inc"
chgrp nogroup "$VR_TMP/s5_user.inc"
chmod 0640 "$VR_TMP/s5_user.inc"

pd_conf "$VR_TMP/a.conf" A
pd_conf "$VR_TMP/b.conf" B

# ---- -t validates daemon.user and daemon.group
pd_conf "$VR_TMP/bad.conf" A "user = \"vrnosuch$VR_ID\";"
out=$("$VR_BIN" -t -f "$VR_TMP/bad.conf" 2>&1); rc=$?
vr_check "-t: an unknown daemon.user fails with FILE:LINE" \
    bash -c "[ $rc = 1 ] && grep -qE 'bad\.conf:1:.*user.*no user \"vrnosuch$VR_ID\"' <<<\"\$0\"" "$out"
pd_conf "$VR_TMP/bad.conf" A "user = \"nobody\"; group = \"vrnosuch$VR_ID\";"
out=$("$VR_BIN" -t -f "$VR_TMP/bad.conf" 2>&1); rc=$?
vr_check "-t: an unknown daemon.group fails with FILE:LINE" \
    bash -c "[ $rc = 1 ] && grep -qE 'bad\.conf:1:.*group.*no group' <<<\"\$0\"" "$out"

# ---- start as root: the drop
cp "$VR_TMP/a.conf" "$VR_TMP/live.conf"
chmod 0644 "$VR_TMP/live.conf"
inst_start "$VR_TMP/live.conf" || { vr_finish; exit 1; }
vr_check "the daemon logged the drop" vr_wait_log "privileges dropped: running as nobody \(uid 65534, gid 65534\)"
vr_check "/proc/PID/status: Uid is nobody (real, effective, saved, fs)" vr_eq "$(status_of Uid)" "65534 65534 65534 65534"
vr_check "/proc/PID/status: Gid is nogroup" vr_eq "$(status_of Gid)" "65534 65534 65534 65534"
vr_check "/proc/PID/status: no supplementary group but nogroup" vr_eq "$(status_of Groups)" "65534 "
for set in CapPrm CapEff CapInh CapAmb CapBnd; do
    vr_check "/proc/PID/status: $set is exactly 0x3400 (NET_BIND_SERVICE, NET_ADMIN, NET_RAW)" \
        vr_eq "$(status_of $set)" "0000000000003400"
done
vr_check "every thread of the daemon runs as nobody with exactly 0x3400" \
    bash -c "for t in /proc/$VR_DAEMON_PID/task/*; do grep -q '^Uid:.65534.65534.65534.65534' \$t/status &&
             [ \"\$(grep -cE '^Cap(Prm|Eff|Inh|Amb|Bnd):.0000000000003400' \$t/status)\" = 5 ] || exit 1; done"
vr_check "a world-readable config holding a socks5 password is warned about, with the fix" \
    vr_wait_log "live\.conf:[0-9]+: the password of outbound \"s5\" is in a file every user on this host can read \(mode 0644\); fix: chmod 0640 .*live\.conf && chown root:nogroup"

# ---- traffic as nobody
inst_expect_a "after the drop"
vr_check "TPROXY TCP (IPv4) proxied as nobody" vr_eq "$(fetch_ip http://198.19.2.2/ip)" "198.19.2.1"
ip6=$(fetch_ip "http://[2001:db8:2::2]/ip")
case $ip6 in 2001:db8:2::1 | 2001:db8:2::3) ip6=router ;; esac
vr_check "TPROXY TCP (IPv6) proxied as nobody" vr_eq "$ip6" "router"
w=$(in_cli $UT whoami 198.19.2.2 7001)
vr_check "TPROXY UDP proxied as nobody (replies from the original destination)" \
    vr_eq "$(cut -d' ' -f1,4,5 <<<"$w")" "198.19.2.1 198.19.2.2 7001"
vr_check "routing_mark (SO_MARK) as nobody: the marked table's source 198.19.2.3" \
    vr_eq "$(fetch_ip http://198.19.2.2:8080/ip)" "198.19.2.3"
vr_check "bind_interface (SO_BINDTODEVICE) as nobody: leaves through rb" \
    vr_eq "$(fetch_ip http://198.19.2.2:8081/ip)" "198.19.3.1"
vr_check "the control socket answers after the drop" \
    bash -c "'$CTL_BIN' -s '$SOCK' status --json | grep -q '\"pid\":$VR_DAEMON_PID'"
st=$(ctl status --json)
vr_check "status after the drop still reads /proc/self: open fds and RSS" \
    python3 -c "import json,sys; o=json.loads(sys.argv[1]); assert o['fds']['open'] > 10 and o['rss_bytes'] > 0, o" "$st"
vr_check "the metrics endpoint answers after the drop, with process_open_fds" \
    bash -c "ip netns exec $NS_RTR curl -s --max-time 5 http://127.0.0.1:9479/metrics | grep -qE '^process_open_fds [1-9]'"

# ---- reload as nobody: the config read again through its group
chgrp nogroup "$VR_TMP/live.conf"
chmod 0640 "$VR_TMP/live.conf"
cp "$VR_TMP/b.conf" "$VR_TMP/live.conf"
warnings=$(grep -c 'is in a file every user on this host can read' "$VR_TMP/vrouterd.log")
inst_monitor_start
out=$(ctl reload 2>&1); rc=$?
inst_monitor_stop
vr_check "vrouterctl reload as nobody to config B and its @include (read as group nogroup, mode 0640) succeeds" \
    bash -c "[ $rc = 0 ] && grep -q 'generation 2 active' <<<\"\$0\"" "$out"
inst_expect_b "after a reload as nobody"
vr_check "reload: table 202 was added by the installer as nobody" inst_monitor_has "fwmark 0xca lookup 202"
vr_check "no password warning for the file once it is 0640" \
    vr_eq "$(grep -c 'is in a file every user on this host can read' "$VR_TMP/vrouterd.log")" "$warnings"
vr_check "still proxied after the reload" vr_eq "$(fetch_ip http://198.19.2.2/ip)" "198.19.2.1"
vr_check "the reload re-applied the control socket's unchanged mode and group without an error" \
    bash -c "! grep -q 'control: cannot set the mode or group' '$VR_TMP/vrouterd.log'"
vr_check "the control socket answers after the reload" \
    bash -c "'$CTL_BIN' -s '$SOCK' status --json | grep -q '\"id\":2'"

# ---- an @include the user cannot read: the reload says who cannot read what
chmod 0600 "$VR_TMP/s5_user.inc"
out=$(ctl reload 2>&1); rc=$?
vr_check "an @include nobody cannot read fails the reload with FILE:LINE, the uid and the fix" \
    bash -c "[ $rc = 1 ] && grep -qE 'live\.conf:[0-9]+: @include \"s5_user\.inc\" not read: .*Permission denied \(vrouterd runs as uid 65534; fix: .*chmod 0640' <<<\"\$0\"" "$out"
chmod 0640 "$VR_TMP/s5_user.inc"

# ---- a failing installer on reload: nftables cannot take a table someone
# else made, policy-routing's new table 203 is rolled back, B stays
python3 - "$VR_TMP/b.conf" "$VR_TMP/c.conf" <<'PY'
import sys
s = open(sys.argv[1]).read()
s = s.replace('weight = 1; } ); }', 'weight = 1; } ); },\n      { table = 203; mark = 0xcb; routes = ( { dst = "default"; dev = "rs"; } ); }', 1)
s = s.replace('table = "vrouter";', 'table = "vrouter2";', 1)
open(sys.argv[2], "w").write(s)
PY
in_rtr nft add table inet vrouter2
before=$(inst_snapshot)
cp "$VR_TMP/c.conf" "$VR_TMP/live.conf"
inst_monitor_start
out=$(ctl reload 2>&1); rc=$?
inst_monitor_stop
vr_check "a reload whose nftables installer fails exits 1, generation 2 kept" \
    bash -c "[ $rc = 1 ] && grep -q 'installers could not apply' <<<\"\$0\"" "$out"
vr_check "policy-routing applied table 203 as nobody before nftables failed" inst_monitor_has "fwmark 0xcb lookup 203"
vr_check "... and rolled it back as nobody" inst_monitor_has "^Deleted .*fwmark 0xcb lookup 203"
vr_check "the kernel state is B's again" vr_eq "$(inst_snapshot)" "$before"
vr_check "generation 2 still serves" vr_eq "$(fetch_ip http://198.19.2.2/ip)" "198.19.2.1"
in_rtr nft delete table inet vrouter2

# ---- daemon.user changed on reload: warned, not applied, the rest is
pd_conf "$VR_TMP/d.conf" B 'user = "daemon";'
cp "$VR_TMP/d.conf" "$VR_TMP/live.conf"
vr_check "a reload changing daemon.user succeeds" vr_reload
vr_check "... with a warning that the change needs a restart" \
    vr_wait_log "live\.conf:1: daemon\.user/daemon\.group changed from \"nobody\"/\"nogroup\" to \"daemon\"/\"\(primary\)\".*next restart"
vr_check "... and still runs as nobody" vr_eq "$(status_of Uid)" "65534 65534 65534 65534"

# ---- trust stays root's: a module directory nobody owns is refused after
# the drop as it was before it
mkdir -p "$VR_TMP/umods"
cp "$VR_MODULE_DIR"/*.so "$VR_TMP/umods/"
chown -R nobody:nogroup "$VR_TMP/umods"
pd_conf "$VR_TMP/e.conf" B
sed -i "s|module_path = \"$VR_MODULE_DIR\"|module_path = \"$VR_TMP/umods\"|" "$VR_TMP/e.conf"
out=$("$VR_BIN" -t -f "$VR_TMP/e.conf" 2>&1)
vr_check "as root, -t refuses modules owned by nobody" grep -q "untrusted path $VR_TMP/umods" <<<"$out"
cp "$VR_TMP/e.conf" "$VR_TMP/live.conf"
out=$(ctl reload 2>&1); rc=$?
vr_check "after the drop, a reload refuses them too (trust is not widened to the dropped user)" \
    bash -c "[ $rc = 1 ] && grep -q 'untrusted path $VR_TMP/umods' <<<\"\$0\"" "$out"
cp "$VR_TMP/b.conf" "$VR_TMP/live.conf"
vr_check "back to B" vr_reload

# ---- the wireguard-bind link watch works as nobody (netlink)
in_rtr ip link set rb down
vr_check "wireguard-bind sees its interface go down as nobody" vr_wait_log "interface rb is down"
in_rtr ip link set rb up
vr_check "... and come back" vr_wait_log "interface rb is up"

# ---- SIGTERM: the installers clean up as nobody
inst_stop TERM
wait "$VR_DAEMON_WRAPPER"; rc=$?
vr_check "the dropped daemon exits 0 (no sanitizer report, no leak)" vr_eq "$rc" 0
vr_check "SIGTERM as nobody: no rule or route of ours remains" vr_eq "$(inst_owned)" ""
vr_check "SIGTERM as nobody: the nft table is gone" vr_eq "$(in_rtr nft list tables)" ""

# ---- started as another user than root: refused with FILE:LINE
chmod 0644 "$VR_TMP/s5_user.inc" # uid 1 must get as far as the drop
CAPS=+net_admin,+net_raw,+net_bind_service
inst_log_rotate
in_rtr setpriv --reuid=1 --regid=1 --clear-groups --inh-caps=$CAPS --ambient-caps=$CAPS \
    timeout 10 "$VR_BIN" -f "$VR_TMP/b.conf" >>"$VR_TMP/vrouterd.log" 2>&1; rc=$?
vr_check "started as uid 1 with daemon.user = nobody: exits 1" vr_eq "$rc" 1
vr_check "... naming daemon.user's FILE:LINE and the fix" \
    vr_wait_log "b\.conf:1: daemon\.user = \"nobody\": vrouterd runs as uid 1, not root, and cannot become uid 65534"
vr_check "... and left no installer state behind" vr_eq "$(inst_owned)$(in_rtr nft list tables)" ""

# ---- already that user (what systemd's User= + AmbientCapabilities= give)
inst_log_rotate
in_rtr setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=$CAPS --ambient-caps=$CAPS \
    sh -c 'echo $$ >"$0"; exec "$@"' "$VR_TMP/vrouterd.pid" "$VR_BIN" -f "$VR_TMP/b.conf" >>"$VR_TMP/vrouterd.log" 2>&1 &
VR_DAEMON_WRAPPER=$!
vr_check "started as nobody with the three capabilities: ready" vr_wait_log "vrouterd ready" 10
VR_DAEMON_PID=$(cat "$VR_TMP/vrouterd.pid")
vr_check "... says there is nothing to drop" vr_wait_log "already running as that user: nothing to drop"
vr_check "... and proxies" vr_eq "$(fetch_ip http://198.19.2.2/ip)" "198.19.2.1"
inst_stop TERM

vr_finish
