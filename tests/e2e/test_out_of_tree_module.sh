#!/bin/bash
# A third party builds an outbound against the INSTALLED headers with
# pkg-config (no source tree), drops the .so in a module dir, and vrouterd
# loads it, checks its ABI, hands it its config block and reports its errors.
set -u
VR_SRC=${VR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VR_BUILD=${VR_BUILD:-$VR_SRC/build}
VR_BIN=${VR_BIN:-$VR_BUILD/core/vrouterd}
# In the build tree, not /tmp: vrouterd loads modules only from directories
# no other user can write (a sticky /tmp is refused, see test_trust.sh).
tmp=$(mktemp -d "$VR_BUILD/vr-oot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); echo "ok - $1"; else fail=$((fail + 1)); echo "FAIL - $1"; fi; }

cmake --install "$VR_BUILD" --prefix "$tmp/prefix" >/dev/null
pcdir=$(dirname "$(find "$tmp/prefix" -name vrouter-plugin.pc | head -1)")
export PKG_CONFIG_PATH=$pcdir
check "vrouter-plugin.pc is installed" '[ -n "$pcdir" ] && [ -f "$pcdir/vrouter-plugin.pc" ]'
check "it names a moduledir" '[ -n "$(pkg-config --variable=moduledir vrouter-plugin)" ]'
check "the installed headers include vr_plugin.h" '[ -f "$(pkg-config --variable=includedir vrouter-plugin)/vrouter/vr_plugin.h" ]'
check "the modules are installed under the prefix, in moduledir" \
    '[ -f "$(pkg-config --variable=moduledir vrouter-plugin)/direct.so" ] && case "$(pkg-config --variable=moduledir vrouter-plugin)" in "$tmp/prefix"/*) true ;; *) false ;; esac'
check "so is vrouterd" '[ -x "$tmp/prefix/sbin/vrouterd" ]'

mkdir -p "$tmp/mods"
cat >"$tmp/blackhole.c" <<'C'
#include <errno.h>
#include <stdlib.h>
#include <vrouter/vr_plugin.h>
/* An outbound that refuses every flow, with a required "reason" key. */
struct bh { const struct vr_host *host; const char *reason; };
static int bh_create(struct vr_instance *inst, const struct vr_host *host, void **state)
{
    const struct vr_cfg *cfg = host->instance_cfg(inst);
    struct bh *b = calloc(1, sizeof(*b));
    if (!b) return -ENOMEM;
    b->host = host;
    if (host->cfg_string(cfg, "reason", &b->reason) < 0) {
        host->cfg_error(cfg, NULL, "missing 'reason' (a string)");
        free(b);
        return -EINVAL;
    }
    *state = b;
    return 0;
}
static void bh_destroy(void *s) { free(s); }
static int bh_connect(void *s, const struct vr_flow *f, vr_connect_cb cb, void *arg, void **p)
{ (void)s; (void)f; (void)cb; (void)arg; (void)p; return -EACCES; }
static void bh_cancel(void *s, void *p) { (void)s; (void)p; }
static const struct vr_outbound_ops ops = { .size = sizeof(ops), .create = bh_create, .destroy = bh_destroy,
    .tcp_connect = bh_connect, .tcp_cancel = bh_cancel };
VR_MODULE_DEFINE(.name = "blackhole", .version = "0.1", .kind = VR_KIND_OUTBOUND, .ops = &ops);
C
cc -std=c11 -Wall -Wextra -Werror -shared $(pkg-config --cflags vrouter-plugin) -o "$tmp/mods/blackhole.so" "$tmp/blackhole.c"
check "a module builds out of tree with pkg-config --cflags vrouter-plugin" '[ -f "$tmp/mods/blackhole.so" ]'
syms=$(nm -D --defined-only "$tmp/mods/blackhole.so" | awk '$2 ~ /[A-Z]/ && $3 !~ /^_/ {print $3}' | tr '\n' ' ')
check "it exports only the vr_module descriptor (got: $syms)" '[ "$syms" = "vr_module " ]'

cat >"$tmp/ok.conf" <<CONF
daemon = { module_path = "$tmp/mods"; };
listeners = ( { tag = "tp"; port = 7893; } );
outbounds = ( { tag = "bh"; module = "blackhole"; reason = "testing"; } );
route = { final = "bh"; };
CONF
out=$("$VR_BIN" -t -f "$tmp/ok.conf" 2>&1)
check "vrouterd loads the third-party module ($out)" '[[ "$out" == *"configuration OK"* ]]'
sed -e 's/reason = "testing"; //' "$tmp/ok.conf" >"$tmp/bad.conf"
out=$("$VR_BIN" -t -f "$tmp/bad.conf" 2>&1)
check "its config errors carry FILE:LINE ($out)" '[[ "$out" == *"bad.conf:3: "*"missing '"'"'reason'"'"'"* ]]'
sed -e 's/reason = "testing";/reason = "testing"; colour = 1;/' "$tmp/ok.conf" >"$tmp/unk.conf"
out=$("$VR_BIN" -t -f "$tmp/unk.conf" 2>&1)
check "a key the module never read is an unknown key ($out)" '[[ "$out" == *"unk.conf:3: "*"unknown key '"'"'colour'"'"'"*"reason"* ]]'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
