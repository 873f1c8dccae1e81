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
