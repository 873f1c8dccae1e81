#!/bin/bash
# Issue 11 end to end: send_domain = "verified" on socks5. The daemon's
# resolver is dnsmasq in the router namespace (a private /etc/resolv.conf
# for the daemon only). A sniffed name is sent (ATYP 3) only when the
# flow's original destination is among its addresses; a forged Host that
# resolves elsewhere, or does not resolve, is sent as the address (ATYP 1),
# with a log line and a counter. send_domain = true keeps sending the
# sniffed name as it is (the documented risk).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/outb_lib.sh"

PORT=7893
HS="python3 $VR_SRC/tests/e2e/s5_hostile.py"
vr_topo_up || exit 1
vr_tproxy_capture $PORT

# the gateway's resolver: names under vr-test.example only, nothing forwarded
in_rtr dnsmasq --keep-in-foreground --no-resolv --no-hosts --user=root --pid-file= \
    --listen-address=127.0.0.1 --bind-interfaces --port=53 --local=/vr-test.example/ \
    --address=/good.vr-test.example/198.19.2.21 --address=/other.vr-test.example/198.19.2.99 \
    --server=/mute.vr-test.example/198.19.2.250 \
    --log-queries --log-facility="$VR_TMP/dnsmasq.log" &
VR_PIDS+=($!)
# the daemon alone sees it as its resolver (and /etc/hosts without test names)
mkdir -p "$VR_TMP/etc"
echo "nameserver 127.0.0.1" >"$VR_TMP/etc/resolv.conf"
printf '127.0.0.1 localhost\n' >"$VR_TMP/etc/hosts"
REAL_BIN=$VR_BIN
VR_BIN=$VR_TMP/vrouterd-private-resolver
cat >"$VR_BIN" <<WRAP
#!/bin/sh
exec unshare -m sh -c 'mount --bind "\$0/resolv.conf" /etc/resolv.conf &&
    mount --bind "\$0/hosts" /etc/hosts && exec "\$@"' "$VR_TMP/etc" "$REAL_BIN" "\$@"
WRAP
chmod +x "$VR_BIN"

vr_bg "$NS_SRV" $HS server 198.19.2.2 1092 --log "$VR_TMP/socks.log"
outb_wait_port "$NS_SRV" 198.19.2.2 1092 || exit 1
for i in $(seq 1 50); do in_rtr dig +short +time=1 +tries=1 @127.0.0.1 good.vr-test.example 2>/dev/null | grep -q . && break; sleep 0.1; done

cat >"$VR_TMP/v.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT;
                sniff = ["http"]; sniff_timeout_ms = 300; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "verified"; module = "socks5"; server = "198.19.2.2"; port = 1092; send_domain = "verified";
    verify_timeout_ms = 700; },
  { tag = "always"; module = "socks5"; server = "198.19.2.2"; port = 1092; send_domain = true; }
);
route = { rules = (
    { ip_cidr = ["198.19.2.21/32", "198.19.2.22/32"]; outbound = "verified"; },
    { ip_cidr = "198.19.2.23/32"; outbound = "always"; }
  ); final = "direct"; };
CONF
"$REAL_BIN" -t -f "$VR_TMP/v.conf" >"$VR_TMP/check.out" 2>&1
vr_check "send_domain = \"verified\" validates" vr_eq "$?" "0"
sed 's/send_domain = "verified"/send_domain = "sometimes"/' "$VR_TMP/v.conf" >"$VR_TMP/bad.conf"
"$REAL_BIN" -t -f "$VR_TMP/bad.conf" >"$VR_TMP/bad.out" 2>&1
vr_check "send_domain = \"sometimes\" is refused, naming the file, line and choices" \
    grep -qE "bad\.conf:[0-9]+: .*send_domain: \"sometimes\" is not a choice: expected true, false or \"verified\"" "$VR_TMP/bad.out"
vr_daemon_start "$VR_TMP/v.conf" || { vr_finish; exit 1; }

ask() { # $1 name, $2 destination address: one HTTP request with that Host
    in_cli curl -s -o /dev/null --max-time 3 --resolve "$1:80:$2" "http://$1/" ; true
}
seen() { outb_wait_file "$VR_TMP/socks.log" "^connect atyp=$1 $2$"; }

ask good.vr-test.example 198.19.2.21
vr_check "a name that resolves to the destination is sent as a name (ATYP 3)" seen 3 "good\.vr-test\.example:80"
vr_check "... the daemon asked its resolver (dnsmasq)" \
    outb_wait_file "$VR_TMP/dnsmasq.log" "query\[A\] good\.vr-test\.example from 127\.0\.0\.1"
ask good.vr-test.example 198.19.2.22
vr_check "a forged Host that resolves elsewhere is sent as the destination's address (ATYP 1)" \
    seen 1 "198\.19\.2\.22:80"
vr_check "... logged, naming the name and the destination" \
    vr_wait_log "send_domain verified: not sending \"good\.vr-test\.example\" for destination 198\.19\.2\.22: its addresses do not include the destination; sending the address"
ask nowhere.vr-test.example 198.19.2.21
vr_check "a name that does not resolve is sent as the address" seen 1 "198\.19\.2\.21:80"
vr_check "... logged with the resolver's answer" \
    vr_wait_log "not sending \"nowhere\.vr-test\.example\" for destination 198\.19\.2\.21: it does not resolve"
# a resolver that never answers: dnsmasq forwards this zone to an address
# where nothing listens (its queries go unanswered, nothing is refused)
in_srv nft -f - <<NFT || vr_log "nft: cannot load the drop rule for the mute resolver"
table inet mute { chain input { type filter hook input priority 0; ip daddr 198.19.2.250 drop; } }
NFT
in_srv ip addr add 198.19.2.250/24 dev s0
t0=$(date +%s%N)
ask www.mute.vr-test.example 198.19.2.22
t1=$(date +%s%N)
vr_check "a name the resolver never answers is sent as the address once verify_timeout_ms passes" \
    seen 1 "198\.19\.2\.22:80"
vr_check "... logged as a timeout" \
    vr_wait_log "not sending \"www\.mute\.vr-test\.example\" for destination 198\.19\.2\.22: no answer from the resolver within 700 ms"
vr_check "... the flow waited for the timeout, not for the resolver's own (5 s): $(( (t1 - t0) / 1000000 )) ms" \
    bash -c "[ $(( (t1 - t0) / 1000000 )) -lt 3000 ]"
ask good.vr-test.example 198.19.2.23
vr_check "send_domain = true still sends the sniffed name whatever it resolves to" \
    bash -c "[ \$(grep -c '^connect atyp=3 good\.vr-test\.example:80$' '$VR_TMP/socks.log') = 2 ]"
kill -USR1 "$VR_DAEMON_PID"
vr_check "counters: one name verified" vr_wait_log "stats: \[socks5/verified\] domain_verified=1$"
vr_check "counters: three names not verified" vr_wait_log "stats: \[socks5/verified\] domain_unverified=3$"

vr_check "the daemon is alive" outb_alive
kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
vr_check "SIGTERM: exits 0 (no leak under ASan)" vr_eq "$?" "0"
vr_finish
