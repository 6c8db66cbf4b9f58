#!/usr/bin/env bash
# `ditfarm plan`: text output, --json parsed by python3, exit codes and the
# messages for bad input.  Properties, not a table: the layouts themselves are
# checked by tests/test_layout.c.
set -u
B="${DF_BUILD_DIR:?}"
S="${DF_SOURCE_DIR:?}"
D="$S/tests/data/plan"
DF="$B/daemon/ditfarm"
export DITFARM_CONFIGS="$S/configs"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

run() { # run WANT_RC DESCRIPTION CMD... (stdout -> $T/out, stderr -> $T/err)
    local want=$1 what=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"; local rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL: $what: exit $rc, want $want"; cat "$T/out" "$T/err"; fail=1; return 1
    fi
    echo "ok: $what"
}
has() { # has FILE TEXT DESCRIPTION
    if grep -qF -- "$2" "$1"; then echo "ok:   $3"; else
        echo "FAIL: $3: '$2' not in $1:"; cat "$1"; fail=1; fi
}
pycheck() { # pycheck DESCRIPTION PYTHON (the JSON document is `d`)
    if python3 -c "import json,sys; d=json.load(open('$T/out')); $2" 2>"$T/py"; then
        echo "ok:   $1"; else echo "FAIL: $1"; cat "$T/py" "$T/out"; fail=1; fi
}

W13=(--model wan2.1-t2v-1.3b --width 832 --height 480 --frames 81)

run 0 "plan --help" "$DF" plan --help && has "$T/out" "usage: ditfarm plan" "help text"
"$DF" --help | grep -q "^  plan " || { echo "FAIL: plan missing from ditfarm --help"; fail=1; }

# One shot from the command line, 8 GPUs: chosen layout, time, two alternatives.
run 0 "plan --model wan 1.3B --gpus 8" "$DF" plan "${W13[@]}" --gpus 8 && {
    has "$T/out" "shot cli: wan2.1-t2v-1.3b 832x480, 81 frames -> 21x30x52 tokens = 32760" "shot line"
    has "$T/out" "  chosen   cfg 2 x ulysses " "chosen layout (cfg 2 on an even count)"
    has "$T/out" " predicted (compute " "predicted time"
    has "$T/out" "  tokens   " "token split"
    has "$T/out" "  ranks    node 0: ranks 0-7" "rank map"
    has "$T/out" "  alt 1    cfg " "first alternative"
    has "$T/out" "  alt 2    cfg " "second alternative"
    has "$T/out" " per step): " "alternatives say why they lose"
}

# --json: one document; degrees multiply out; ulysses divides the 12 heads.
run 0 "plan --json, 2 nodes x 8" "$DF" plan "${W13[@]}" --nodes 2 --gpus-per-node 8 --json &&
    pycheck "json layout properties" "
s = d['shots'][0]; c = s['chosen']
assert d['cluster'] == {'nodes': 2, 'ranks_per_node': 8, 'device': 'gpu', 'exact': False}
assert s['tokens'] == 32760 and s['token_grid'] == [21, 30, 52]
assert len(s['alternatives']) == 2
for l in [c] + s['alternatives']:
    assert l['cfg'] * l['ulysses'] * l['ring'] == l['world'] <= 16
    assert 12 % l['ulysses'] == 0
    assert l['seq_padded'] == l['chunk'] * l['ulysses'] * l['ring'] >= l['seq_len']
    assert l['pad_tokens'] < l['ulysses'] * l['ring']
    assert l['uly_intra'] is True
    assert l['t_step'] > 0 and l['why']
assert all(a['t_step'] >= c['t_step'] for a in s['alternatives'])
assert all(a['why'].startswith('+') for a in s['alternatives'])
"

# 7 GPUs, 12 heads: runs (ring takes the remainder) or says why it leaves one idle.
run 0 "plan 7 GPUs" "$DF" plan "${W13[@]}" --gpus 7 --json &&
    pycheck "7 GPUs used, or idle ones explained" "
c = d['shots'][0]['chosen']
assert c['world'] == 7 or c['idle'].startswith('uses ')
"

# CPU ranks under mpirun: exactly P.
for p in 1 2 3 4 6 8; do
    run 0 "plan --cpu-ranks $p --exact" "$DF" plan --model tiny --width 64 --height 64 --frames 9 \
        --cpu-ranks $p --exact --json &&
        pycheck "cpu $p: all ranks used" "
c = d['shots'][0]['chosen']; assert d['cluster']['device'] == 'cpu'
assert c['world'] == $p and c['cfg'] * c['ulysses'] * c['ring'] == $p"
done

# A manifest: every shot planned; guidance 1 never gets cfg 2; max_gpus caps.
run 0 "plan MANIFEST" "$DF" plan "$D/shots.yaml" --nodes 2 --gpus-per-node 8 && {
    has "$T/out" "shot wan13-480p: wan2.1-t2v-1.3b" "manifest shot 1"
    has "$T/out" "shot wan14-720p: wan2.1-t2v-14b 1280x720, 81 frames -> 21x45x80 tokens = 75600" "manifest shot 2"
    has "$T/out" "shot cog-480p: cogvideox-2b 720x480, 49 frames -> 13x30x45 tokens = 17776 (with text)" "cogvideox shot"
    has "$T/out" "shot no-cfg: wan2.1-t2v-1.3b 832x480, 81 frames -> 21x30x52 tokens = 32760, no CFG" "no-cfg shot"
}
run 0 "plan MANIFEST --json" "$DF" plan "$D/shots.yaml" --nodes 2 --gpus-per-node 8 --json &&
    pycheck "manifest json" "
sh = {s['id']: s for s in d['shots']}
assert list(sh) == ['wan13-480p', 'wan14-720p', 'cog-480p', 'no-cfg', 'capped']
assert all('chosen' in s and 'error' not in s for s in d['shots'])
assert sh['no-cfg']['cfg_branches'] == 1
assert all(l['cfg'] == 1 for l in [sh['no-cfg']['chosen']] + sh['no-cfg']['alternatives'])
assert sh['capped']['chosen']['world'] <= 3 and sh['capped']['chosen']['ranks_offered'] == 3
assert 40 % sh['wan14-720p']['chosen']['ulysses'] == 0
assert 30 % sh['cog-480p']['chosen']['ulysses'] == 0
"

# Bad input: clear messages, exit 1 for bad values, 2 for a bad command line.
run 1 "zero GPUs" "$DF" plan "${W13[@]}" --gpus 0 &&
    has "$T/err" "ditfarm plan: shot cli: cluster: GPUs per node must be >= 1 (got 0)" "zero GPUs message"
run 1 "negative GPUs" "$DF" plan "${W13[@]}" --nodes 2 --gpus-per-node -4 &&
    has "$T/err" "cluster: GPUs per node must be >= 1 (got -4)" "negative GPUs message"
run 1 "negative nodes" "$DF" plan "${W13[@]}" --nodes -1 --gpus-per-node 8 &&
    has "$T/err" "cluster: nodes must be >= 1 (got -1)" "negative nodes message"
run 1 "absurd cluster" "$DF" plan "${W13[@]}" --nodes 100000 --gpus-per-node 8 &&
    has "$T/err" "cluster: 100000 nodes is more than the planner supports (1024)" "absurd cluster message"
run 1 "zero CPU ranks" "$DF" plan "${W13[@]}" --cpu-ranks 0 &&
    has "$T/err" "cluster: CPU ranks per node must be >= 1 (got 0)" "zero CPU ranks message"
run 1 "absurd size" "$DF" plan --model wan2.1-t2v-1.3b --width 832000 --height 480 --frames 81 &&
    has "$T/err" "tokens, more than the planner supports (16777216)" "absurd size message"
run 1 "bad frames" "$DF" plan --model wan2.1-t2v-1.3b --width 832 --height 480 --frames 80
run 1 "model without heads" "$DF" plan --model "$D/noheads.yaml" --width 64 --height 64 --frames 9 &&
    has "$T/err" "num_heads" "no-heads message names num_heads"
run 1 "does not fit" "$DF" plan --model wan2.1-t2v-14b --width 1280 --height 720 --frames 81 \
    --gpus 8 --mem-gb 16 &&
    has "$T/err" "model 'wan2.1-t2v-14b' does not fit: it needs at least" "memory message"
run 1 "missing manifest" "$DF" plan "$T/nope.yaml"
run 1 "json error still a document" "$DF" plan "${W13[@]}" --gpus 0 --json &&
    pycheck "json carries the error" "assert 'GPUs per node' in d['shots'][0]['error']"
run 2 "no arguments" "$DF" plan
run 2 "manifest and --model" "$DF" plan "$D/shots.yaml" "${W13[@]}"
run 2 "--model without size" "$DF" plan --model tiny
run 2 "non-numeric GPUs" "$DF" plan "${W13[@]}" --gpus eight &&
    has "$T/err" "--gpus expects an integer, got 'eight'" "non-numeric message"
run 2 "--nodes alone" "$DF" plan "${W13[@]}" --nodes 2
run 2 "two cluster kinds" "$DF" plan "${W13[@]}" --gpus 4 --cpu-ranks 4
run 2 "unknown flag" "$DF" plan "${W13[@]}" --frobnicate

exit $fail
