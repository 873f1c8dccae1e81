#!/bin/bash
# Issue 4 end to end: ecmp over two wireguard-bind members (two real
# WireGuard tunnels). Flows spread by weight, counted at the server; when
# one tunnel goes down new flows all go to the other with none failing
# after the health interval, while a long transfer on the survivor is
# untouched.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/outb_lib.sh"

PORT=7893
vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server 80 || exit 1
outb_wg_tunnel 1 || { vr_finish; exit 1; }
outb_wg_tunnel 2 || { vr_finish; exit 1; }

cat >"$VR_TMP/e.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; control = { path = "$VR_TMP/ctl.sock"; };
           metrics = { address = "127.0.0.1"; port = 9481; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; } );
outbounds = (
  { tag = "wg1"; module = "wireguard-bind"; interface = "wg1"; },
  { tag = "wg2"; module = "wireguard-bind"; interface = "wg2"; },
  { tag = "lb"; module = "ecmp"; members = ["wg1", "wg2"]; weights = [3, 1]; hash = "flow";
    health_check = { target = "198.19.2.2:80"; interval_ms = 500; timeout_ms = 300; fall = 2; rise = 2; }; }
);
route = { rules = (); final = "lb"; };
CONF
"$VR_BIN" -t -f "$VR_TMP/e.conf" >"$VR_TMP/check.out" 2>&1
vr_check "the ecmp config validates" vr_eq "$?" "0"
vr_daemon_start "$VR_TMP/e.conf" || { vr_finish; exit 1; }
sleep 0.5

# spread: 400 flows (different source ports), counted by the address the server saw
: >"$VR_TMP/spread"
for i in $(seq 1 400); do outb_ip http://198.19.2.2/ip >>"$VR_TMP/spread"; done
n1=$(grep -c '^198\.18\.201\.2$' "$VR_TMP/spread")
n2=$(grep -c '^198\.18\.202\.2$' "$VR_TMP/spread")
echo "spread over weights [3,1]: wg1=$n1 wg2=$n2 (expected 300/100)"
vr_check "every flow went through one of the tunnels" vr_eq "$((n1 + n2))" "400"
vr_check "wg1 (weight 3) got 75% +- 7.5% of the flows ($n1/400)" test "$n1" -ge 270 -a "$n1" -le 330

# a long transfer; find the member it runs on, take the OTHER tunnel down
N=$((48 * 1024 * 1024))
want=$(vr_blob_sha256 "$N")
in_cli curl -s --max-time 60 --limit-rate 8M http://198.19.2.2/blob/$N -o "$VR_TMP/long.bin" &
long_pid=$!
peer=
for i in $(seq 1 50); do
    peer=$(in_srv ss -Htn state established '( sport = :80 )' | awk '{print $4}' | grep -oE '198\.18\.20[12]\.2' | head -1)
    [ -n "$peer" ] && break
    sleep 0.1
done
case $peer in
    198.18.201.2) survivor=1 victim=2 ;;
    198.18.202.2) survivor=2 victim=1 ;;
    *) survivor=; victim= ;;
esac
vr_check "the long transfer runs through one tunnel ($peer)" test -n "$survivor"
[ -n "$victim" ] || { vr_finish; exit 1; }

in_rtr ip link set "wg$victim" down
sleep 0.5   # one health interval
: >"$VR_TMP/after"
fails=0
for i in $(seq 1 100); do
    a=$(outb_ip http://198.19.2.2/ip)
    [ -n "$a" ] || fails=$((fails + 1))
    echo "$a" >>"$VR_TMP/after"
done
ns=$(grep -c "^198\.18\.20$survivor\.2$" "$VR_TMP/after")
vr_check "after the interval no new flow fails ($fails failed)" vr_eq "$fails" "0"
vr_check "all 100 new flows went through the surviving tunnel wg$survivor" vr_eq "$ns" "100"
vr_check "ecmp logged or saw the member go down" vr_wait_log "interface wg$victim is down"
# the member's state as ecmp reports it (ABI 1.1 member_health), on the
# control socket and as vrouter_outbound_up{member}
member_state() { # $1 = member: "up|down detail" from vrouterctl outbounds --json
    "$VR_BUILD/tools/vrouterctl" -s "$VR_TMP/ctl.sock" outbounds --json | python3 -c '
import json, sys
for o in json.load(sys.stdin)["outbounds"]:
    for m in o.get("members", []):
        if o["tag"] == "lb" and m["member"] == sys.argv[1]:
            print("up" if m["up"] else "down", m["detail"])' "$1"
}
member_metric() { in_rtr curl -s --max-time 5 http://127.0.0.1:9481/metrics | grep "^vrouter_outbound_up{outbound=\"lb\",member=\"$1\"}" | awk '{print $2}'; }
st=$(member_state "wg$victim")
vr_check "vrouterctl outbounds: lb's member wg$victim is down, with why ($st)" \
    bash -c "grep -qE '^down (outbound wg$victim reports itself unhealthy|probe to 198\.19\.2\.2:80 failed)' <<<'$st'"
st=$(member_state "wg$survivor")
vr_check "... and wg$survivor up, its last probe succeeded ($st)" vr_eq "$st" "up probe to 198.19.2.2:80 succeeded"
vr_check "metrics: vrouter_outbound_up{outbound=\"lb\",member=\"wg$victim\"} is 0, wg$survivor's 1" \
    vr_eq "$(member_metric "wg$victim") $(member_metric "wg$survivor")" "0 1"
wait $long_pid
got=$(sha256sum <"$VR_TMP/long.bin" | cut -d' ' -f1)
vr_check "the long transfer on the survivor completed byte-exact" vr_eq "$got" "$want"

# the tunnel comes back: its flows return (rendezvous: they move back)
in_rtr ip link set "wg$victim" up
sleep 1.5   # rise = 2 probes at 500 ms
: >"$VR_TMP/back"
for i in $(seq 1 100); do outb_ip http://198.19.2.2/ip >>"$VR_TMP/back"; done
nb=$(grep -c "^198\.18\.20$victim\.2$" "$VR_TMP/back")
vr_check "after it comes back, flows go through wg$victim again ($nb/100)" test "$nb" -ge 10
st=$(member_state "wg$victim")
vr_check "... vrouterctl outbounds shows wg$victim up again ($st)" vr_eq "$st" "up probe to 198.19.2.2:80 succeeded"
vr_check "... and its vrouter_outbound_up{member} is 1" vr_eq "$(member_metric "wg$victim")" "1"
vr_check "the daemon survived" outb_alive

vr_finish
