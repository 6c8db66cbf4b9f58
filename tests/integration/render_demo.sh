#!/usr/bin/env bash
# README command 1's path without set-up: `ditfarm render` on the bundled demo
# manifest gives real H.264 files (checked with ffprobe), the same bytes on a
# second run (seeded noise, bit-exact encoder), and clear failures.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }

"$B/worker/ditfarm-worker" make-tiny "$S/configs/models/tiny" >/dev/null
"$B/daemon/ditfarm" render --local "$S/configs/examples/demo.yaml" >paths.txt 2>log.txt ||
    { cat log.txt; fail "demo render failed"; }
grep -q "red-sunrise: $work/out/demo/red-sunrise.mp4" paths.txt || { cat paths.txt; fail "path not printed"; }
grep -q "step 8/8" log.txt || fail "no per-step progress in the log"
grep -q "ETA" log.txt || fail "no ETA in the log"
for shot in red-sunrise blue-forest; do
    f=out/demo/$shot.mp4
    [ -s "$f" ] || fail "$f missing"
    probe=$(ffprobe -v error -count_frames -select_streams v:0 \
        -show_entries stream=codec_name,width,height,nb_read_frames,r_frame_rate -of csv=p=0 "$f")
    [ "$probe" = "h264,64,64,8/1,9" ] || fail "$f: ffprobe says '$probe', want h264,64,64,8/1,9"
    ffprobe -v error -show_entries format_tags=seed -of csv=p=0 "$f" | grep -qE '^(42|7)$' ||
        fail "$f: seed tag missing"
    [ -s "$f.json" ] || fail "$f.json (sidecar) missing"
    want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["output"]["sha256"])' "$f.json")
    [ "$want" = "$(sha256sum "$f" | cut -d' ' -f1)" ] || fail "$f: sidecar sha256 differs"
    echo "ok: $f ($probe), sidecar checksum verified"
done
sha1=$(sha256sum out/demo/red-sunrise.mp4 | cut -d' ' -f1)
"$B/daemon/ditfarm" render "$S/configs/examples/demo.yaml" --shot red-sunrise >/dev/null 2>&1
sha2=$(sha256sum out/demo/red-sunrise.mp4 | cut -d' ' -f1)
[ "$sha1" = "$sha2" ] || fail "second render differs ($sha1 vs $sha2)"
echo "ok: re-render is byte-identical"

# A shot whose model folder has no weights fails clearly; its dependant is skipped.
mkdir -p broken/transformer
cp "$S/configs/models/tiny/transformer/config.json" broken/transformer/
cp -r "$S/configs/models/tiny/tokenizer" "$S/configs/models/tiny/text_encoder" broken/
cat > m.yaml <<YAML
defaults: {model: $work/broken, width: 64, height: 64, frames: 5, steps: 2}
shots:
  - {id: a, prompt: x}
  - {id: b, prompt: y, after: [a]}
YAML
set +e
"$B/daemon/ditfarm" render m.yaml >out.txt 2>err.txt
rc=$?
set -e
[ $rc -eq 1 ] || { cat err.txt; fail "broken model: exit $rc, want 1"; }
grep -q "diffusion_pytorch_model" err.txt || { cat err.txt; fail "missing weights not named"; }
grep -q "skipping shot b: it needs shot a, which failed" err.txt || { cat err.txt; fail "dependant not skipped"; }
grep -q "0 shots rendered, 1 failed, 1 skipped" err.txt || { cat err.txt; fail "summary"; }
echo "ok: broken model reported, dependant skipped"
