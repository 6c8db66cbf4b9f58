#!/usr/bin/env bash
# The final latent is checkpointed (and durable) before the VAE: when the
# decode or encode fails, the rerun resumes at step N/N, runs no step, and
# writes the same video as an uninterrupted render (issue 15).
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
"$W" make-tiny "$S/configs/models/tiny" >/dev/null

cat > m.yaml <<YAML
defaults: {model: tiny, width: 48, height: 48, frames: 9, steps: 6, seed: 11}
shots:
  - {id: a, prompt: a boat on a lake}
YAML
"$W" render m.yaml --shot a --configs "$S/configs" --output ref.mp4 2>/dev/null
touch blocker # a file where the output folder should be: the encoder cannot start
set +e
"$W" render m.yaml --shot a --configs "$S/configs" --ckpt-dir ck --output blocker/a.mp4 2>log1
rc=$?
set -e
[ $rc -ne 0 ] || { cat log1; fail "output under a file: exit 0"; }
[ -f ck/ckpt-a-000006.dfck ] || { ls ck; cat log1; fail "no checkpoint of the final latent"; }
"$W" render m.yaml --shot a --configs "$S/configs" --ckpt-dir ck --output a.mp4 2>log2 ||
    { cat log2; fail "rerun failed"; }
grep -q "resumed from ck/ckpt-a-000006.dfck at step 6/6" log2 || { cat log2; fail "no resume at 6/6"; }
if grep -q "step [0-9]/6 t=" log2; then cat log2; fail "the rerun ran denoise steps"; fi
cmp -s ref.mp4 a.mp4 || fail "resumed video differs from the uninterrupted one"
echo "ok: failed encode reran from the final-latent checkpoint without steps, same bytes"

# An audio track that is not audio fails before step 1, like a broken vae/.
head -c 4096 /dev/urandom >junk.wav
cat > au.yaml <<YAML
defaults: {model: tiny, width: 48, height: 48, frames: 9, steps: 6, seed: 11}
shots:
  - {id: a, prompt: a boat on a lake, output: {path: au.mp4, audio: $work/junk.wav}}
YAML
set +e
"$W" render au.yaml --shot a --configs "$S/configs" 2>log3
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "junk.wav': not a readable audio file" log3 || { cat log3; fail "junk audio: rc $rc"; }
if grep -q "step [0-9]/6 t=" log3; then cat log3; fail "junk audio found only after denoise steps"; fi
echo "ok: an unreadable audio track fails before step 1"
