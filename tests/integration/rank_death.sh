#!/usr/bin/env bash
# A rank that dies mid-render must not leave the others hanging: the job ends
# non-zero in bounded time (the comm timeout, or the launcher tearing it down),
# and a checkpoint written before the death still resumes the shot.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
"$W" make-tiny "$S/configs/models/tiny" >/dev/null
mpi=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
export DITFARM_COMM_TIMEOUT=10
# The manifest's absolute path names this test's ranks: other tests (and
# other checkouts) render an m.yaml of their own at the same time.
man="$work/m.yaml"

cat > m.yaml <<YAML
defaults: {model: tiny, width: 256, height: 256, frames: 9, steps: 400, seed: 3,
           checkpoint: {every_steps: 20}}
shots:
  - {id: victim, prompt: a long shot}
YAML
start=$(date +%s)
"${mpi[@]}" -n 2 "$W" render "$man" --no-video --ckpt-dir ck 2>log &
job=$!
for _ in $(seq 200); do grep -q "step 30/400" log 2>/dev/null && break; sleep 0.1; done
grep -q "step 30/400" log || { kill $job; cat log; fail "render did not start"; }
# kill the rank that does not log (rank 1): pick the newest worker process
victim=$(pgrep -n -f "ditfarm-worker render $man")
kill -9 "$victim"
set +e
wait $job
rc=$?
set -e
took=$(( $(date +%s) - start ))
[ $rc -ne 0 ] || fail "the job exited 0 after a rank died"
[ $took -lt 120 ] || fail "the job took ${took}s to end after a rank died"
echo "ok: a rank killed mid-render: job ended with $rc after ${took}s"
"$W" render m.yaml --no-video --ckpt-dir ck --stop-after 45 2>log2 || true
grep -q "resumed from ck/ckpt-victim-0000[2-9]0.dfck" log2 || { cat log2; fail "no resume after the death"; }
echo "ok: resumed from the checkpoint written before the death"

# A rank that stops answering (SIGSTOP) makes the others time out (10 s here)
# with a message naming the collective, and exit 4 (retry) -- never a hang.
rm -rf ck
"${mpi[@]}" -n 2 "$W" render "$man" --no-video --ckpt-dir ck 2>log3 &
job=$!
for _ in $(seq 200); do grep -q "step 30/400" log3 2>/dev/null && break; sleep 0.1; done
victim=$(pgrep -n -f "ditfarm-worker render $man")
start=$(date +%s)
kill -STOP "$victim"
set +e
wait $job
rc=$?
set -e
took=$(( $(date +%s) - start ))
kill -9 "$victim" 2>/dev/null || true
[ $rc -ne 0 ] || fail "the job exited 0 with a stalled rank"
[ $took -lt 90 ] || fail "the job took ${took}s to end with a stalled rank"
grep -q "no answer from" log3 || { tail -5 log3; fail "no timeout message"; }
echo "ok: a stalled rank: the others timed out ($(grep -o 'comm [a-z]* on group [^ ]*' log3 | head -1)), job ended $rc after ${took}s"
