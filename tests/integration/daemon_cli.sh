#!/usr/bin/env bash
# ditfarmd and its CLI without a cluster: the not-running message, one daemon
# per state directory, --print-config and bad directives, local validation
# before anything reaches the daemon, a refusal from sbatch (Slurm not
# configured) failing the shot with Slurm's words, a second submit of an
# active manifest refused, cancel of an unknown target, clean SIGTERM.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
D="$B/daemon/ditfarm" DMN="$B/daemon/ditfarmd" W="$B/worker/ditfarm-worker"
fail() {
    echo "FAIL: $*"
    [ -f "${work:-/nonexistent}/daemon.log" ] && tail -n 20 "$work/daemon.log"
    exit 1
}
work=$(mktemp -d /tmp/df-daemon-cli.XXXXXX)
dpid=""
cleanup() {
    if [ -n "$dpid" ]; then kill -TERM "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
# Slurm's clients read this empty file and refuse at once: a real sbatch
# refusal, no cluster needed.
: >empty.conf
export SLURM_CONF=$work/empty.conf DITFARM_STATE_DIR=$work/st

set +e
"$D" status >out.txt 2>&1; rc=$?
set -e
[ $rc = 1 ] || fail "status without daemon: exit $rc"
grep -qF "ditfarmd is not running (no socket at $work/st/ditfarmd.sock): start it with \`ditfarmd --state-dir $work/st\`" out.txt ||
    { cat out.txt; fail "not-running message"; }
echo "ok: $(cat out.txt)"

"$DMN" --print-config --set max-attempts=7 >conf.txt
grep -q "^max-attempts 7$" conf.txt && grep -q "^state-dir $work/st$" conf.txt || fail "print-config"
set +e
"$DMN" --set tick-ms=1 2>err.txt; rc=$?
set -e
[ $rc = 2 ] && grep -q "tick-ms: 1 is out of range 10..10000" err.txt || { cat err.txt; fail "bad --set"; }
echo "ok: --print-config, bad directive refused ($(cat err.txt))"

"$DMN" --set submit-interval-ms=100 --set squeue-interval-ms=100 --set output-roots="$work" 2>daemon.log &
dpid=$!
for _ in $(seq 50); do [ -S st/ditfarmd.sock ] && break; sleep 0.1; done
set +e
"$DMN" 2>second.txt; rc=$?
set -e
[ $rc = 1 ] && grep -q "another ditfarmd is listening on $work/st/ditfarmd.sock" second.txt ||
    { cat second.txt; fail "second daemon on the same state dir"; }
echo "ok: one daemon per state directory"

"$W" make-tiny "$S/configs/models/tiny" >/dev/null
cat >bad.yaml <<'YAML'
shots:
  - {id: a, model: tiny, prompt: x, steps: -3}
YAML
set +e
"$D" submit bad.yaml --cpu-ranks 1 >out.txt 2>&1; rc=$?
set -e
[ $rc = 1 ] && grep -q "bad.yaml:2:" out.txt || { cat out.txt; fail "local validation"; }
grep -q "accepted" daemon.log && fail "an invalid manifest reached the daemon"
echo "ok: invalid manifest stopped before the daemon"

cat >m.yaml <<'YAML'
name: nocluster
defaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}
shots:
  - {id: a, prompt: a boat}
  - {id: b, prompt: a kite, after: [a]}
YAML
"$D" submit m.yaml --cpu-ranks 1 >sub.txt
grep -q "a: queued" sub.txt && grep -q "b: waiting" sub.txt || { cat sub.txt; fail "submit output"; }
[ -f st/jobs/nocluster/a/job.sbatch ] && [ -f st/jobs/nocluster/manifest.json ] || fail "no job dir"
for _ in $(seq 50); do "$D" status | grep -q "^nocluster *b *failed" && break; sleep 0.1; done
"$D" status >status.txt
grep -Eq "^nocluster +a +failed +- .*is empty / sbatch: error: ClusterName needs to be specified / sbatch: fatal" status.txt ||
    { cat status.txt; fail "refusal not shown verbatim"; }
grep -Eq "^nocluster +b +failed .*dependency a did not finish" status.txt || { cat status.txt; fail "dependent shot"; }
"$D" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["ok"] and [s["state"] for s in d["shots"]] == ["failed", "failed"], d
assert d["shots"][0]["job_id"] == "" and d["shots"][0]["cache_hit_rate"] is None, d' || fail "status --json"
echo "ok: sbatch refusal -> a failed with Slurm's words, b failed on its dependency"

# A daemon restarted on the same store, submitting only every 10 minutes:
# shots stay queued/waiting, so a second submit and the cancels meet them there.
kill -TERM "$dpid"
wait "$dpid" || fail "ditfarmd exit status $?"
"$DMN" --set submit-interval-ms=600000 --set output-roots="$work" 2>>daemon.log &
dpid=$!
for _ in $(seq 50); do [ -S st/ditfarmd.sock ] && break; sleep 0.1; done
"$D" status | grep -Eq "^nocluster +a +failed" || fail "store not kept across a restart"
cat >m2.yaml <<'YAML'
name: hold
defaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}
shots:
  - {id: p, prompt: a boat}
  - {id: q, prompt: a kite, after: [p]}
YAML
"$D" submit m2.yaml --cpu-ranks 1 >/dev/null
set +e
"$D" submit m2.yaml --cpu-ranks 1 >out.txt 2>&1; rc=$?
set -e
[ $rc = 1 ] && grep -q "manifest hold has 2 active shots: wait, or \`ditfarm cancel hold\` first" out.txt ||
    { cat out.txt; fail "second submit of an active manifest"; }
"$D" cancel q >cxl.txt || { cat cxl.txt; fail "cancel q"; }
[ "$(cat cxl.txt)" = "cancelled hold/q" ] || { cat cxl.txt; fail "cancel output"; }
"$D" status | grep -Eq "^hold +p +queued" || fail "p should still be queued"
set +e
"$D" cancel nosuch >out.txt 2>&1; rc=$?
set -e
[ $rc = 1 ] && grep -q "no active shot or manifest named 'nosuch'" out.txt || { cat out.txt; fail "cancel unknown"; }
"$D" cancel hold >cxl.txt && [ "$(cat cxl.txt)" = "cancelled hold/p" ] || { cat cxl.txt; fail "cancel manifest"; }
"$D" submit m2.yaml --cpu-ranks 1 >/dev/null || fail "resubmit after cancel"
echo "ok: second submit of an active manifest refused; cancel by shot id and by manifest; unknown target refused"

kill -TERM "$dpid"
wait "$dpid" || fail "ditfarmd exit status $?"
dpid=""
[ ! -e st/ditfarmd.sock ] || fail "socket left behind"
echo "ok: SIGTERM -> clean stop"
