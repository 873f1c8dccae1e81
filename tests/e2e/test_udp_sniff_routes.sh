#!/bin/bash
# Issue 11 (6): a UDP session remembers the route of at most 64 remotes
# (VR_UDP_MAX_ROUTES); a datagram to a remote past those is routed by its
# address alone, so it is not sniffed. Below the cap a new remote of the
# session is still routed with what the datagram sniffers make of it.
source "$(dirname "$0")/lib.sh"

PORT=7893
BASE=21000 # the server's ports BASE .. BASE+65, one remote each
vr_topo_up || exit 1
vr_tproxy_capture $PORT
# Answers every datagram with the source address it saw (direct: 198.19.2.1,
# wan-b: 198.19.2.3). Bounded: exits after 60 s. (-c: a background job's
# stdin is /dev/null, so no heredoc.)
vr_bg "$NS_SRV" python3 -c '
import select, socket, sys, time
base = int(sys.argv[1])
socks = []
for p in range(base, base + 66):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.19.2.2", p))
    socks.append(s)
end = time.time() + 60
while time.time() < end:
    r, _, _ = select.select(socks, [], [], 1)
    for s in r:
        data, src = s.recvfrom(2048)
        s.sendto(src[0].encode(), src)
' "$BASE"
cat >"$VR_TMP/u.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["udp"];
                sniff = ["dns"]; udp = { nat = "endpoint-independent"; idle_timeout_s = 30; }; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "wan-b"; module = "direct"; bind_address = ["198.19.2.3"]; }
);
route = { rules = ( { domain_suffix = "b.example"; protocol = "dns"; outbound = "wan-b"; } ); final = "direct"; };
CONF
vr_daemon_start "$VR_TMP/u.conf" || { vr_finish; exit 1; }
vr_wait_udp() { in_srv ss -uln | grep -q ":$((BASE + 65)) "; }
for _ in $(seq 50); do vr_wait_udp && break; sleep 0.1; done

# From one client port: a DNS query for www.b.example to remote 1 (first
# datagram, held and sniffed), plain datagrams to remotes 2..63, a query to
# remote 64 (the 64th route: sniffed), then a query to remote 65 (past the
# cap: by address). Prints "<remote index> <address the server saw>".
out=$(in_cli python3 - "$BASE" <<'PY'
import socket, struct, sys
base = int(sys.argv[1])
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l for l in (b"www", b"b", b"example")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for i in range(1, 66):
    s.sendto(q if i in (1, 64, 65) else b"plain", ("198.19.2.2", base + i - 1))
    try:
        data, _ = s.recvfrom(2048)
        print(i, data.decode())
    except socket.timeout:
        print(i, "none")
PY
)
seen() { awk -v i="$1" '$1 == i { print $2 }' <<<"$out"; }
vr_check "the first datagram, a query for www.b.example, goes through wan-b" vr_eq "$(seen 1)" "198.19.2.3"
vr_check "a plain datagram to a new remote goes to final" vr_eq "$(seen 2)" "198.19.2.1"
vr_check "a query to the 64th remote is still sniffed: wan-b" vr_eq "$(seen 64)" "198.19.2.3"
vr_check "a query to the 65th remote, past the remembered routes, is routed by address: direct" \
    vr_eq "$(seen 65)" "198.19.2.1"
vr_check "all 65 remotes answered" vr_eq "$(grep -vc none <<<"$out")" "65"
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
vr_check "vrouterd exits 0" vr_eq "$?" "0"
vr_finish
