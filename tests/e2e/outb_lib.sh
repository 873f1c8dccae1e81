# Helpers shared by the outbound end-to-end tests (socks5, wireguard-bind,
# ecmp). Source after lib.sh.

# A private /etc/passwd, /etc/shadow and /etc/hosts for SOCKS servers, so a
# test user and test host names exist only inside their mount namespace.
outb_private_etc() {
    mkdir -p "$VR_TMP/etc"
    cp /etc/passwd "$VR_TMP/etc/passwd"
    cp /etc/shadow "$VR_TMP/etc/shadow" 2>/dev/null || : >"$VR_TMP/etc/shadow"
    echo "vrsocks:x:4242:65534::/nonexistent:/usr/sbin/nologin" >>"$VR_TMP/etc/passwd"
    echo "vrsocks:$(openssl passwd -6 s3cret):19000:0:99999:7:::" >>"$VR_TMP/etc/shadow"
    chmod 600 "$VR_TMP/etc/shadow"
    printf '127.0.0.1 localhost\n%s\n' "$*" >"$VR_TMP/etc/hosts"
}

# outb_bg_etc NS CMD...: like vr_bg, with the private /etc files mounted.
outb_bg_etc() {
    local ns=$1; shift
    vr_bg "$ns" unshare -m sh -c '
        mount --bind "$0/passwd" /etc/passwd && mount --bind "$0/shadow" /etc/shadow &&
        mount --bind "$0/hosts" /etc/hosts && exec "$@"' "$VR_TMP/etc" "$@"
}

# outb_wait_port NS ADDR PORT: wait (up to 5 s) until something listens.
outb_wait_port() {
    local ns=$1 addr=$2 port=$3 i
    for i in $(seq 1 100); do
        ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/$addr/$port" 2>/dev/null && return 0
        sleep 0.05
    done
    vr_log "nothing listens on $addr:$port in $ns"; return 1
}

# outb_ip URL [curl args...]: the client address the server saw, via the client.
outb_ip() { in_cli curl -s --max-time "${OUTB_CURL_TIME:-5}" "$@" | cut -d' ' -f1; }

# The daemon is still running.
outb_alive() { [ -n "$VR_DAEMON_PID" ] && kill -0 "$VR_DAEMON_PID" 2>/dev/null; }

# outb_wait_file FILE PATTERN: wait (up to 5 s) for a line matching PATTERN.
outb_wait_file() {
    local f=$1 pat=$2 i
    for i in $(seq 1 100); do
        grep -qE "$pat" "$f" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# outb_wg NS CMD...: run CMD in NS with a private /var/run/wireguard (the
# UAPI sockets of wireguard-go live there, shared by every namespace
# otherwise: two "wg1" in two namespaces or two tests would collide).
outb_wg() {
    local ns=$1; shift
    mkdir -p "$VR_TMP/wgsock-$ns" /var/run/wireguard
    ip netns exec "$ns" unshare -m sh -c 'mount --bind "$0" /var/run/wireguard && exec "$@"' \
        "$VR_TMP/wgsock-$ns" "$@"
}

# outb_wg_tunnel N: a WireGuard tunnel wgN built by wireguard-go + wg between
# the router (198.18.20N.2/24) and the server namespace (198.18.20N.1/24),
# over the rs/s0 link; the server accepts any 198.18.20N.0/24 source.
outb_wg_tunnel() {
    local n=$1 side i
    for side in rtr srv; do
        (umask 077; wg genkey >"$VR_TMP/wg$n.$side.key")
        wg pubkey <"$VR_TMP/wg$n.$side.key" >"$VR_TMP/wg$n.$side.pub"
    done
    export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1
    outb_wg "$NS_RTR" wireguard-go -f "wg$n" >>"$VR_TMP/wireguard-go.log" 2>&1 &
    VR_PIDS+=($!)
    outb_wg "$NS_SRV" wireguard-go -f "wg$n" >>"$VR_TMP/wireguard-go.log" 2>&1 &
    VR_PIDS+=($!)
    for i in $(seq 1 100); do
        in_rtr ip link show "wg$n" >/dev/null 2>&1 && in_srv ip link show "wg$n" >/dev/null 2>&1 && break
        sleep 0.05
    done
    outb_wg "$NS_RTR" wg set "wg$n" private-key "$VR_TMP/wg$n.rtr.key" listen-port $((51820 + n)) \
        peer "$(cat "$VR_TMP/wg$n.srv.pub")" allowed-ips 0.0.0.0/0 endpoint 198.19.2.2:$((51820 + n)) || return 1
    outb_wg "$NS_SRV" wg set "wg$n" private-key "$VR_TMP/wg$n.srv.key" listen-port $((51820 + n)) \
        peer "$(cat "$VR_TMP/wg$n.rtr.pub")" allowed-ips 198.18.20$n.0/24 endpoint 198.19.2.1:$((51820 + n)) || return 1
    in_rtr ip addr add 198.18.20$n.2/24 dev "wg$n"
    in_srv ip addr add 198.18.20$n.1/24 dev "wg$n"
    in_rtr ip link set "wg$n" up
    in_srv ip link set "wg$n" up
    in_srv sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 "net.ipv4.conf.wg$n.rp_filter=0"
    for i in $(seq 1 50); do
        in_rtr ping -c1 -W1 -I "wg$n" 198.18.20$n.1 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    vr_log "wireguard tunnel wg$n does not pass traffic"; return 1
}

# OpenSSH's sshd in the server namespace on 198.19.2.2:22: its own config,
# key login only (client key $VR_TMP/id), a private /run for its privilege
# separation directory. Log in $VR_TMP/sshd.log.
outb_sshd_start() {
    ssh-keygen -q -t ed25519 -N '' -f "$VR_TMP/hostkey" >/dev/null
    ssh-keygen -q -t ed25519 -N '' -f "$VR_TMP/id" >/dev/null
    cp "$VR_TMP/id.pub" "$VR_TMP/authorized_keys"
    cat >"$VR_TMP/sshd.conf" <<CONF
ListenAddress 198.19.2.2:22
HostKey $VR_TMP/hostkey
AuthorizedKeysFile $VR_TMP/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
CONF
    mkdir -p "$VR_TMP/run/sshd"
    chmod 755 "$VR_TMP/run/sshd"
    vr_bg "$NS_SRV" unshare -m sh -c 'mount --bind "$0" /run && exec /usr/sbin/sshd -D -e -f "$1"' \
        "$VR_TMP/run" "$VR_TMP/sshd.conf" 2>"$VR_TMP/sshd.log"
}
