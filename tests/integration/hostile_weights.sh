#!/usr/bin/env bash
# Broken weights fail the render with a message naming the tensor, instead of
# rendering garbage with exit 0 (issue 15): one NaN in a weight, two tensors
# sharing bytes in the file, and a VAE whose config has a negative dim_mult
# (refused before the first denoise step).
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
"$B/worker/ditfarm-worker" make-tiny "$S/configs/models/tiny" >/dev/null

# A copy of the demo model that the edits below may break.
fresh() { rm -rf model; cp -r "$S/configs/models/tiny" model; }
edit() { # edit FILE PYTHON: rewrite a safetensors file (h: header dict, d: data bytearray)
    python3 - "$1" "$2" <<'PY'
import json, struct, sys
path, code = sys.argv[1], sys.argv[2]
b = open(path, 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h, d = json.loads(b[8:8 + n]), bytearray(b[8 + n:])
exec(code)
hb = json.dumps(h).encode()
open(path, 'wb').write(struct.pack('<Q', len(hb)) + hb + bytes(d))
PY
}
cat > m.yaml <<YAML
defaults: {model: $work/model, width: 48, height: 48, frames: 5, steps: 2, seed: 1}
shots:
  - {id: a, prompt: x}
YAML
run_fails() { # run_fails WHAT PATTERN
    set +e
    "$B/worker/ditfarm-worker" render m.yaml --shot a --output out.mp4 >out.txt 2>err.txt
    local rc=$?
    set -e
    [ $rc -ne 0 ] || { cat err.txt; fail "$1: exit 0"; }
    grep -q "$2" err.txt || { cat err.txt; fail "$1: message does not match '$2'"; }
    ! grep -q "step 1/2" err.txt || { cat err.txt; fail "$1: denoising started"; }
    echo "ok: $1: $(grep -o "$2.*" err.txt | head -c 160)"
}
T=model/transformer/diffusion_pytorch_model.safetensors

fresh
edit $T "o = h['blocks.0.attn1.to_q.weight']['data_offsets'][0]; d[o + 8:o + 12] = struct.pack('<f', float('nan'))"
run_fails "NaN weight" "tensor 'blocks.0.attn1.to_q.weight' holds 1 non-finite value(s)"

fresh
edit $T "h['blocks.0.attn1.to_k.weight']['data_offsets'] = h['blocks.0.attn1.to_q.weight']['data_offsets']"
run_fails "overlapping tensors" "overlap in the data section"

fresh
python3 - model/vae/config.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c['dim_mult'][0] = -c['dim_mult'][0]
json.dump(c, open(sys.argv[1], 'w'))
PY
run_fails "negative VAE dim_mult" "'dim_mult'\[0\] = -1 must be an integer in \[1, 64\]"
