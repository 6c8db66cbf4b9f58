#!/usr/bin/env bash
# Rendering on a real Slurm (slurm/dev-cluster): srun --mpi=pmix ranks match
# one rank; `ditfarm sbatch --submit` gives a video; Slurm's USR1 warning makes
# the job checkpoint, requeue and resume to the uninterrupted result; scancel
# mid-run leaves a valid checkpoint; sbatch's own refusal reaches the user.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker" D="$B/daemon/ditfarm" dc="$S/slurm/dev-cluster"
fail() { echo "FAIL: $*"; exit 1; }
was_up=0
"$dc" status >/dev/null 2>&1 && was_up=1
work=$(mktemp -d /tmp/df-slurm-render.XXXXXX)
cleanup() {
    [ $was_up = 0 ] && "$dc" down >/dev/null 2>&1
    [ -n "${DF_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
"$dc" up >/dev/null
eval "$("$dc" env)"
cd "$work"
"$W" make-tiny "$S/configs/models/tiny" >/dev/null

job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
wait_state() { # wait_state JOB STATE... (60 s)
    local j=$1; shift
    for _ in $(seq 120); do
        local s; s=$(job_state "$j")
        for want in "$@"; do [ "$s" = "$want" ] && return 0; done
        sleep 0.5
    done
    fail "job $j is $(job_state "$j"), waited for $*"
}

cat > m.yaml <<YAML
defaults: {model: tiny, frames: 9, seed: 11, guidance_scale: 3.5, sampler: unipc, width: 80, height: 64}
shots:
  - {id: short, prompt: a paper boat, steps: 6, output: {path: "$work/out/{shot}.mp4"}}
  - {id: long, prompt: a paper boat, steps: 400, width: 256, height: 256,
     checkpoint: {every_steps: 100}, output: {path: "$work/out/{shot}.mp4"}}
YAML

# 1. srun --mpi=pmix: 4 and 3 ranks equal 1 rank.
"$W" render m.yaml --shot short --no-video --latent-out ref.st 2>/dev/null
srun -n 4 --mpi=pmix "$W" render m.yaml --shot short --no-video --latent-out srun4.st 2>log || { cat log; fail "srun -n 4"; }
"$W" latent-diff ref.st srun4.st || fail "srun 4 ranks differ"
srun -n 3 --mpi=pmix "$W" render m.yaml --shot short --no-video --latent-out srun3.st --layout 1x1x3 2>log || { cat log; fail "srun -n 3"; }
"$W" latent-diff ref.st srun3.st || fail "srun 3 ranks differ"
echo "ok: srun --mpi=pmix 4 and 3 ranks match 1 rank"

# 2. ditfarm sbatch --submit: a 2-rank job renders its video.
"$D" sbatch m.yaml --shot short --cpu-ranks 2 --jobs-dir jobs --submit >sub.txt || { cat sub.txt; fail "submit"; }
jid=$(awk '{print $3}' sub.txt)
wait_state "$jid" COMPLETED
probe=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,nb_read_frames -of csv=p=0 out/short.mp4)
[ "$probe" = "h264,9" ] || fail "out/short.mp4: $probe"
grep -q "layout cfg 2 x ulysses 1 x ring 1 = 2 ranks" jobs/m/short/logs/slurm-"$jid".out || fail "not 2 ranks"
echo "ok: sbatch job $jid rendered out/short.mp4 on 2 ranks"

# 3. USR1 before the time limit: checkpoint, exit 3, requeue, resume, same latent.
"$W" render m.yaml --shot long --no-video --latent-out long-ref.st 2>/dev/null
"$D" sbatch m.yaml --shot long --cpu-ranks 2 --jobs-dir jobs --submit \
    --worker-arg=--latent-out="$work/long-slurm.st" >sub.txt
jid=$(awk '{print $3}' sub.txt)
log=jobs/m/long/logs/slurm-$jid.out
for _ in $(seq 200); do grep -q "step 60/400" "$log" 2>/dev/null && break; sleep 0.1; done
scancel --signal=USR1 --batch "$jid"
for _ in $(seq 100); do grep -q "requeueing job $jid" "$log" 2>/dev/null && break; sleep 0.2; done
grep -q "requeueing job $jid" "$log" || { cat "$log"; fail "no requeue"; }
# Slurm holds a requeued job ~2 minutes (BeginTime) so the old step can be
# cleaned up; release it sooner, once that is surely done.
wait_state "$jid" PENDING
sleep 10
scontrol update JobId="$jid" StartTime=now
wait_state "$jid" COMPLETED
grep -q "resumed from .*ckpt-long-.* (written on 2 ranks)" "$log" || { cat "$log"; fail "no resume"; }
"$W" latent-diff long-ref.st long-slurm.st || fail "preempted run differs"
echo "ok: USR1 -> checkpoint -> requeue -> resume: same latent as uninterrupted"

# 4. scancel mid-run: the workers get TERM, checkpoint; the checkpoint is valid.
rm -rf jobs/m/long/ckpt/*
"$D" sbatch m.yaml --shot long --cpu-ranks 2 --jobs-dir jobs --submit >sub.txt
jid=$(awk '{print $3}' sub.txt)
log=jobs/m/long/logs/slurm-$jid.out
for _ in $(seq 200); do grep -q "step 40/400" "$log" 2>/dev/null && break; sleep 0.1; done
scancel "$jid"
wait_state "$jid" CANCELLED COMPLETED
sleep 1
"$D" ckpt list jobs/m/long/ckpt >list.txt || { cat list.txt "$log"; fail "ckpt list"; }
grep -q "valid" list.txt || { cat list.txt "$log"; fail "no valid checkpoint after scancel"; }
echo "ok: scancel left $(grep -c valid list.txt) valid checkpoint(s)"

# 5. sbatch refuses: Slurm's words reach the user, exit 1.
cat > bad.yaml <<YAML
defaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}
shots:
  - {id: x, prompt: y, resources: {partition: nosuchpart}}
YAML
set +e
"$D" sbatch bad.yaml --cpu-ranks 1 --jobs-dir jobs --submit >out.txt 2>err.txt
rc=$?
set -e
[ $rc -eq 1 ] || fail "bad partition: exit $rc"
grep -q "invalid partition" err.txt || { cat err.txt; fail "Slurm's message missing"; }
echo "ok: sbatch refusal shown: $(grep -o 'sbatch: error: .*' err.txt | head -1)"

# 6. Job arrays: independent shots with equal resources go as one array job
#    (--throttle caps concurrent tasks); a dependant waits on its array task.
cat > arr.yaml <<YAML
defaults: {model: tiny, width: 64, height: 64, frames: 5, steps: 3, seed: 2,
           output: {path: "$work/arr/{shot}.mp4"}}
shots:
  - {id: a1, prompt: one}
  - {id: a2, prompt: two}
  - {id: a3, prompt: three}
  - {id: a4, prompt: four, after: [a1]}
YAML
"$D" sbatch arr.yaml --cpu-ranks 1 --jobs-dir jobs --submit --throttle 2 >sub.txt 2>&1 || { cat sub.txt; fail "array submit"; }
grep -q "a1: job [0-9]*_0 (array task 0 of 3)" sub.txt || { cat sub.txt; fail "no array"; }
grep -q "SBATCH --array=0-2%2" jobs/arr/array-a1.sbatch || fail "throttle missing"
last=$(awk '/^a4:/{print $3}' sub.txt)
wait_state "$last" COMPLETED
for _ in $(seq 120); do
    [ -f jobs/arr/a2/ckpt/a2.done ] && [ -f jobs/arr/a3/ckpt/a3.done ] && break
    sleep 0.5
done
for s in a1 a2 a3 a4; do
    [ -s "arr/$s.mp4" ] || { cat jobs/arr/logs/* 2>/dev/null | tail -20; fail "arr/$s.mp4 missing"; }
done
echo "ok: job array of 3 shots (throttle 2) and a dependant rendered"
