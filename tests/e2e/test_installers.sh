#!/bin/bash
# Issue 6 end to end: the policy-routing and nftables installers alone set up
# the capture (no vr_tproxy_capture here); exact kernel objects; SIGTERM
# removes them; SIGKILL + restart leaves exactly one set; a foreign rule or
# a foreign nft table makes start fail and changes nothing; SIGHUP applies
# only the difference; --plan changes nothing; capture_local.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/inst_lib.sh"

PORT=7893
vr_topo_up || exit 1
# 203.0.113.0/24 lives behind the server; it is in `bypass`, so the router
# forwards it in the kernel and the server sees the client's own address.
in_srv ip addr add 203.0.113.5/24 dev s0
in_rtr ip route add 203.0.113.0/24 via 198.19.2.2
vr_http_server || exit 1
UT="python3 $VR_SRC/tests/e2e/udp_tool.py"
vr_bg "$NS_SRV" $UT server --port 7001

inst_conf "$VR_TMP/a.conf" A
inst_conf "$VR_TMP/b.conf" B
inst_conf "$VR_TMP/local.conf" LOCAL

# ---- --plan prints the changes and makes none
plan=$(in_rtr "$VR_BIN" --plan -f "$VR_TMP/a.conf" 2>&1)
vr_check "--plan shows the tproxy rule" inst_has "$plan" "ip rule add priority 10000 fwmark 0x1 lookup 100 proto 0xf7"
vr_check "--plan shows the nft table" inst_has "$plan" "table inet vrouter {"
vr_check "--plan installed nothing" vr_eq "$(inst_owned)" ""

# ---- config errors name FILE:LINE and what is expected
sed 's/table = 201; mark = 0xc9;/table = 254; mark = 0xc9;/' "$VR_TMP/a.conf" >"$VR_TMP/bad1.conf"
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/bad1.conf" 2>&1); rc=$?
vr_check "-t: the main table is refused (exit 1)" vr_eq "$rc" "1"
vr_check "-t: ... with FILE:LINE and the reason" inst_has "$out" "bad1.conf:8:"
vr_check "-t: ... naming the kernel table" inst_has "$out" "table 254 is a kernel table"
sed 's/listener = "tp";/listener = "nope";/' "$VR_TMP/a.conf" >"$VR_TMP/bad2.conf"
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/bad2.conf" 2>&1)
vr_check "-t: an unknown listener tag is refused" inst_has "$out" 'no listener with tag "nope"'
sed 's/capture_local = false;/capture_local = false; captur_local = true;/' "$VR_TMP/a.conf" >"$VR_TMP/bad3.conf"
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/bad3.conf" 2>&1)
vr_check "-t: a misspelt installer key is reported" inst_has "$out" "captur_local"
vr_check "-t: changed nothing" vr_eq "$(inst_owned)$(in_rtr nft list tables)" ""

# ---- start: exactly the expected objects
cp "$VR_TMP/a.conf" "$VR_TMP/live.conf"
inst_start "$VR_TMP/live.conf" || { vr_finish; exit 1; }
inst_expect_a "after start"

# ---- traffic goes through vrouterd with nothing but what the installers made
ip4=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "IPv4 flow captured and proxied (server sees the router)" vr_eq "$ip4" "198.19.2.1"
ip6=$(in_cli curl -s --max-time 5 "http://[2001:db8:2::2]/ip" | cut -d' ' -f1)
case $ip6 in 2001:db8:2::1 | 2001:db8:2::3) ip6=router ;; esac
vr_check "IPv6 flow captured and proxied (server sees the router)" vr_eq "$ip6" "router"
vr_check "the daemon logged the captured IPv6 flow" \
    vr_wait_log "conn [0-9]+ tp \[2001:db8:1::2\]:[0-9]+ -> \[2001:db8:2::2\]:80 "
vr_check "the daemon logged the captured IPv4 flow" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:80 "
byp=$(in_cli curl -s --max-time 5 http://203.0.113.5/ip | cut -d' ' -f1)
vr_check "a bypassed destination is forwarded, not proxied" vr_eq "$byp" "198.18.1.2"
w=$(in_cli $UT whoami 198.19.2.2 7001)
vr_check "UDP (IPv4) captured by the installed rules and proxied" vr_eq "$(echo "$w" | cut -d' ' -f1)" "198.19.2.1"
w=$(in_cli $UT whoami 2001:db8:2::2 7001)
case $w in 2001:db8:2::1\ * | 2001:db8:2::3\ *) w=router ;; esac
vr_check "UDP (IPv6) captured by the installed rules and proxied" vr_eq "$w" "router"
# a server on the router's own address: reached directly, never captured
vr_bg "$NS_RTR" python3 -m http.server --bind 198.18.1.1 8081 >/dev/null 2>&1
vr_wait_port "$NS_RTR" 198.18.1.1 8081
own=$(in_cli curl -s --max-time 5 -o /dev/null -w '%{http_code}' http://198.18.1.1:8081/)
vr_check "the gateway's own address is reached directly" vr_eq "$own" "200"
vr_check "... and not through vrouterd" bash -c "! grep -q -- '-> 198.18.1.1:8081' '$VR_TMP/vrouterd.log'"

# ---- SIGHUP with other tables: only the difference is applied
inst_monitor_start
cp "$VR_TMP/b.conf" "$VR_TMP/live.conf"
vr_check "reload to config B succeeds" vr_reload
vr_check "reload reported success" vr_wait_log "reload: generation [0-9]+ active"
sleep 0.3
inst_monitor_stop
inst_expect_b "after reload"
vr_check "reload: the tproxy rule and route were not touched" inst_monitor_lacks "lookup 100|table 100"
vr_check "reload: table 201's unchanged rule was not touched" inst_monitor_lacks "fwmark 0xc9"
vr_check "reload: table 202 was added" inst_monitor_has "fwmark 0xca lookup 202"
vr_check "reload: the dscp rule was removed" inst_monitor_has "^Deleted .*lookup 201"
ip4=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "still proxied after the reload" vr_eq "$ip4" "198.19.2.1"
byp=$(in_cli curl -s --max-time 5 http://203.0.113.5/ip | cut -d' ' -f1)
vr_check "203.0.113.0/24 is no longer bypassed in B: proxied" vr_eq "$byp" "198.19.2.1"

# ---- SIGTERM: nothing remains
inst_stop TERM
vr_check "SIGTERM closed and logged the UDP session (it went through vrouterd)" \
    vr_wait_log "udp [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:7001 .*end="
vr_check "SIGTERM: no rule or route of ours remains" vr_eq "$(inst_owned)" ""
vr_check "SIGTERM: the nft table is gone" vr_eq "$(in_rtr nft list tables)" ""

# ---- SIGKILL with B, then restart with A: exactly A's set (B's stale
# table 202 goes too)
inst_start "$VR_TMP/b.conf" || { vr_finish; exit 1; }
inst_stop KILL
vr_check "SIGKILL leaves the objects behind (nothing could clean up)" inst_nonempty "$(inst_owned)"
inst_log_rotate
inst_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
inst_expect_a "after SIGKILL and restart"
vr_check "restart logged the stale table it replaced" vr_wait_log "replacing table inet vrouter left by an earlier run"
inst_stop TERM
vr_check "clean again after SIGTERM" vr_eq "$(inst_owned)$(in_rtr nft list tables)" ""

# ---- a foreign rule at a conflicting priority: start fails, nothing changes
in_rtr ip rule add priority 10001 fwmark 0x77 lookup 77
before=$(inst_snapshot)
inst_log_rotate
vr_check "start with a foreign rule at priority 10001 fails" inst_start_fails "$VR_TMP/a.conf"
vr_check "the error names the priority and the fix" \
    vr_wait_log "rule priority 10001 is already used by a rule vrouterd did not install"
vr_check "the kernel state is unchanged" vr_eq "$(inst_snapshot)" "$before"
in_rtr ip rule del priority 10001

# ---- a foreign nft table with our name: start fails, policy-routing rolled back
in_rtr nft add table inet vrouter
before=$(inst_snapshot)
inst_log_rotate
vr_check "start with a foreign table inet vrouter fails" inst_start_fails "$VR_TMP/a.conf"
vr_check "the error says the table is not ours" vr_wait_log "table inet vrouter exists and was not created by vrouterd"
vr_check "the kernel state is unchanged (rules rolled back)" vr_eq "$(inst_snapshot)" "$before"
in_rtr nft delete table inet vrouter

# ---- capture_local: the router's own curl is proxied, without a loop
inst_log_rotate
inst_start "$VR_TMP/local.conf" || { vr_finish; exit 1; }
loc=$(in_rtr curl -s --max-time 5 --interface 198.18.1.1 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "capture_local: the router's own curl reaches the server" vr_eq "$loc" "198.19.2.1"
vr_check "capture_local: it went through vrouterd" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.1:[0-9]+ -> 198\.19\.2\.2:80 .*end="
nconn=$(grep -c "conn [0-9]* tp .* -> 198\.19\.2\.2:80 " "$VR_TMP/vrouterd.log")
vr_check "capture_local: exactly one connection, no loop" vr_eq "$nconn" "1"
w=$(in_rtr $UT whoami 198.19.2.2 7001 --src 198.18.1.1)
vr_check "capture_local: the router's own UDP goes through vrouterd and back ($w)" \
    vr_eq "$w" "198.19.2.1 $(cut -d' ' -f2 <<<"$w") from 198.19.2.2 7001"
inst_stop TERM
vr_check "capture_local: clean after SIGTERM" vr_eq "$(inst_owned)$(in_rtr nft list tables)" ""

# ---- the nftables mark differs from policy-routing's tproxy.mark: marked
# packets have no route to the listener; the nftables installer says so
# (with the properly matched config A it said nothing)
vr_check "config A: no warning about an unrouted mark" \
    bash -c "! grep -q 'policy rule routes fwmark' '$VR_TMP/vrouterd.all.log'"
sed 's/listener = "tp"; mark = 0x1;/listener = "tp"; mark = 0x2;/' "$VR_TMP/a.conf" >"$VR_TMP/mark.conf"
inst_start "$VR_TMP/mark.conf" || { vr_finish; exit 1; }
vr_check "nftables mark 0x2 with tproxy.mark 0x1: the installer warns (IPv4)" \
    vr_wait_log "\[nftables\] no IPv4 policy rule routes fwmark 0x2: packets table inet vrouter marks are forwarded, not proxied"
vr_check "... and for IPv6" vr_wait_log "\[nftables\] no IPv6 policy rule routes fwmark 0x2"
inst_stop TERM

# ---- vrouter-check: reports what the host lacks, --fix applies sysctls
CHECK_BIN=${VR_BUILD}/tools/vrouter-check
sed -e 's/bypass_mark = 0xff;/bypass_mark = 0xff; max_connections = 1000;/' \
    -e 's/network = \["tcp", "udp"\];/network = ["tcp", "udp"]; udp = { max_sessions = 1024; };/' \
    -e "s/port = $PORT;/port = 40000;/" "$VR_TMP/a.conf" >"$VR_TMP/check.conf"
in_rtr sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.rc.rp_filter=1
out=$(in_rtr "$CHECK_BIN" -f "$VR_TMP/check.conf"); rc=$?
vr_check "vrouter-check: not ready -> exit 1" vr_eq "$rc" "1"
vr_check "vrouter-check: reports ip_forward" inst_has "$out" "MISSING  net.ipv4.ip_forward = 1"
vr_check "vrouter-check: reports strict rp_filter on rc" inst_has "$out" "MISSING  rp_filter on rc is not strict"
vr_check "vrouter-check: reports the unreserved listener port" \
    inst_has "$out" "MISSING  listener port 40000 cannot be taken by an outgoing socket"
vr_check "vrouter-check: kernel features present" inst_has "$out" "ok       nftables with tproxy, socket and fib"
out=$(in_rtr "$CHECK_BIN" --fix -f "$VR_TMP/check.conf"); rc=$?
vr_check "vrouter-check --fix: ready afterwards" vr_eq "$rc" "0"
[ "$rc" -eq 0 ] || echo "$out" >&2
vr_check "vrouter-check --fix: ip_forward set" vr_eq "$(in_rtr sysctl -n net.ipv4.ip_forward)" "1"
vr_check "vrouter-check --fix: rp_filter on rc loose" vr_eq "$(in_rtr sysctl -n net.ipv4.conf.rc.rp_filter)" "2"
vr_check "vrouter-check --fix: port 40000 reserved" \
    vr_eq "$(in_rtr sysctl -n net.ipv4.ip_local_reserved_ports)" "40000"
out=$(in_rtr "$CHECK_BIN" -f "$VR_TMP/a.conf")
# 2 x 65536 sockets + 2 x 1024 spare pipes + 20480 UDP files + 256 for the daemon itself
vr_check "vrouter-check: the open-file estimate counts the UDP listener (16384 sessions + 4096 reply sockets)" \
    inst_has "$out" "max_connections=65536 and 20480 UDP files (needs about 153856)"
vr_check "vrouter-check left no rule or table behind" vr_eq "$(inst_owned)$(in_rtr nft list tables)" ""

vr_finish
