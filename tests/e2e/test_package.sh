#!/bin/bash
# Issue 14, packages: build vrouterd and vrouterd-dev with `./run.sh package`
# into a temporary build dir, lintian them (no errors), install them with
# dpkg -i, verify the installed unit, and run the INSTALLED daemon the way
# the unit does: its ExecStart line, as its User=/Group= with only its
# AmbientCapabilities= (setpriv stands in for systemd, which is not PID 1
# here), in namespaces. TCP and UDP pass through TPROXY; the unit's
# ExecReload reloads (and fails on a broken config, keeping the daemon);
# /proc/PID/status shows exactly CAP_NET_ADMIN CAP_NET_RAW
# CAP_NET_BIND_SERVICE. The example module builds against the installed SDK
# with its Makefile (pkg-config) and its CMakeLists.txt (find_package) and
# carries a real flow in the installed daemon. Then dpkg -r / --purge leave
# nothing behind. The packages are purged on every exit path.
source "$(dirname "$0")/lib.sh"

UNIT=/lib/systemd/system/vrouterd.service
CONF=/etc/vrouter/vrouter.conf
PORT=7893
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
PKG_INSTALLED=0
RUNDIR_MADE=0

pkg_cleanup() {
    if [ "$PKG_INSTALLED" = 1 ]; then
        dpkg --purge vrouterd-dev vrouterd >/dev/null 2>&1 || echo "cleanup: dpkg --purge failed" >&2
    fi
    if [ "$RUNDIR_MADE" = 1 ]; then rm -rf /run/vrouterd; fi
}
# The daemon first (vr_cleanup), then the packages.
trap 'vr_cleanup; pkg_cleanup' EXIT

# Never purge somebody's real installation or user.
if dpkg -s vrouterd >/dev/null 2>&1 || dpkg -s vrouterd-dev >/dev/null 2>&1 || getent passwd vrouterd >/dev/null; then
    vr_log "vrouterd (package or user) is already on this machine; this test installs and purges it: not run"
    VR_FAIL=1
    vr_finish
    exit 1
fi
for tool in lintian systemd-analyze setpriv cpack; do
    command -v "$tool" >/dev/null || { vr_log "missing $tool (./run.sh setup installs it)"; VR_FAIL=1; vr_finish; exit 1; }
done

# ---- build the packages: the documented one-liner, a Release build of its own
DEB=$VR_TMP/deb
bash "$VR_SRC/run.sh" package "$DEB" >"$VR_TMP/package.log" 2>&1
vr_check "./run.sh package builds both packages" \
    test -f "$DEB/vrouterd_0.1.0-1_amd64.deb" -a -f "$DEB/vrouterd-dev_0.1.0-1_amd64.deb"
if [ "$VR_FAIL" -gt 0 ]; then tail -30 "$VR_TMP/package.log"; vr_finish; exit 1; fi
lintian --fail-on error "$DEB"/vrouterd_*.deb "$DEB"/vrouterd-dev_*.deb >"$VR_TMP/lintian.log" 2>&1
lint_rc=$?
vr_check "lintian reports no errors on either package ($(grep -c '^E:' "$VR_TMP/lintian.log") E: lines)" \
    vr_eq "$lint_rc:$(grep -c '^E:' "$VR_TMP/lintian.log")" "0:0"
vr_check "the conffile is declared" vr_eq "$(dpkg-deb -f "$DEB"/vrouterd_*.deb Package) $(dpkg-deb -I "$DEB"/vrouterd_*.deb conffiles)" \
    "vrouterd /etc/vrouter/vrouter.conf"

# ---- install
PKG_INSTALLED=1
dpkg -i "$DEB"/vrouterd_*.deb "$DEB"/vrouterd-dev_*.deb >"$VR_TMP/dpkg-i.log" 2>&1
vr_check "dpkg -i installs both" vr_eq "$(dpkg-query -W -f='${Status} ' vrouterd vrouterd-dev)" \
    "install ok installed install ok installed "
vr_check "postinst created the system user and group vrouterd" \
    bash -c '[ "$(id -u vrouterd)" -lt 1000 ] && [ "$(id -gn vrouterd)" = vrouterd ] && [ "$(getent passwd vrouterd | cut -d: -f7)" = /usr/sbin/nologin ]'
vr_check "/etc/vrouter is root:vrouterd 0750, the config root:vrouterd 0640" \
    vr_eq "$(stat -c '%U:%G %a' /etc/vrouter) $(stat -c '%U:%G %a' $CONF)" "root:vrouterd 750 root:vrouterd 640"
vr_check "the service is neither enabled nor started by the install" \
    bash -c '! ls /etc/systemd/system/*.wants/vrouterd.service >/dev/null 2>&1 && ! pgrep -u vrouterd >/dev/null'
vr_check "the installed default config is valid (vrouterd -t)" /usr/sbin/vrouterd -t -f $CONF
uid_before=$(id -u vrouterd)
echo "# an admin's line" >>$CONF
dpkg -i "$DEB"/vrouterd_*.deb >"$VR_TMP/dpkg-reinstall.log" 2>&1
vr_check "a reinstall (postinst again) succeeds, keeps the user, the admin's config and its mode" \
    bash -c '[ "$(id -u vrouterd)" = "$1" ] && tail -1 "$2" | grep -q "an admin" && [ "$(stat -c "%U:%G %a" "$2")" = "root:vrouterd 640" ]' \
    _ "$uid_before" $CONF
for page in vrouterd.8 vrouter.conf.5 vrouterctl.1 vrouter-check.1; do
    vr_check "man page $page is installed and renders" \
        bash -c "man -l /usr/share/man/man${page##*.}/$page.gz 2>&1 >/dev/null | grep -q . && exit 1; man -l /usr/share/man/man${page##*.}/$page.gz | grep -q ."
done

# ---- the unit
verify=$(systemd-analyze verify $UNIT 2>&1)
vr_check "systemd-analyze verify passes on the installed unit, silently (${verify:-no output})" \
    bash -c "systemd-analyze verify $UNIT >/dev/null 2>&1 && [ -z \"\$1\" ]" _ "$verify"
score=$(systemd-analyze security --offline=true $UNIT 2>/dev/null | sed -n 's/.*Overall exposure level for vrouterd.service: \([0-9.]*\).*/\1/p')
vr_check "systemd-analyze security: exposure $score (at most 2.5)" python3 -c "import sys; sys.exit(not float('${score:-99}') <= 2.5)"
unit_val() { sed -n "s/^$1=//p" $UNIT | tail -1; }
exec_start=$(unit_val ExecStart)
exec_reload=$(unit_val ExecReload)
vr_check "ExecStart runs the packaged daemon on the packaged config ($exec_start)" vr_eq "$exec_start" "/usr/sbin/vrouterd -f $CONF"
vr_check "Type=notify, User=/Group=vrouterd" vr_eq "$(unit_val Type) $(unit_val User) $(unit_val Group)" "notify vrouterd vrouterd"
caps=$(unit_val AmbientCapabilities)
vr_check "AmbientCapabilities= and CapabilityBoundingSet= are the three network capabilities" \
    vr_eq "$caps|$(unit_val CapabilityBoundingSet)" "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE|CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE"
# setpriv's list from the unit's: CAP_NET_ADMIN -> +net_admin
setpriv_caps="-all$(for c in $caps; do c=${c#CAP_}; printf ',+%s' "${c,,}"; done)"
# systemd runs every Exec line as User=/Group= with the ambient set; no "+"
# (full privileges) prefix is allowed here.
as_service() {
    setpriv --reuid "$(unit_val User)" --regid "$(unit_val Group)" --init-groups \
        --inh-caps="$setpriv_caps" --ambient-caps="$setpriv_caps" --bounding-set="$setpriv_caps" \
        --no-new-privs "$@"
}
read -ra start_cmd <<<"$exec_start"
read -ra reload_cmd <<<"$exec_reload"
vr_check "no Exec line asks for privileges (+, !)" bash -c "! grep -E '^Exec[A-Za-z]*=[-@:]*[+!]' $UNIT"

# RuntimeDirectory=vrouterd (RuntimeDirectoryMode=0750), as systemd makes it.
if [ ! -e /run/vrouterd ]; then
    install -d -m 0750 -o vrouterd -g vrouterd /run/vrouterd
    RUNDIR_MADE=1
fi
# LimitNOFILE=: as high as this machine's hard limit lets root raise it.
ulimit -n "$(ulimit -Hn)"

# Start the unit's ExecStart in the router namespace, as the service would.
service_start() {
    local log=$VR_TMP/vrouterd.log pidf=$VR_TMP/vrouterd.pid i
    rm -f "$pidf"
    in_rtr sh -c 'echo $$ >"$0"; exec "$@"' "$pidf" setpriv --reuid "$(unit_val User)" --regid "$(unit_val Group)" \
        --init-groups --inh-caps="$setpriv_caps" --ambient-caps="$setpriv_caps" --bounding-set="$setpriv_caps" \
        --no-new-privs "${start_cmd[@]}" >>"$log" 2>&1 &
    VR_DAEMON_WRAPPER=$!
    for i in $(seq 1 100); do [ -s "$pidf" ] && break; sleep 0.02; done
    VR_DAEMON_PID=$(cat "$pidf" 2>/dev/null)
    for i in $(seq 1 200); do
        grep -q "vrouterd ready" "$log" 2>/dev/null && return 0
        kill -0 "$VR_DAEMON_PID" 2>/dev/null || { cat "$log" >&2; VR_DAEMON_PID=; return 1; }
        sleep 0.05
    done
    cat "$log" >&2; return 1
}
service_reload() { as_service "${reload_cmd[@]}" >>"$VR_TMP/reload.log" 2>&1; }
service_stop() { kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait; }
# The installed conffile, replaced by the test's config (kept 0640 root:vrouterd).
put_conf() { install -m 0640 -o root -g vrouterd /dev/stdin $CONF; }
cp -p $CONF "$VR_TMP/conffile.orig"

vr_topo_up || { vr_finish; exit 1; }
# Capture comes from the installer modules, applied by the daemon as the
# service user (a real gateway config), until the example-module phase.
vr_http_server || { vr_finish; exit 1; }
UT="python3 $VR_SRC/tests/e2e/udp_tool.py"
vr_bg "$NS_SRV" $UT server --port 7001
sleep 0.3

# The packaged default config starts as the service and reloads through ExecReload.
service_start
vr_check "the installed default config starts the service (loopback listener, control socket)" test -n "$VR_DAEMON_PID"
vr_check "... and ExecReload reloads it (control group vrouterd lets the service user in)" service_reload
if [ -n "$VR_DAEMON_PID" ]; then service_stop; fi
: >"$VR_TMP/vrouterd.log"

conf_packaged_modules() { # $1 = final outbound
    cat <<CONF
daemon = { log_level = "info";
  control = { path = "/run/vrouterd/control.sock"; mode = 0660; group = "vrouterd"; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"]; sniff = ["http"]; } );
outbounds = ( { tag = "direct"; module = "direct"; },
              { tag = "wan-b"; module = "direct"; bind_address = ["198.19.2.3", "2001:db8:2::3"]; } );
route = { final = "$1"; };
installers = (
  { module = "policy-routing"; tproxy = { mark = 0x1; table = 100; priority = 10000; }; },
  { module = "nftables"; table = "vrouter"; listener = "tp"; mark = 0x1; interfaces = ["rc"]; }
);
CONF
}
conf_packaged_modules direct | put_conf
vr_check "the test config is valid for the installed daemon" /usr/sbin/vrouterd -t -f $CONF
service_start
vr_check "the installed daemon starts from ExecStart as vrouterd with three capabilities" test -n "$VR_DAEMON_PID"
if [ -z "$VR_DAEMON_PID" ]; then vr_finish; exit 1; fi

st=/proc/$VR_DAEMON_PID/status
vr_check "it runs as uid vrouterd (real, effective, saved, fs)" \
    vr_eq "$(awk '/^Uid:/ {print $2, $3, $4, $5}' $st)" "$(id -u vrouterd) $(id -u vrouterd) $(id -u vrouterd) $(id -u vrouterd)"
vr_check "... and gid vrouterd" vr_eq "$(awk '/^Gid:/ {print $2, $3}' $st)" "$(id -g vrouterd) $(id -g vrouterd)"
vr_check "CapEff CapPrm CapAmb CapBnd are exactly 0x3400 (NET_BIND_SERVICE, NET_ADMIN, NET_RAW)" \
    vr_eq "$(awk '/^Cap(Eff|Prm|Amb|Bnd):/ {printf "%s=%s ", $1, $2}' $st)" \
    "CapPrm:=0000000000003400 CapEff:=0000000000003400 CapBnd:=0000000000003400 CapAmb:=0000000000003400 "
vr_check "NoNewPrivs is set" vr_eq "$(awk '/^NoNewPrivs:/ {print $2}' $st)" "1"
vr_check "the installers applied the capture as the service user (nft table, policy rule)" \
    bash -c 'in_rtr() { ip netns exec "$1" "${@:2}"; }; in_rtr "$1" nft list table inet vrouter >/dev/null && in_rtr "$1" ip rule | grep -q "fwmark 0x1 lookup 100"' _ "$NS_RTR"

# ---- TCP and UDP through TPROXY
ip4=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "TCP over IPv4 passes (the server sees the gateway)" vr_eq "$ip4" "198.19.2.1"
ip6=$(in_cli curl -s --max-time 5 "http://[2001:db8:2::2]/ip" | cut -d' ' -f1)
vr_check "TCP over IPv6 passes" vr_eq "$ip6" "2001:db8:2::1"
N=$((8 * 1024 * 1024))
got=$(in_cli curl -s --max-time 30 http://198.19.2.2/blob/$N | sha256sum | cut -d' ' -f1)
vr_check "an 8 MiB download arrives byte-exact" vr_eq "$got" "$(vr_blob_sha256 $N)"
vr_check "the flow is logged with its original destination" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:80 .*outbound=direct"
w=$(in_cli $UT whoami 198.19.2.2 7001)
vr_check "UDP over IPv4 passes, the reply from the original destination ($w)" \
    vr_eq "$(echo "$w" | cut -d' ' -f1,3-)" "198.19.2.1 from 198.19.2.2 7001"
e6=$(in_cli $UT echo 2001:db8:2::2 7001 --count 200 --size 1200 --rate 500)
vr_check "UDP over IPv6: 200 datagrams echoed ($e6)" vr_eq "$e6" "sent 200 received 200 bad 0"

# ---- reload through the unit's ExecReload
conf_packaged_modules wan-b | put_conf
vr_check "ExecReload ($exec_reload) succeeds as the service user" service_reload
vr_check "... synchronously: the new generation is active when it returns" grep -q "reload: generation 2 active" "$VR_TMP/vrouterd.log"
after=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "after the reload a new flow follows the new config (wan-b)" vr_eq "$after" "198.19.2.3"
echo 'route = { final = "nowhere"; ' | put_conf
as_service "${reload_cmd[@]}" >"$VR_TMP/reload-bad.log" 2>&1
vr_check "ExecReload fails the job on a broken config" vr_eq "$?" "1"
vr_check "... naming FILE:LINE ($(head -c 200 "$VR_TMP/reload-bad.log" | tr '\n' ' '))" grep -q "$CONF:[0-9]" "$VR_TMP/reload-bad.log"
vr_check "... and the daemon keeps running its generation" \
    bash -c 'kill -0 "$1" && [ "$(ip netns exec "$2" curl -s --max-time 5 http://198.19.2.2/ip | cut -d" " -f1)" = 198.19.2.3 ]' _ "$VR_DAEMON_PID" "$NS_CLI"

# ---- the example module, built out of tree against the installed vrouterd-dev
EXAMPLE=/usr/share/doc/vrouterd-dev/examples/outbound-hello
# The daemon (as vrouterd) must reach the module dirs below VR_TMP.
chmod 0711 "$VR_TMP"
cp -r $EXAMPLE "$VR_TMP/ex-make"
cp -r $EXAMPLE "$VR_TMP/ex-cmake"
vr_check "pkg-config's moduledir is a clean path" \
    vr_eq "$(pkg-config --variable=moduledir vrouter-plugin)" "/usr/lib/$MULTIARCH/vrouter/modules"
vr_check "pkg-config --libs says how a module links" vr_eq "$(pkg-config --libs vrouter-plugin | xargs)" "-shared"
(cd "$VR_TMP/ex-make" && make CFLAGS="-O2 -Werror") >"$VR_TMP/ex-make.log" 2>&1
vr_check "the example builds with its Makefile (pkg-config)" test -f "$VR_TMP/ex-make/hello.so"
(cd "$VR_TMP/ex-cmake" && cmake -S . -B build -DCMAKE_C_FLAGS=-Werror && cmake --build build) >"$VR_TMP/ex-cmake.log" 2>&1
vr_check "the example builds with its CMakeLists.txt (find_package(VrouterPlugin))" test -f "$VR_TMP/ex-cmake/build/hello.so"
vr_check "... finding the installed package config" \
    grep -q "^VrouterPlugin_DIR:PATH=/usr/lib/$MULTIARCH/cmake/VrouterPlugin$" "$VR_TMP/ex-cmake/build/CMakeCache.txt"
# README's form: include(VrouterPlugin) works once find_package has found the SDK.
mkdir -p "$VR_TMP/ex-include"
cp "$VR_TMP/ex-cmake/hello.c" "$VR_TMP/ex-include/"
printf '%s\n' 'cmake_minimum_required(VERSION 3.16)' 'project(inc C)' 'find_package(VrouterPlugin REQUIRED)' \
    'include(VrouterPlugin)' 'vrouter_add_module(hello SOURCES hello.c)' >"$VR_TMP/ex-include/CMakeLists.txt"
(cd "$VR_TMP/ex-include" && cmake -S . -B build && cmake --build build) >"$VR_TMP/ex-include.log" 2>&1
vr_check "include(VrouterPlugin) after find_package builds a module too" test -f "$VR_TMP/ex-include/build/hello.so"
for so in "$VR_TMP/ex-make/hello.so" "$VR_TMP/ex-cmake/build/hello.so"; do
    syms=$(nm -D --defined-only "$so" 2>/dev/null | awk '$2 ~ /[A-Z]/ {print $3}' | tr '\n' ' ')
    vr_check "${so#$VR_TMP/} exports only vr_module ($syms)" vr_eq "$syms" "vr_module "
done
(cd "$VR_TMP/ex-cmake" && cmake --install build --prefix "$VR_TMP/ex-prefix") >>"$VR_TMP/ex-cmake.log" 2>&1
vr_check "cmake --install puts it under the prefix's lib/vrouter/modules (VR_MODULE_INSTALL_DIR default)" \
    test -f "$VR_TMP/ex-prefix/lib/vrouter/modules/hello.so"

conf_hello() { # $1 = module_path (a quoted directory or a list), $2 = more outbounds
    cat <<CONF
daemon = { module_path = $1; log_level = "info";
  control = { path = "/run/vrouterd/control.sock"; mode = 0660; group = "vrouterd"; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp"]; } );
outbounds = ( { tag = "hi"; module = "hello"; greeting = "greetings from out of tree"; timeout_ms = 3000; }${2:-} );
route = { final = "hi"; };
CONF
}
conf_hello "\"$VR_TMP/ex-make\"" | sed 's/timeout_ms = 3000/timeout_ms = 0/' >"$VR_TMP/hello-bad.conf"
out=$(setpriv --reuid vrouterd --regid vrouterd --init-groups /usr/sbin/vrouterd -t -f "$VR_TMP/hello-bad.conf" 2>&1)
vr_check "the example's config errors carry FILE:LINE ($out)" \
    bash -c '[[ "$1" == *"hello-bad.conf:4: "*"timeout_ms"*"out of range"* ]]' _ "$out"
# Makefile build: loaded by a reload of the running daemon.
conf_hello "\"$VR_TMP/ex-make\"" | put_conf
vr_check "ExecReload loads the Makefile-built module" service_reload
vr_check "... and the installers, gone from the config, rolled back as the service user" \
    bash -c '! ip netns exec "$1" nft list table inet vrouter >/dev/null 2>&1 && ! ip netns exec "$1" ip rule | grep -q "lookup 100"' _ "$NS_RTR"
# From here on, capture by hand (module_path is one directory: the example's).
vr_tproxy_capture $PORT
x=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "a TCP flow passes through the pkg-config-built hello" vr_eq "$x" "198.19.2.1"
vr_check "... and hello greeted it and owns its log line" \
    bash -c 'grep -q "greetings from out of tree, flow" "$1" && grep -qE "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:80 .*outbound=hi" "$1"' _ "$VR_TMP/vrouterd.log"
service_stop
vr_check "SIGTERM stops it, exit status 0" vr_eq "$?" "0"

# CMake build: a fresh start of the installed daemon with it, its directory
# a drop-in listed before the packaged one (which supplies `direct`).
conf_hello "[\"$VR_TMP/ex-cmake/build\", \"/usr/lib/$MULTIARCH/vrouter/modules\"]" \
    ', { tag = "d"; module = "direct"; }' | put_conf
: >"$VR_TMP/vrouterd.log"
service_start
vr_check "the installed daemon starts with the find_package-built module from a drop-in directory, direct from the packaged one" test -n "$VR_DAEMON_PID"
N=$((4 * 1024 * 1024))
got=$(in_cli curl -s --max-time 30 "http://[2001:db8:2::2]/blob/$N" | sha256sum | cut -d' ' -f1)
vr_check "a 4 MiB IPv6 download through the CMake-built hello arrives byte-exact" vr_eq "$got" "$(vr_blob_sha256 $N)"
vr_check "... through hello" vr_wait_log "conn [0-9]+ tp \[2001:db8:1::2\]:[0-9]+ -> \[2001:db8:2::2\]:80 .*outbound=hi"
vr_check "still exactly the three capabilities" vr_eq "$(awk '/^CapEff:/ {print $2}' /proc/$VR_DAEMON_PID/status)" "0000000000003400"
service_stop
vr_check "SIGTERM stops it again, exit status 0" vr_eq "$?" "0"

# ---- remove, purge
install -m 0640 -o root -g vrouterd "$VR_TMP/conffile.orig" $CONF
if [ "$RUNDIR_MADE" = 1 ]; then rm -rf /run/vrouterd; RUNDIR_MADE=0; fi
dpkg -r vrouterd-dev vrouterd >"$VR_TMP/dpkg-r.log" 2>&1
vr_check "dpkg -r removes the programs, modules and SDK" \
    bash -c "[ ! -e /usr/sbin/vrouterd ] && [ ! -e /usr/bin/vrouterctl ] && [ ! -e /usr/lib/$MULTIARCH/vrouter ] && [ ! -e /usr/include/vrouter ] && [ ! -e $UNIT ]"
vr_check "... and keeps the conffile and the user until purge" bash -c "[ -f $CONF ] && getent passwd vrouterd >/dev/null"
dpkg --purge vrouterd-dev vrouterd >"$VR_TMP/dpkg-purge.log" 2>&1
PKG_INSTALLED=0
vr_check "dpkg --purge: no /etc/vrouter" test ! -e /etc/vrouter
vr_check "... no /usr/sbin/vrouterd, no unit, no mask left" \
    bash -c "[ ! -e /usr/sbin/vrouterd ] && [ ! -e $UNIT ] && [ ! -L /etc/systemd/system/vrouterd.service ]"
vr_check "... no vrouterd user or group" bash -c '! getent passwd vrouterd && ! getent group vrouterd'
vr_check "... dpkg knows neither package any more" \
    bash -c '! dpkg-query -W -f="\${Status}\n" vrouterd vrouterd-dev 2>/dev/null | grep -q .'
vr_check "... no file of either package left" \
    bash -c "! ls /usr/share/doc/vrouterd /usr/share/doc/vrouterd-dev /usr/share/man/man8/vrouterd.8.gz /var/lib/systemd/deb-systemd-helper-enabled/vrouterd.service.dsh-also >/dev/null 2>&1"
vr_finish
