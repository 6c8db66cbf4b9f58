#!/usr/bin/env bash
# A 128 KiB checkpoint whose zstd frame declares 4 GiB (tests/data/bad/ckpt/
# zstd-bomb.dfck: RLE blocks, valid checksums) is refused by `ditfarm ckpt
# inspect` and by a resume from its section table, before anything is
# decoded (inspect under a 512 MiB address-space limit; it used to take 10 s
# and 4.2 GB).
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
mkdir ck
cp "$S/tests/data/bad/ckpt/zstd-bomb.dfck" ck/ckpt-bomb-000003.dfck
set +e
out=$(ulimit -v 524288; "$B/daemon/ditfarm" ckpt inspect ck/ckpt-bomb-000003.dfck 2>&1)
rc=$?
set -e
[ $rc -eq 1 ] || { echo "$out"; fail "inspect exit $rc, want 1"; }
echo "$out" | grep -q "sections decode to more than 2147483648 bytes (section 'latent' alone declares 4294967296 from 131085 stored).*(invalid; --max-bytes N raises the bound)" ||
    { echo "$out"; fail "inspect message"; }
# list decodes nothing: the structure is intact, and listing costs nothing
list=$(ulimit -v 524288; "$B/daemon/ditfarm" ckpt list ck)
echo "$list" | grep -q "ckpt-bomb-000003.dfck  *valid" || { echo "$list"; fail "list"; }
# resume decodes, with its shot's bound: the bomb is skipped, never decoded
cat > m.yaml <<YAML
defaults: {model: tiny, width: 48, height: 48, frames: 5, steps: 3, seed: 2}
shots:
  - {id: bomb, prompt: x}
YAML
"$B/worker/ditfarm-worker" make-tiny "$S/configs/models/tiny" >/dev/null
"$B/worker/ditfarm-worker" render m.yaml --shot bomb --configs "$S/configs" --ckpt-dir ck \
    --no-video 2>log.txt || { cat log.txt; fail "render next to a bomb failed"; }
grep -q "skipping checkpoint ckpt-bomb-000003.dfck: sections decode to more than" log.txt ||
    { cat log.txt; fail "bomb not skipped by resume"; }
echo "ok: zstd bomb refused from the table by inspect and resume under a memory limit"
