#!/usr/bin/env bash
# Checkpoint and resume through the worker: a shot stopped mid-way (by
# --stop-after, or by SIGUSR1 as Slurm sends it) resumes to the bit-identical
# latent; a damaged newest checkpoint is skipped for the previous good one;
# a checkpoint of another shot setting is never used.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
"$W" make-tiny "$S/configs/models/tiny" >/dev/null

cat > m.yaml <<YAML
defaults: {model: tiny, width: 64, height: 64, frames: 9, steps: 12, seed: 5, guidance_scale: 4.0}
shots:
  - {id: e, prompt: a lighthouse at night, sampler: euler}
  - {id: u, prompt: a lighthouse at night, sampler: unipc}
YAML

for shot in e u; do
    "$W" render m.yaml --shot $shot --no-video --latent-out full-$shot.st 2>/dev/null
    set +e
    "$W" render m.yaml --shot $shot --no-video --ckpt-dir ck --stop-after 5 2>log1; rc1=$?
    "$W" render m.yaml --shot $shot --no-video --ckpt-dir ck --stop-after 9 2>log2; rc2=$?
    set -e
    [ $rc1 -eq 3 ] && [ $rc2 -eq 3 ] || { cat log1 log2; fail "$shot: stop exit codes $rc1 $rc2, want 3 3"; }
    grep -q "resumed from ck/ckpt-$shot-000005.dfck at step 5/12" log2 || { cat log2; fail "$shot: no resume"; }
    "$W" render m.yaml --shot $shot --no-video --ckpt-dir ck --latent-out res-$shot.st 2>log3
    grep -q "at step 9/12" log3 || { cat log3; fail "$shot: did not resume at 9"; }
    cmp -s full-$shot.st res-$shot.st || fail "$shot: resumed latent differs from the uninterrupted one"
    echo "ok: $shot: stop at 5, 9, resume: bit-identical"
done

# The newest checkpoint damaged: skipped with its reason, the previous one used.
rm -rf ck
"$W" render m.yaml --shot u --no-video --ckpt-dir ck --ckpt-every 4 --stop-after 8 2>/dev/null || true
[ -f ck/ckpt-u-000004.dfck ] && [ -f ck/ckpt-u-000008.dfck ] || { ls ck; fail "expected checkpoints at 4 and 8"; }
truncate -s 100 ck/ckpt-u-000008.dfck
"$W" render m.yaml --shot u --no-video --ckpt-dir ck --latent-out trunc.st 2>log4
grep -q "skipping checkpoint ckpt-u-000008.dfck: .*truncated" log4 || { cat log4; fail "truncated file not reported"; }
grep -q "resumed from ck/ckpt-u-000004.dfck at step 4/12" log4 || { cat log4; fail "previous checkpoint not used"; }
cmp -s full-u.st trunc.st || fail "resume from the older checkpoint differs"
echo "ok: truncated newest checkpoint skipped, older one used, same result"

# Another seed is another shot: its checkpoints are not taken.
rm -rf ck
"$W" render m.yaml --shot u --no-video --ckpt-dir ck --stop-after 6 2>/dev/null || true
sed -i 's/seed: 5/seed: 6/' m.yaml
"$W" render m.yaml --shot u --no-video --ckpt-dir ck --stop-after 7 2>log5 || true
grep -q "skipping checkpoint ckpt-u-000006.dfck: .*another manifest shot" log5 || { cat log5; fail "foreign checkpoint not refused"; }
grep -q "starting at step 0" log5 || { cat log5; fail "did not restart"; }
echo "ok: checkpoint of another shot setting refused"
sed -i 's/seed: 6/seed: 5/' m.yaml

# SIGUSR1 (Slurm's warning) mid-run: checkpoint at the next step, exit 3, resume identical.
sed -i 's/steps: 12/steps: 1000/' m.yaml
"$W" render m.yaml --shot e --no-video --latent-out long-full.st 2>/dev/null
rm -rf ck
"$W" render m.yaml --shot e --no-video --ckpt-dir ck 2>log6 &
pid=$!
for _ in $(seq 100); do grep -q "step 50/1000" log6 2>/dev/null && break; sleep 0.05; done
kill -USR1 $pid
set +e; wait $pid; rc=$?; set -e
[ $rc -eq 3 ] || { tail -5 log6; fail "SIGUSR1: exit $rc, want 3"; }
grep -q "stopping after step .* on request (checkpointed)" log6 || fail "no stop line"
"$W" render m.yaml --shot e --no-video --ckpt-dir ck --latent-out long-res.st 2>log7
cmp -s long-full.st long-res.st || fail "SIGUSR1 resume differs"
echo "ok: SIGUSR1 -> checkpoint + exit 3 -> resume bit-identical ($(grep -o 'resumed .*' log7))"
