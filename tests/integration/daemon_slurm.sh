#!/usr/bin/env bash
# ditfarmd on a real Slurm (slurm/dev-cluster): `ditfarm submit` hands a
# 2-shot manifest (b after a) to the daemon, which submits a, then b once a is
# done; both videos come out; a local HTTP receiver gets the webhooks while a
# dead webhook URL is retried and logged without holding anything up.  Then:
# slurmctld stopped -> a submitted shot is `retrying` with sbatch's own words
# -> slurmctld back -> the shot completes; a job cancelled behind the
# daemon's back (TERM: checkpoint kept) is resubmitted and resumes; a node
# drain is logged and notified; `ditfarm cancel MANIFEST` cancels its shots;
# a daemon restart finds its running shot again.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker" D="$B/daemon/ditfarm" DMN="$B/daemon/ditfarmd"
dc="$S/slurm/dev-cluster" sdir=${DITFARM_SLURM_DIR:-/tmp/ditfarm-slurm}
fail() {
    echo "FAIL: $*"
    [ -f "${work:-/nonexistent}/daemon.log" ] && tail -n 30 "$work/daemon.log"
    exit 1
}
was_up=0
"$dc" status >/dev/null 2>&1 && was_up=1
work=$(mktemp -d /tmp/df-daemon-slurm.XXXXXX)
dpid="" rpid="" host=$(hostname -s)
cleanup() {
    # the daemon always stops (SIGTERM: it finishes its tick, closes the store)
    if [ -n "$dpid" ]; then
        kill -TERM "$dpid" 2>/dev/null || true
        wait "$dpid" 2>/dev/null || true
    fi
    [ -n "$rpid" ] && { kill "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true; }
    # leave the cluster as found: controller up, node resumed
    if [ $was_up = 1 ]; then
        "$dc" up >/dev/null 2>&1 || true
    else
        "$dc" down >/dev/null 2>&1 || true
    fi
    [ -n "${DF_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
"$dc" up >/dev/null
eval "$("$dc" env)"
cd "$work"
"$W" make-tiny "$S/configs/models/tiny" >/dev/null

# A webhook receiver on 127.0.0.1 only: one JSON body per line in events.jsonl.
cat >recv.py <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open("events.jsonl", "ab") as f:
            f.write(body + b"\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open("port", "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 recv.py & rpid=$!
for _ in $(seq 50); do [ -s port ] && break; sleep 0.1; done
port=$(cat port)
# a port nothing listens on, for the dead webhook
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hook="http://127.0.0.1:$port/shots" deadhook="http://127.0.0.1:$dead/hook"

# 0. Without a daemon the CLI says how to start one.
set +e
"$D" status --state-dir "$work/st" >out.txt 2>&1
rc=$?
set -e
[ $rc = 1 ] && grep -q "ditfarmd is not running (no socket at $work/st/ditfarmd.sock): start it with \`ditfarmd --state-dir $work/st\`" out.txt ||
    { cat out.txt; fail "no clear message without a daemon"; }

start_daemon() {
    "$DMN" --state-dir "$work/st" --set notify-url="http://127.0.0.1:$port/all" \
        --set output-roots="$work" --set webhook-allow-private=1 \
        --set squeue-interval-ms=300 --set submit-interval-ms=200 --set sinfo-interval-ms=300 \
        --set webhook-interval-ms=200 --set webhook-retry-base-s=1 --set webhook-retry-max-s=2 \
        --set submit-retry-base-s=6 --set submit-retry-max-s=6 2>>daemon.log &
    dpid=$!
    for _ in $(seq 50); do [ -S st/ditfarmd.sock ] && break; sleep 0.1; done
    [ -S st/ditfarmd.sock ] || fail "ditfarmd did not start"
}
stop_daemon() {
    kill -TERM "$dpid"
    wait "$dpid" || fail "ditfarmd exit status $?"
    dpid=""
    [ ! -e st/ditfarmd.sock ] || fail "socket left behind"
}
start_daemon
"$DMN" --print-config --state-dir "$work/st" >conf.txt && grep -q "^squeue-interval-ms 2000$" conf.txt || fail "print-config"

# field SHOT KEY: a field of shot SHOT in `ditfarm status --json`
field() {
    "$D" status --json --state-dir "$work/st" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next((str(s[sys.argv[2]]) for s in d["shots"] if s["shot"] == sys.argv[1]), ""))' "$1" "$2"
}
wait_field() { # wait_field SHOT KEY VALUE SECONDS
    local v=""
    for _ in $(seq $(($4 * 5))); do
        v=$(field "$1" "$2")
        [ "$v" = "$3" ] && return 0
        sleep 0.2
    done
    fail "shot $1: $2 is '$v', waited for '$3'"
}

# 1. Two shots, b after a; webhooks to the receiver and to a dead URL.
cat >m.yaml <<YAML
name: dmn
defaults: {model: tiny, frames: 9, seed: 11, steps: 4, width: 64, height: 64, guidance_scale: 3.5,
           output: {path: "$work/out/{shot}.mp4"}, notify: ["$hook", "$deadhook"]}
shots:
  - {id: a, prompt: a paper boat}
  - {id: b, prompt: a red kite, after: [a]}
YAML
"$D" submit m.yaml --cpu-ranks 1 --state-dir "$work/st" >sub.txt || { cat sub.txt; fail "submit"; }
grep -q "b: waiting" sub.txt || { cat sub.txt; fail "b should wait for a"; }
wait_field a state done 60
wait_field b state done 60
for s in a b; do
    probe=$(ffprobe -v error -count_frames -select_streams v:0 \
        -show_entries stream=codec_name,nb_read_frames -of csv=p=0 "out/$s.mp4")
    [ "$probe" = "h264,9" ] || fail "out/$s.mp4: $probe"
done
[ "$(field b steps)" = 4 ] || fail "no progress read from b's log"
"$D" status --state-dir "$work/st" >status.txt
grep -Eq "^dmn +b +done +[0-9]+ +4/4 " status.txt || { cat status.txt; fail "status table"; }
echo "ok: submit -> a, then b after a: both rendered ($(grep -c done status.txt) done)"

# webhooks: submitted and done for both shots, done with output + sidecar,
# b submitted only after a was done
for _ in $(seq 50); do [ "$(grep -c '"shot.done"' events.jsonl 2>/dev/null)" -ge 4 ] && break; sleep 0.2; done
python3 - "$work" <<'PY' || fail "webhook payloads"
import json, sys
ev = [json.loads(l) for l in open("events.jsonl")]
shots = [e for e in ev if e["event"].startswith("shot.") and e["manifest"] == "dmn"]
seq = [(e["event"], e["shot"]) for e in shots]
for k in [("shot.submitted", "a"), ("shot.done", "a"), ("shot.submitted", "b"), ("shot.done", "b")]:
    assert k in seq, (k, seq)
assert seq.index(("shot.done", "a")) < seq.index(("shot.submitted", "b")), seq
done = [e for e in shots if e["event"] == "shot.done" and e["shot"] == "b"][0]
assert done["output"] == sys.argv[1] + "/out/b.mp4", done
assert done["sidecar"] == done["output"] + ".json", done
json.load(open(done["sidecar"]))
PY
for _ in $(seq 50); do grep -q "POST $deadhook.*try 2 of" daemon.log && break; sleep 0.2; done
grep -q "POST $deadhook.*try 2 of" daemon.log || fail "dead webhook not retried"
echo "ok: webhooks delivered ($(wc -l <events.jsonl) events); dead URL retried and logged, shots done anyway"

# 2. Slurm outage: sbatch fails -> retrying with Slurm's words -> Slurm back -> done.
ctld=$(cat "$sdir/run/slurmctld.pid")
kill "$ctld"
# gone, or a zombie where nothing reaps orphans (a Slurm client would take
# MessageTimeout to tell)
for _ in $(seq 100); do
    st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$ctld/status" 2>/dev/null || true)
    [ -z "$st" ] || [ "$st" = Z ] && break
    sleep 0.1
done
cat >m2.yaml <<YAML
name: outage
defaults: {model: tiny, frames: 9, seed: 5, steps: 4, width: 64, height: 64,
           output: {path: "$work/out/{shot}.mp4"}}
shots:
  - {id: c, prompt: a lighthouse}
YAML
"$D" submit m2.yaml --cpu-ranks 1 --state-dir "$work/st" >/dev/null
wait_field c state retrying 45
reason=$(field c reason)
case "$reason" in
*"sbatch: error: Batch job submission failed: Unable to contact slurm controller"*) ;;
*) fail "retrying without sbatch's words: $reason" ;;
esac
"$dc" up >/dev/null
wait_field c state done 60
echo "ok: Slurm down -> retrying ('${reason##*: error: }') -> Slurm back -> done"

# 3. A job cancelled behind the daemon's back (TERM: checkpoint kept) is
#    resubmitted and resumes from its checkpoint.
cat >m3.yaml <<YAML
name: resume
defaults: {model: tiny, frames: 9, seed: 3, steps: 150, width: 256, height: 256,
           checkpoint: {every_steps: 20}, output: {path: "$work/out/{shot}.mp4"}}
shots:
  - {id: r, prompt: a windmill}
YAML
"$D" submit m3.yaml --cpu-ranks 1 --state-dir "$work/st" >/dev/null
wait_field r state running 30
jid=$(field r job_id)
log="st/jobs/resume/r/logs/slurm-$jid.out"
for _ in $(seq 300); do grep -q "step 45/150" "$log" 2>/dev/null && break; sleep 0.1; done
scancel "$jid"
for _ in $(seq 150); do [ "$(field r job_id)" != "$jid" ] && break; sleep 0.2; done
[ "$(field r job_id)" != "$jid" ] || fail "not resubmitted after scancel"
grep -q "shot resume/r: .* -> queued (job $jid): job $jid ended unfinished" daemon.log || fail "no resubmit log"
wait_field r state done 90
grep -q "resumed from" "st/jobs/resume/r/logs/slurm-$(field r job_id).out" || fail "did not resume"
[ "$(field r attempts)" = 2 ] || fail "attempts $(field r attempts)"
echo "ok: scancel behind the daemon's back -> resubmitted as job $(field r job_id), resumed, done"

# 4. Node drain: logged and notified.
scontrol update nodename="$host" state=drain reason=ditfarm-test
for _ in $(seq 50); do grep -q "node $host is drained" daemon.log && break; sleep 0.2; done
grep -q "node $host is drained" daemon.log || fail "drain not logged"
for _ in $(seq 50); do grep -q '"node.drained"' events.jsonl && break; sleep 0.2; done
grep -q "\"node\":\"$host\"" events.jsonl || fail "drain not notified"
scontrol update nodename="$host" state=resume
echo "ok: node drain logged and notified"

# 5. ditfarm cancel MANIFEST: the waiting and the running shot are cancelled.
cat >m4.yaml <<YAML
name: cxl
defaults: {model: tiny, frames: 9, seed: 3, steps: 150, width: 256, height: 256,
           output: {path: "$work/out/{shot}.mp4"}}
shots:
  - {id: x, prompt: a boat}
  - {id: y, prompt: a kite, after: [x]}
YAML
"$D" submit m4.yaml --cpu-ranks 1 --state-dir "$work/st" >/dev/null
wait_field x state running 30
"$D" cancel cxl --state-dir "$work/st" >cxl.txt || { cat cxl.txt; fail "cancel"; }
grep -q "cancelled cxl/y" cxl.txt || fail "cancel output"
[ "$(field x state)" = cancelled ] && [ "$(field y state)" = cancelled ] || fail "not cancelled"
echo "ok: ditfarm cancel cxl: $(tr '\n' ' ' <cxl.txt)"

# 6. SIGTERM stops the daemon cleanly; a shot running across a restart is
#    found again from the store and completes.
cat >m5.yaml <<YAML
name: restart
defaults: {model: tiny, frames: 9, seed: 4, steps: 100, width: 256, height: 256,
           output: {path: "$work/out/{shot}.mp4"}}
shots:
  - {id: z, prompt: a harbour}
YAML
"$D" submit m5.yaml --cpu-ranks 1 --state-dir "$work/st" >/dev/null
wait_field z state running 30
wait_field z steps 100 30 # the worker's progress.json
stop_daemon
grep -q "stopping: store closed" daemon.log || fail "no clean stop"
start_daemon
# progress comes from progress.json, not from a log the old daemon followed
[ "$(field z steps)" = 100 ] && [ "$(field z step)" -ge 1 ] ||
    fail "restarted daemon shows no progress for z: $(field z step)/$(field z steps)"
wait_field z state done 60
echo "ok: SIGTERM -> clean stop; restarted daemon finished shot z (job $(field z job_id))"
stop_daemon
