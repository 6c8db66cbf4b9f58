#!/usr/bin/env bash
# The CLI's contract with scripts: --help/--version succeed, bad flags exit 2.
set -u
B="${DF_BUILD_DIR:?}"
fail=0
check() { # check WANT_RC DESCRIPTION CMD...
    local want=$1 what=$2; shift 2
    "$@" >/tmp/df_cli_out.$$ 2>&1; local rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL: $what: exit $rc, want $want"; cat /tmp/df_cli_out.$$; fail=1
    else
        echo "ok: $what"
    fi
}
check 0 "ditfarm --help" "$B/daemon/ditfarm" --help
check 0 "ditfarm --version" "$B/daemon/ditfarm" --version
"$B/daemon/ditfarm" --version | grep -q '^ditfarm [0-9]' || { echo "FAIL: version text"; fail=1; }
check 2 "unknown flag" "$B/daemon/ditfarm" --frobnicate
"$B/daemon/ditfarm" --frobnicate 2>&1 | grep -q "unknown option '--frobnicate'" || { echo "FAIL: unknown flag message"; fail=1; }
check 2 "unknown command" "$B/daemon/ditfarm" frobnicate
check 2 "no command" "$B/daemon/ditfarm"
check 0 "ditfarmd --version" "$B/daemon/ditfarmd" --version
check 2 "ditfarmd bad flag" "$B/daemon/ditfarmd" --nope
check 0 "worker --version" "$B/worker/ditfarm-worker" --version
rm -f /tmp/df_cli_out.$$
exit $fail
