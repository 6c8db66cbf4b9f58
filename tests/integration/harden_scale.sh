#!/usr/bin/env bash
# Bounded work (issue 15): 1000 shots in one `after:` chain.
#   - `ditfarm sbatch` writes the normalized manifest once (not once per job
#     directory) and stays in seconds and megabytes (it took 40 s and 1.2 GB);
#   - --max-shots caps a manifest; the daemon's max-shots refuses a bigger
#     submit;
#   - the daemon's intake of the 1000 shots answers at once and writes their
#     job directories over the next ticks (`preparing`), so `ditfarm status`
#     is answered meanwhile; a daemon stopped during an intake fails the
#     shots still preparing, with a reason.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
D="$B/daemon/ditfarm" DMN="$B/daemon/ditfarmd" W="$B/worker/ditfarm-worker"
fail() {
    echo "FAIL: $*"
    [ -f "${work:-/nonexistent}/daemon.log" ] && tail -n 20 "$work/daemon.log"
    exit 1
}
work=$(mktemp -d /tmp/df-harden-scale.XXXXXX)
dpid=""
cleanup() {
    if [ -n "$dpid" ]; then kill -TERM "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
: >empty.conf
export SLURM_CONF=$work/empty.conf DITFARM_STATE_DIR=$work/st
"$W" make-tiny "$S/configs/models/tiny" >/dev/null
python3 - <<'PY'
with open("chain.yaml", "w") as f:
    f.write("name: chain\ndefaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}\nshots:\n")
    for i in range(1000):
        after = f", after: [s{i-1}]" if i else ""
        f.write(f"  - {{id: s{i}, prompt: shot number {i}{after}}}\n")
PY

# 1. sbatch: one manifest.json, a few MB, a few seconds
t0=$(date +%s)
"$D" sbatch chain.yaml --cpu-ranks 1 --jobs-dir jobs >submit.sh || fail "sbatch of 1000 shots"
t1=$(date +%s)
[ "$(find jobs -name manifest.json | wc -l)" = 1 ] || fail "manifest.json written more than once"
[ "$(find jobs -name job.sbatch | wc -l)" = 1000 ] || fail "not 1000 job scripts"
kb=$(du -sk jobs | cut -f1)
[ "$kb" -lt 65536 ] || fail "jobs dir is $kb KiB"
[ $((t1 - t0)) -lt 120 ] || fail "sbatch took $((t1 - t0)) s"
grep -q 'job_999=$(sbatch --parsable --dependency=afterok:$job_998 ' submit.sh || fail "chain not in the submit script"
echo "ok: 1000-shot chain: $((t1 - t0)) s, $((kb / 1024)) MiB of job directories, manifest.json once"

# 2. caps
set +e
"$D" sbatch chain.yaml --cpu-ranks 1 --jobs-dir jobs2 --max-shots 500 >out.txt 2>&1; rc=$?
set -e
[ $rc = 1 ] && grep -q "1000 shots, more than --max-shots (500)" out.txt || { cat out.txt; fail "--max-shots"; }
"$DMN" --set submit-interval-ms=600000 --set output-roots="$work" --set max-shots=500 2>daemon.log &
dpid=$!
for _ in $(seq 50); do [ -S st/ditfarmd.sock ] && break; sleep 0.1; done
set +e
"$D" submit chain.yaml --cpu-ranks 1 >out.txt 2>&1; rc=$?
set -e
[ $rc = 1 ] && grep -q "1000 shots, more than max-shots (500)" out.txt || { cat out.txt; fail "daemon max-shots"; }
kill -TERM "$dpid"; wait "$dpid" || true; dpid=""
echo "ok: --max-shots and the daemon's max-shots refuse a bigger manifest"

# 3. the daemon's intake of 1000 shots: answered at once, job directories
#    written by the ticks, `ditfarm status` answered meanwhile
"$DMN" --set submit-interval-ms=600000 --set output-roots="$work" 2>>daemon.log &
dpid=$!
for _ in $(seq 50); do [ -S st/ditfarmd.sock ] && break; sleep 0.1; done
"$D" submit chain.yaml --cpu-ranks 1 >out.txt 2>&1 || { tail -3 out.txt; fail "submit of 1000 shots"; }
grep -q "s999: preparing" out.txt || { tail -3 out.txt; fail "the last shots should wait as preparing"; }
t0=$(date +%s%N)
timeout 5 "$D" status >/dev/null || fail "status during the intake"
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
[ $ms -lt 3000 ] || fail "status took $ms ms during the intake"
for _ in $(seq 300); do grep -q "all 1000 job directories written" daemon.log && break; sleep 0.2; done
grep -q "all 1000 job directories written" daemon.log || fail "intake did not finish"
[ "$("$D" status --json | python3 -c 'import json,sys; print(sum(s["state"] in ("waiting","queued") for s in json.load(sys.stdin)["shots"]))')" = 1000 ] ||
    fail "not 1000 shots waiting/queued after the intake"
[ "$(find st/jobs -name manifest.json | wc -l)" = 1 ] || fail "daemon wrote manifest.json more than once"
[ "$(find st/jobs -name job.sbatch | wc -l)" = 1000 ] || fail "not 1000 job scripts"
echo "ok: the daemon took 1000 shots: status answered in $ms ms during the intake"

# 4. stopped during an intake: the shots left preparing fail with a reason
"$D" cancel chain >/dev/null
sed 's/^name: chain$/name: chain2/' chain.yaml >chain2.yaml
"$D" submit chain2.yaml --cpu-ranks 1 >/dev/null
kill -TERM "$dpid"; wait "$dpid" || true; dpid=""
"$DMN" --set submit-interval-ms=600000 --set output-roots="$work" 2>>daemon.log &
dpid=$!
for _ in $(seq 50); do [ -S st/ditfarmd.sock ] && break; sleep 0.1; done
"$D" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = [x for x in d["shots"] if x["manifest"] == "chain2"]
assert not any(x["state"] == "preparing" for x in s), "preparing left"
bad = [x for x in s if x["state"] == "failed"]
assert bad and "submit the manifest again" in bad[0]["reason"], bad[:1]' || fail "preparing shots after a restart"
echo "ok: shots left preparing by a stopped daemon fail with a reason"
