#!/usr/bin/env bash
# A checkpoint writer killed with SIGKILL in the middle of a write leaves only
# a temp file: the previous checkpoint stays the newest valid one, `ditfarm
# ckpt list` says so, and the next commit of the shot removes the leftover.
set -u
B="${DF_BUILD_DIR:?}"
DF="$B/daemon/ditfarm"
D=$(mktemp -d /tmp/df_ckpt_kill9.XXXXXX)
trap 'rm -rf "$D"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }

"$DF" ckpt synth "$D" --shot k9 --step 10 --mb 2 >/dev/null || die "first checkpoint"

# About 6 MB stored, written 64 KiB per 20 ms: a couple of seconds in flight.
"$DF" ckpt synth "$D" --shot k9 --step 20 --mb 8 --throttle-ms 20 >/dev/null 2>&1 &
pid=$!
tmp=""
for _ in $(seq 1 200); do   # wait until the temp file holds some data
    tmp=$(find "$D" -name 'ckpt-k9-000020.dfck.tmp-*' -size +100k 2>/dev/null | head -n1)
    [ -n "$tmp" ] && break
    sleep 0.05
done
[ -n "$tmp" ] || die "no temp file appeared while writing"
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rc=$?
[ "$rc" -eq 137 ] || die "writer was not killed mid-write (exit $rc)"

[ -e "$D/ckpt-k9-000020.dfck" ] && die "a final file exists for the killed write"
out=$("$DF" ckpt list "$D")
echo "$out"
echo "$out" | grep -q '^ckpt-k9-000010.dfck  *valid  *step 10/50' || die "step 10 not listed valid"
echo "$out" | grep -q '^ckpt-k9-000020.dfck.tmp-.* temp  *leftover of an interrupted write' \
    || die "temp file not listed as leftover"
"$DF" ckpt inspect "$D/ckpt-k9-000010.dfck" >/dev/null || die "step 10 does not inspect as valid"

# The next commit cleans the leftover and keeps the last two.
"$DF" ckpt synth "$D" --shot k9 --step 30 --mb 2 --keep 2 >/dev/null || die "third checkpoint"
out=$("$DF" ckpt list "$D")
echo "$out"
echo "$out" | grep -q 'tmp' && die "temp file survived the next commit"
[ "$(echo "$out" | grep -c ' valid ')" -eq 2 ] || die "expected 2 valid checkpoints"

# A truncated copy is reported invalid with the reason, exit 1.
head -c 5000 "$D/ckpt-k9-000030.dfck" >"$D/ckpt-k9-000040.dfck"
msg=$("$DF" ckpt inspect "$D/ckpt-k9-000040.dfck")
[ $? -eq 1 ] || die "inspect of a truncated file did not exit 1"
echo "$msg" | grep -q 'truncated: 5000 of [0-9]* bytes (invalid)' || die "truncation message: $msg"
"$DF" ckpt list "$D" | grep -q '^ckpt-k9-000040.dfck  *invalid  *truncated: 5000 of' \
    || die "list does not flag the truncated file"
exit $fail
