#!/usr/bin/env bash
# Exactly-once submission on the real dev cluster (issue 15).  The daemon
# saves a shot as `submitting` with a token before sbatch runs with
# --comment=TOKEN.  To die while sbatch runs, the controller is frozen
# (SIGSTOP: sbatch waits on it), then the daemon is killed with -9:
#   1. the controller thaws, the orphaned sbatch makes its job; the restarted
#      daemon finds the job by its token, adopts it, and never calls sbatch
#      for the shot again: one job, and the shot renders;
#   2. the orphaned sbatch is killed too, but its request already reached the
#      controller: the job is made all the same, and adopted, not duplicated;
#   3. the controller is down (no job can be made) when the daemon and its
#      sbatch die: the restarted daemon finds no job with the token and
#      submits the shot once.
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
work=$(mktemp -d /tmp/df-harden-once.XXXXXX)
dpid="" ctld="" sbatch_pid=""
cleanup() {
    [ -n "$ctld" ] && kill -CONT "$ctld" 2>/dev/null || true
    if [ -n "$dpid" ]; then kill -TERM "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
    if [ $was_up = 1 ]; then "$dc" up >/dev/null 2>&1 || true; else "$dc" down >/dev/null 2>&1 || true; fi
    [ -n "${DF_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
"$dc" up >/dev/null
eval "$("$dc" env)"
cd "$work"
"$W" make-tiny "$S/configs/models/tiny" >/dev/null
ctld=$(cat "$sdir/run/slurmctld.pid")

start_daemon() {
    rm -f st/ditfarmd.sock # left by a daemon killed with -9: wait for the new one's
    "$DMN" --state-dir "$work/st" --set output-roots="$work" --set submit-interval-ms=200 \
        --set squeue-interval-ms=300 --set sbatch-timeout-s=60 2>>daemon.log &
    dpid=$!
    for _ in $(seq 50); do [ -S st/ditfarmd.sock ] && break; sleep 0.1; done
    [ -S st/ditfarmd.sock ] || fail "ditfarmd did not start"
}
field() { # field MANIFEST KEY
    "$D" status --json --state-dir "$work/st" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next((str(s[sys.argv[2]]) for s in d["shots"] if s["manifest"] == sys.argv[1]), ""))' "$1" "$2"
}
wait_field() { # wait_field MANIFEST KEY VALUE SECONDS
    local v=""
    for _ in $(seq $(($4 * 5))); do
        v=$(field "$1" "$2" 2>/dev/null) || v=""
        [ "$v" = "$3" ] && return 0
        sleep 0.2
    done
    fail "$1: $2 is '$v', waited for '$3'"
}
token_of() { python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT token FROM shots WHERE manifest=?", (sys.argv[2],)).fetchone()[0])' st/ditfarmd.db "$1"; }
jobs_with() { squeue -h -t all -o '%i %k' | awk -v t="$1" '$2 == t' | wc -l; }
manifest() {
    printf 'name: %s\ndefaults: {model: tiny, frames: 9, seed: 5, steps: 2, width: 64, height: 64,\n  output: {path: "%s/out/{manifest}.mp4"}}\nshots:\n  - {id: s1, prompt: a paper boat}\n' "$1" "$work" >"$1.yaml"
}
# the daemon's sbatch child (its squeue/sinfo children are left alone)
sbatch_child() { ps -o pid=,comm= --ppid "$dpid" | awk '$2 == "sbatch" {print $1; exit}'; }
# die_while_sbatch_runs NAME: submit, freeze the controller, wait for the
# shot to be `submitting`, kill -9 the daemon.
die_while_sbatch_runs() {
    manifest "$1"
    kill -STOP "$ctld"
    "$D" submit "$1.yaml" --cpu-ranks 1 --state-dir "$work/st" >/dev/null
    wait_field "$1" state submitting 20
    sleep 1
    sbatch_pid=$(sbatch_child)
    kill -9 "$dpid"
    wait "$dpid" 2>/dev/null || true
    dpid=""
}

# 1. the job was made: adopted
start_daemon
die_while_sbatch_runs once1
tok=$(token_of once1)
kill -CONT "$ctld"
for _ in $(seq 100); do [ "$(jobs_with "$tok")" = 1 ] && break; sleep 0.2; done
[ "$(jobs_with "$tok")" = 1 ] || fail "the orphaned sbatch made no job with $tok"
jid=$(squeue -h -t all -o '%i %k' | awk -v t="$tok" '$2 == t {print $1}')
start_daemon
wait_field once1 state done 120
[ "$(field once1 job_id)" = "$jid" ] || fail "job $(field once1 job_id) is not the adopted $jid"
[ "$(field once1 attempts)" = 1 ] || fail "attempts $(field once1 attempts)"
grep -q "job $jid carries token $tok: adopted" daemon.log || fail "no adoption logged"
[ "$(grep -c "shot once1/s1: .* -> submitted" daemon.log)" = 1 ] || fail "once1 submitted more than once"
[ -f out/once1.mp4 ] || fail "no video"
echo "ok: daemon killed during sbatch; the restarted daemon adopted job $jid by its token (one job, rendered)"

# 2. sbatch itself killed too, after its request reached the (frozen)
#    controller: the job is still made, and still adopted, not duplicated
kill -TERM "$dpid"; wait "$dpid" || true; dpid=""
start_daemon
die_while_sbatch_runs once2
tok=$(token_of once2)
[ -n "$sbatch_pid" ] || fail "no sbatch child seen"
kill -KILL "$sbatch_pid"
kill -CONT "$ctld"
start_daemon
wait_field once2 state done 120
[ "$(jobs_with "$tok")" = 1 ] || fail "$(jobs_with "$tok") jobs carry $tok"
[ "$(field once2 attempts)" = 1 ] || fail "attempts $(field once2 attempts)"
echo "ok: sbatch killed after its request reached the controller: the job it made was adopted, not duplicated"

# 3. controller down: sbatch makes no job; after the crash the restarted
#    daemon finds no job with the token and submits the shot once
kill -TERM "$dpid"; wait "$dpid" || true; dpid=""
start_daemon
kill -CONT "$ctld"
kill -TERM "$ctld"
for _ in $(seq 100); do kill -0 "$ctld" 2>/dev/null || break; sleep 0.1; done
manifest once3
"$D" submit once3.yaml --cpu-ranks 1 --state-dir "$work/st" >/dev/null
wait_field once3 state submitting 20
sbatch_pid=$(sbatch_child)
kill -9 "$dpid"; wait "$dpid" 2>/dev/null || true; dpid=""
[ -n "$sbatch_pid" ] || fail "no sbatch child seen"
kill -KILL "$sbatch_pid"
tok=$(token_of once3)
"$dc" up >/dev/null
ctld=$(cat "$sdir/run/slurmctld.pid")
start_daemon
wait_field once3 state done 120
grep -q "no Slurm job carries token $tok" daemon.log || fail "lost submission not logged"
[ "$(jobs_with "$tok")" = 0 ] || fail "a job carries the lost token"
[ "$(field once3 attempts)" = 1 ] || fail "attempts $(field once3 attempts)"
echo "ok: sbatch died with the controller down: the restarted daemon found no job with the token and submitted once"
