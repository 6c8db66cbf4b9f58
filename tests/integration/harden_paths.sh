#!/usr/bin/env bash
# Hostile names and paths (issue 15): every value that reaches a script we
# write is checked or quoted, and job directories and outputs stay under
# their roots.  Slurm's clients read an empty config and refuse at once, so
# sbatch runs for real without a cluster: an injected command would run
# before sbatch is even reached.
#   - a manifest named by its file `x'$(touch PWNED).yaml` or `...yaml` is
#     refused (one identifier rule), as are names with newlines;
#   - --worker / --worker-arg values with quotes and $(...) are quoted in the
#     printed submit script and in job.sbatch (both run by bash here), values
#     with newlines refused;
#   - output paths with '..', outside the output root, or through a symlink
#     leading out are refused; relative ones land under the root;
#   - a directory of the output path swapped for a link after sbatch: the
#     worker re-walks it from job.json output.root and refuses;
#   - symlinks planted in a job directory are never followed: job.sbatch and
#     manifest.json replace the link, a linked job dir is refused;
#   - the daemon refuses a bad `backend`, quotes a hostile `worker`, and a
#     request without `opts` gets a proper error.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
D="$B/daemon/ditfarm" DMN="$B/daemon/ditfarmd" W="$B/worker/ditfarm-worker"
fail() {
    echo "FAIL: $*"
    [ -f "${work:-/nonexistent}/daemon.log" ] && tail -n 20 "$work/daemon.log"
    exit 1
}
work=$(mktemp -d /tmp/df-harden-paths.XXXXXX)
dpid=""
cleanup() {
    if [ -n "$dpid" ]; then kill -TERM "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
: >empty.conf
export SLURM_CONF=$work/empty.conf DITFARM_STATE_DIR=$work/st
unset DITFARM_JOBS_DIR DITFARM_OUTPUT_ROOTS
"$W" make-tiny "$S/configs/models/tiny" >/dev/null
pwned() { ls "$work" | grep -qx 'PWNED[0-9]*' && fail "an injected command ran: $*"; return 0; }
expect_fail() { # expect_fail PATTERN CMD...: exit 1 (or 2: usage) and PATTERN in the output
    local pat=$1 rc
    shift
    set +e
    "$@" >out.txt 2>&1
    rc=$?
    set -e
    [ $rc = 1 ] || [ $rc = 2 ] && grep -q -- "$pat" out.txt || { cat out.txt; fail "expected '$pat' from $*"; }
}
body='defaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}
shots:
  - {id: s1, prompt: a boat}'

# 1. names from file names follow the identifier rule
printf '%s\n' "$body" >"x'\$(touch PWNED).yaml"
expect_fail "which is invalid" "$D" sbatch "x'\$(touch PWNED).yaml" --cpu-ranks 1 --jobs-dir jobs
printf '%s\n' "$body" >"...yaml"
expect_fail "manifest name '..', which is invalid" "$D" sbatch "...yaml" --cpu-ranks 1 --jobs-dir jobs
printf 'name: "a\\nb"\n%s\n' "$body" >nl.yaml
expect_fail 'invalid manifest name' "$D" sbatch nl.yaml --cpu-ranks 1 --jobs-dir jobs
[ ! -e jobs ] || [ -z "$(ls jobs)" ] || fail "a refused manifest left job directories"
pwned "file names"
echo "ok: names from file names checked ('x'\''\$(touch PWNED)', '..', newline refused)"

# 2. hostile worker path and arguments: quoted in both scripts, which bash runs
printf 'name: q\n%s\n' "$body" >q.yaml
evil="$work/w'\$(touch PWNED)\`touch PWNED2\`"
"$D" sbatch q.yaml --cpu-ranks 1 --jobs-dir jobs --worker "$evil" --worker-arg "x'; touch PWNED3 #" >submit.sh
bash -n submit.sh || fail "printed script does not parse"
set +e
bash submit.sh >run.txt 2>&1
bash jobs/q/s1/job.sbatch >job.txt 2>&1
set -e
pwned "printed script / job.sbatch"
grep -q "sbatch: error" run.txt || { cat run.txt; fail "sbatch was not reached"; }
grep -qF "^#SBATCH" jobs/q/s1/job.sbatch && fail "stray directive"
expect_fail "control character" "$D" sbatch q.yaml --cpu-ranks 1 --jobs-dir jobs --worker-arg "$(printf 'a\nb')"
expect_fail "newline or control character" "$D" sbatch q.yaml --cpu-ranks 1 --jobs-dir jobs --worker "$(printf '/a\n#SBATCH --x')"
expect_fail "blank, quote" "$D" sbatch q.yaml --cpu-ranks 1 --jobs-dir "jobs dir"
echo "ok: worker path and arguments quoted (scripts ran, nothing injected); newlines refused"

# 3. outputs stay under the output root
mkdir -p outside root/out
ln -s "$work/outside" root/out/link
out_case() { printf 'name: o\ndefaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}\nshots:\n  - {id: s1, prompt: a boat, output: {path: "%s"}}\n' "$1" >o.yaml; }
out_case "/tmp/x/../../../../etc/cron.d/x.mp4"
expect_fail "has a '..' component" "$D" sbatch o.yaml --cpu-ranks 1 --jobs-dir jobs --output-root "$work/root"
out_case "/etc/cron.d/x.mp4"
expect_fail "outside the root" "$D" sbatch o.yaml --cpu-ranks 1 --jobs-dir jobs --output-root "$work/root"
out_case "out/link/{shot}.mp4"
expect_fail "through a symbolic link" "$D" sbatch o.yaml --cpu-ranks 1 --jobs-dir jobs --output-root "$work/root"
out_case "out/{manifest}/{shot}.mp4"
"$D" sbatch o.yaml --cpu-ranks 1 --jobs-dir jobs --output-root "$work/root" >/dev/null
opath() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["shots"][0]["output"]["path"])' "$1"; }
[ "$(opath jobs/o/manifest.json)" = "$work/root/out/{manifest}/{shot}.mp4" ] || fail "relative output not under the root: $(opath jobs/o/manifest.json)"
(cd root && DITFARM_JOBS_DIR="$work/jobs2" "$D" sbatch ../o.yaml --cpu-ranks 1 >/dev/null) || fail "default roots"
[ -f jobs2/o/s1/job.sbatch ] || fail "DITFARM_JOBS_DIR not used"
[ "$(opath jobs2/o/manifest.json)" = "$work/root/out/{manifest}/{shot}.mp4" ] || fail "default output root is not the current directory"
echo "ok: outputs confined ('..', outside, symlink out refused; relative under the root)"
# 3b. a directory swapped for a link after sbatch: the worker walks from the
# root recorded in job.json (output.root) and refuses; nothing lands outside
mkdir -p outside2 root2
printf 'name: sw\ndefaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}\nshots:\n  - {id: s1, prompt: a boat, output: {path: "sub/{shot}.mp4"}}\n  - {id: s2, prompt: a boat, output: {path: "ok/{shot}.mp4"}}\n' >sw.yaml
"$D" sbatch sw.yaml --cpu-ranks 1 --jobs-dir jobs --output-root "$work/root2" >/dev/null
python3 -c 'import json,sys; o=json.load(open(sys.argv[1]))["output"]; assert o["root"] == sys.argv[2], o' \
    jobs/sw/s1/job.json "$work/root2" || fail "job.json output.root not the root"
mkdir -p root2/sub && mv root2/sub root2/sub.real && ln -s "$work/outside2" root2/sub
expect_fail "root2/sub is a symbolic link" "$W" render --job jobs/sw/s1/job.json --ckpt-dir jobs/sw/s1/ckpt
grep -q "output $work/root2/sub/s1.mp4" out.txt || { cat out.txt; fail "refusal does not name the output"; }
[ -z "$(ls -A outside2)" ] || fail "the worker wrote through the swapped link: $(ls -A outside2)"
"$W" render --job jobs/sw/s2/job.json --ckpt-dir jobs/sw/s2/ckpt >r2.txt 2>&1 || { cat r2.txt; fail "render under the root"; }
[ -s root2/ok/s2.mp4 ] && [ -s root2/ok/s2.mp4.json ] || fail "video or sidecar missing under the root: $(ls -A root2/ok)"
[ -z "$(ls -A root2/ok | grep part)" ] || fail "temporaries left: $(ls -A root2/ok)"
echo "ok: a directory swapped for a link after sbatch is refused by the worker; writes under the root work"

# 4. links planted in job directories are replaced or refused, never followed
echo keep >target
ln -sf "$work/target" jobs/q/s1/job.sbatch
ln -sf "$work/target" jobs/q/manifest.json
"$D" sbatch q.yaml --cpu-ranks 1 --jobs-dir jobs >/dev/null
[ "$(cat target)" = keep ] || fail "a planted link was written through"
[ -f jobs/q/s1/job.sbatch ] && [ ! -L jobs/q/s1/job.sbatch ] && [ ! -L jobs/q/manifest.json ] || fail "links not replaced"
rm -rf jobs/q/s1 && mkdir -p elsewhere && ln -s "$work/elsewhere" jobs/q/s1
expect_fail "symbolic link or not a directory" "$D" sbatch q.yaml --cpu-ranks 1 --jobs-dir jobs
[ -z "$(ls elsewhere)" ] || fail "files written into a linked job dir"
echo "ok: planted links in job directories not followed"

# 4b. small things: --grace clamping is said; validate FILE --configs DIR
printf 'name: g\ndefaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}\nshots:\n  - {id: s1, prompt: a, resources: {time_limit: 1}}\n' >g.yaml
"$D" sbatch g.yaml --cpu-ranks 1 --jobs-dir jobs --grace 50 >/dev/null 2>grace.txt
grep -q "grace 50 s clamped to 30 s" grace.txt || { cat grace.txt; fail "grace clamp not said"; }
grep -q "USR1@30" jobs/g/s1/job.sbatch || fail "grace not clamped in the script"
"$D" validate g.yaml --configs "$S/configs" >/dev/null || fail "validate FILE --configs DIR"
echo "ok: --grace clamping said; validate takes --configs after the file"
# plan --configs DIR reaches the step-cache prediction; its JSON stays JSON
cp -r "$S/configs" cfg2
printf 'name: pc\nshots:\n  - {id: s1, model: tiny, prompt: a boat, steps: 4, frames: 9, width: 64, height: 64, cache: {policy: teacache}}\n' >pc.yaml
"$D" plan pc.yaml --configs "$work/cfg2" --cpu-ranks 1 >plan.txt 2>&1 || true
grep -q "cache .*$work/cfg2/models/tiny" plan.txt || { cat plan.txt; fail "plan --configs not passed to the cache prediction"; }
"$D" plan pc.yaml --configs "$work/cfg2" --cpu-ranks 1 --json 2>/dev/null | python3 -c 'import json,sys; json.load(sys.stdin)' ||
    fail "plan --json is not JSON"
echo "ok: plan --configs DIR reaches the cache prediction; --json stays JSON"

# 5. the daemon: bad backend refused, hostile worker quoted, no opts -> error
"$DMN" --set submit-interval-ms=600000 --set output-roots="$work" 2>daemon.log &
dpid=$!
for _ in $(seq 50); do [ -S st/ditfarmd.sock ] && break; sleep 0.1; done
req() { python3 - "$work/st/ditfarmd.sock" "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip())
PY
}
printf 'name: dq\n%s\n' "$body" >dq.yaml
"$D" validate dq.yaml --json >/dev/null 2>&1 || true
mj=$(python3 -c 'import json; print(json.dumps({"name": "dq", "shots": [{"id": "s1", "model": "tiny", "prompt": "a boat", "frames": 9, "steps": 2, "width": 64, "height": 64}]}))')
r=$(req "{\"cmd\":\"submit\",\"configs\":\"$S/configs\",\"manifest\":$mj}")
echo "$r" | grep -q 'needs \\"opts\\"' || fail "no opts: $r"
r=$(req "{\"cmd\":\"submit\",\"configs\":\"$S/configs\",\"manifest\":$mj,\"opts\":{\"cpu_ranks\":1,\"backend\":\"cpu; touch PWNED\"}}")
echo "$r" | grep -q "unknown backend" || fail "bad backend: $r"
r=$(req "{\"cmd\":\"submit\",\"configs\":\"$S/configs\",\"manifest\":$mj,\"opts\":{\"cpu_ranks\":-4}}")
echo "$r" | grep -q "opts.cpu_ranks must be" || fail "negative ranks: $r"
r=$(req "{\"cmd\":\"submit\",\"configs\":\"$S/configs\",\"manifest\":$mj,\"opts\":{\"cpu_ranks\":1,\"worker\":\"/x'\$(touch PWNED)\"}}")
echo "$r" | grep -q '"ok":true' || fail "submit with a strange worker path: $r"
set +e
bash st/jobs/dq/s1/job.sbatch >job.txt 2>&1
set -e
pwned "daemon job.sbatch"
grep -qF "worker='/x'\\''\$(touch PWNED)'" st/jobs/dq/s1/job.sbatch || fail "worker not quoted"
echo "ok: daemon: no opts / bad backend / bad numbers refused, worker path quoted"
