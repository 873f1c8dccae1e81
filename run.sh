#!/bin/bash
# One entry point for newcomers and CI (run as root: it installs packages and
# builds network namespaces).
#   ./run.sh demo    install dependencies, build, run a safe demo in namespaces
#   ./run.sh test    install dependencies, build with -Werror and ASan+UBSan, run every test
#   ./run.sh setup   install dependencies only
#   ./run.sh build   build (release) into build/
#   ./run.sh package [DIR]   Debian packages vrouterd and vrouterd-dev (.deb in DIR, default build-deb/)
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages: build, run, and the real peers the tests talk to.
BUILD_DEPS="build-essential cmake pkg-config libevent-dev libconfig-dev libnl-3-dev libnl-route-3-dev libnftables-dev libssl-dev libjson-c-dev libbpf-dev bpftool clang libnetfilter-conntrack-dev"
RUN_DEPS="iproute2 nftables"
TEST_DEPS="curl wget busybox python3 iputils-ping openssl gnutls-bin dante-server microsocks wireguard-go wireguard-tools dnsutils dnsmasq-base ngtcp2-client prometheus python3-prometheus-client chromium clang libclang-rt-14-dev llvm tmux lintian man-db systemd unbound openssh-server openssh-client"
BENCH_DEPS="iperf3 wrk nginx-light shadowsocks-libev redsocks socat dnsperf"

setup() {
    local want="$BUILD_DEPS $RUN_DEPS $*" missing=()
    for p in $want; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

build() { # $1 = build dir, rest = cmake options
    local dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)"
}

case "${1:-}" in
setup) setup $TEST_DEPS $BENCH_DEPS ;;
build) setup; build build ;;
demo)
    setup curl python3 iputils-ping dnsutils dnsmasq-base
    build build
    exec bash tools/demo.sh build
    ;;
test)
    setup $TEST_DEPS
    build build-test -DVR_WERROR=ON -DVR_SANITIZE=ON
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # Every test with 2 workers, then the end-to-end tests again with 1
    # (tests/e2e/lib.sh passes VR_WORKERS to the daemon as -w).
    (cd build-test && VR_WORKERS=2 ctest --output-on-failure --timeout 600 -j1)
    (cd build-test && VR_WORKERS=1 ctest --output-on-failure --timeout 600 -j1 -L e2e)
    # ASan keeps modules mapped at their last reference; this build really
    # dlcloses them, so a module unloaded under its own running code crashes.
    build build-unload -DVR_WERROR=ON
    (cd build-unload && ctest --output-on-failure --timeout 600 -j1 -L unload)
    # Data races between the worker threads and the main thread: the
    # multi-worker tests again under ThreadSanitizer (a report fails the
    # daemon's exit status, which the tests check).
    build build-tsan -DVR_WERROR=ON -DVR_TSAN=ON
    (cd build-tsan && VR_WORKERS=2 TSAN_OPTIONS=halt_on_error=0 ctest --output-on-failure --timeout 600 -j1 -L tsan)
    # Fuzz the parsers for a bounded time with clang's libFuzzer.
    if [ -f tests/fuzz/run.sh ]; then
        CC=clang build build-fuzz -DVR_FUZZ=ON -DVR_SANITIZE=ON
        bash tests/fuzz/run.sh build-fuzz "${VR_FUZZ_SECONDS:-30}"
    fi
    ;;
package)
    # Release build for /usr with Debian's hardening flags, then cpack.
    setup
    dir=${2:-build-deb}
    eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
    export CFLAGS="$CFLAGS $CPPFLAGS"   # cmake reads CFLAGS and LDFLAGS only
    build "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DVR_PACKAGE=ON -DBUILD_TESTING=OFF
    (cd "$dir" && cpack -G DEB)
    ls "$dir"/*.deb
    ;;
bench)
    setup $BENCH_DEPS
    build build-release -DCMAKE_BUILD_TYPE=Release
    exec bash bench/run.sh "${@:2}"
    ;;
*)
    sed -n '2,8p' "$0"; exit 2 ;;
esac
