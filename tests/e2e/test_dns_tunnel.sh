#!/bin/bash
# Issue 16: a DNS upstream reached through a tunnel. The dns rules send one
# suffix to an upstream whose `outbound` is a wireguard-bind outbound over a
# real wireguard-go tunnel, the rest to an upstream through direct. dnsmasq,
# the upstream, logs the source of each query: tunnel queries come from the
# tunnel's address (198.18.201.2), the others from the router's LAN side
# (198.19.2.1). UDP and TCP upstreams both, with 2 workers and with 1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/outb_lib.sh"

vr_topo_up || exit 1
in_srv ip addr add 198.19.2.11/24 dev s0
outb_wg_tunnel 1 || { vr_finish; exit 1; }
vr_bg "$NS_SRV" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --port=53 \
    --listen-address=198.19.2.11 --listen-address=198.19.2.2 --bind-interfaces --user=root --pid-file= \
    --host-record=www.corp.example,198.51.100.77 --host-record=www.lan.example,198.51.100.88 --local-ttl=60 \
    --local=/example/ --log-queries --log-facility="$VR_TMP/dnsmasq.log"
vr_wait_port "$NS_SRV" 198.19.2.11 53 || exit 1

cat >"$VR_TMP/t.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "debug"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = 7893; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "wg1"; module = "wireguard-bind"; interface = "wg1"; }
);
dns = {
  listen = ["198.18.1.1:53"];
  upstreams = (
    { tag = "lan"; address = "udp://198.19.2.2:53"; outbound = "direct"; },
    { tag = "tun"; address = "udp://198.19.2.11:53"; outbound = "wg1"; },
    { tag = "tuntcp"; address = "tcp://198.19.2.11:53"; outbound = "wg1"; }
  );
  rules = (
    { domain_suffix = ["corp.example"]; query_type = ["A"]; upstream = "tun"; },
    { domain_suffix = ["corp.example"]; upstream = "tuntcp"; }
  );
  final = "lan";
  cache = { size = 0; };
};
CONF
vr_daemon_start "$VR_TMP/t.conf" || { vr_finish; exit 1; }

q() { in_cli dig +time=3 +tries=1 @198.18.1.1 "$@"; }
vr_check "a tunnel name resolves (UDP upstream through wireguard-bind)" \
    vr_eq "$(q www.corp.example A +short)" "198.51.100.77"
vr_check "... dnsmasq saw the query from the tunnel's address" \
    grep -q "query\[A\] www.corp.example from 198.18.201.2" "$VR_TMP/dnsmasq.log"
q www.corp.example AAAA >/dev/null
vr_check "a TCP upstream through the tunnel" grep -q "query\[AAAA\] www.corp.example from 198.18.201.2" "$VR_TMP/dnsmasq.log"
vr_check "... answered" vr_wait_log "www.corp.example AAAA rule=dns rule #2 from=tuntcp NOERROR"
vr_check "another name goes through direct" vr_eq "$(q www.lan.example A +short)" "198.51.100.88"
vr_check "... from the router's LAN side" grep -q "query\[A\] www.lan.example from 198.19.2.1" "$VR_TMP/dnsmasq.log"
vr_check "no tunnel name left through direct" bash -c '! grep -q "corp.example from 198.19.2.1" "$0"' "$VR_TMP/dnsmasq.log"

kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
vr_check "clean exit" vr_eq "$?" "0"
vr_finish
