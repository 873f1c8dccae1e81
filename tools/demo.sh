#!/bin/bash
# A safe demo of vrouterd's main job, entirely inside network namespaces that
# it creates and removes: a client (198.18.1.2) behind a gateway running
# vrouterd reaches a server (198.19.2.2); the gateway's TPROXY rule hands
# every TCP flow and UDP datagram to vrouterd, which routes it by its rules:
# port 8080 and DNS queries for *.b.example (read from the query itself)
# leave through the "wan-b" uplink (source 198.19.2.3), the rest "direct".
# Usage: tools/demo.sh [BUILD_DIR]
BUILD=$(cd "${1:-build}" && pwd)
export VR_BUILD=$BUILD VR_BIN=$BUILD/core/vrouterd VR_MODULE_DIR=$BUILD/modules
source "$(dirname "$0")/../tests/e2e/lib.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building the namespaces: client -> gateway (vrouterd) -> server"
vr_topo_up || exit 1
vr_tproxy_capture 7893
vr_http_server || exit 1
vr_http_server 8080 || exit 1
# a DNS server that answers from its config and logs who asked
vr_bg "$NS_SRV" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --port=53 \
    --listen-address=198.19.2.2,2001:db8:2::2 --bind-interfaces --user=root \
    --address=/a.example/203.0.113.10 --address=/b.example/203.0.113.20 \
    --log-queries --log-facility="$VR_TMP/dnsmasq.log" --pid-file= 2>/dev/null
cat >"$VR_TMP/demo.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; max_connections = 4096; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = 7893;
                network = ["tcp", "udp"]; sniff = ["tls", "http", "dns"];
                udp = { max_sessions = 1024; }; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "wan-b"; module = "direct"; bind_address = ["198.19.2.3", "2001:db8:2::3"]; }
);
route = { rules = (
    { port = 8080; outbound = "wan-b"; },
    { domain_suffix = "b.example"; protocol = "dns"; outbound = "wan-b"; }
  ); final = "direct"; };
CONF
say "the config ($VR_TMP/demo.conf)"
cat "$VR_TMP/demo.conf"
"$VR_BIN" -t -f "$VR_TMP/demo.conf"
say "what the rules say before any traffic (--explain)"
"$VR_BIN" -f "$VR_TMP/demo.conf" --explain "198.19.2.2:8080 from 198.18.1.2:40000"
vr_daemon_start "$VR_TMP/demo.conf" || exit 1

say "client: curl http://198.19.2.2/ip   (the server answers with the source address it sees)"
in_cli curl -s --max-time 5 http://198.19.2.2/ip
say "client: curl http://198.19.2.2:8080/ip   (rule: port 8080 -> wan-b)"
in_cli curl -s --max-time 5 http://198.19.2.2:8080/ip
say "client: curl http://[2001:db8:2::2]:8080/ip   (IPv6, same rule)"
in_cli curl -s --max-time 5 "http://[2001:db8:2::2]:8080/ip"
say "client: dig @198.19.2.2 a.example, then www.b.example   (UDP; rule: DNS for *.b.example -> wan-b)"
in_cli dig +short +tries=1 +time=2 @198.19.2.2 a.example
in_cli dig +short +tries=1 +time=2 @198.19.2.2 www.b.example
sleep 0.3
echo "the DNS server saw:"
grep -E "query\[A\]" "$VR_TMP/dnsmasq.log" | sed 's/.*query/  query/'
say "client: 64 MiB download through the splice relay"
in_cli curl -s --max-time 60 -o /dev/null -w '%{size_download} bytes at %{speed_download} bytes/s\n' \
    http://198.19.2.2/blob/67108864

say "reload with SIGHUP: now everything leaves through wan-b"
sed -i 's/final = "direct"/final = "wan-b"/' "$VR_TMP/demo.conf"
vr_reload
in_cli curl -s --max-time 5 http://198.19.2.2/ip

say "vrouterd's log (one line per connection or UDP session)"
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
cat "$VR_TMP/vrouterd.log"
say "done; the namespaces are removed on exit"
