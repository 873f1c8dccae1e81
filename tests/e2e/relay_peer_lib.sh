# Sourced by the sockmap relay tests: reading the reports of
# tests/e2e/relay_peer.py (NAME.cli, NAME.srv in $VR_TMP: key=value fields).

field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" "$VR_TMP/$1"; }
# both ways byte-exact: what each sent is what the other got (both reported:
# two missing reports would compare equal)
exact() { # NAME
    [ -n "$(field "$1.cli" sent_sha)" ] && [ -n "$(field "$1.srv" sent_sha)" ] &&
        [ "$(field "$1.cli" sent_sha)" = "$(field "$1.srv" got_sha)" ] &&
        [ "$(field "$1.srv" sent_sha)" = "$(field "$1.cli" got_sha)" ] &&
        [ "$(field "$1.cli" sent)" = "$(field "$1.srv" got)" ] &&
        [ "$(field "$1.srv" sent)" = "$(field "$1.cli" got)" ] ||
        { echo "  client: $(cat "$VR_TMP/$1.cli")"; echo "  server: $(cat "$VR_TMP/$1.srv" 2>/dev/null)"; return 1; }
}
