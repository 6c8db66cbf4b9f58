#!/usr/bin/env bash
# comm_slurm.sh -- the PMIx bootstrap and the MPI comm backend under real Slurm
# (slurm/dev-cluster): `srun --mpi=pmix` from the shell and from an sbatch
# script, the boot info each rank prints, and the failure drills: a rank that
# exits early ends the step, a rank that stalls makes the others time out, and
# srun without PMIx is refused.  Leaves the cluster as it found it.
set -uo pipefail
src=${DF_SOURCE_DIR:?}
W="${DF_BUILD_DIR:?}/worker/ditfarm-worker"
dc=$src/slurm/dev-cluster
was_up=0
"$dc" status >/dev/null 2>&1 && was_up=1
tmp=$(mktemp -d)
cleanup() {
    rm -rf "$tmp"
    if [ $was_up = 0 ]; then "$dc" down >/dev/null || true; fi
}
trap cleanup EXIT
"$dc" up >/dev/null || { echo "FAIL: dev-cluster up"; exit 1; }
eval "$("$dc" env)"
fail=0

# check_boot FILE N: one boot line per rank 0..N-1, all with size N, one nspace.
check_boot() {
    local f=$1 n=$2 r
    for r in $(seq 0 $((n - 1))); do
        grep -q "^boot rank=$r size=$n local_rank=$r local_size=$n node=0 n_nodes=1 singleton=0 nspace=slurm.pmix" "$f" \
            || { echo "FAIL: no boot line for rank $r of $n"; cat "$f"; return 1; }
    done
    [ "$(grep '^boot ' "$f" | sed 's/.*nspace=//' | sort -u | wc -l)" = 1 ] \
        || { echo "FAIL: ranks disagree on the nspace"; return 1; }
}

# 1. srun from the shell, several layouts.
for spec in "4 2 2 1" "4 1 2 2" "3 1 1 3"; do
    set -- $spec
    rc=0
    timeout 120 srun -t 1 -n "$1" --mpi=pmix "$W" selftest-comm --cfg "$2" --ulysses "$3" --ring "$4" \
        >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ $rc != 0 ] || [ "$(grep -c '^selftest-comm ok' "$tmp/out")" != "$1" ] || ! check_boot "$tmp/out" "$1"; then
        echo "FAIL: srun -n $1 cfg=$2 u=$3 r=$4: exit $rc"; cat "$tmp/out" "$tmp/err"; fail=1
    else
        echo "ok: srun -n $1 --mpi=pmix selftest-comm cfg=$2 ulysses=$3 ring=$4"
    fi
done

# 2. the same from a batch script.
cat >"$tmp/job.sh" <<JOB
#!/bin/bash
#SBATCH -n 4
#SBATCH -t 1
#SBATCH -o $tmp/job.out
#SBATCH -e $tmp/job.err
srun --mpi=pmix "$W" selftest-comm --cfg 2 --ulysses 1 --ring 2
JOB
jid=$(sbatch --parsable "$tmp/job.sh")
state=""
for _ in $(seq 1 120); do
    state=$(scontrol show job "$jid" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case "$state" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
    sleep 0.5
done
if [ "$state" != COMPLETED ] || [ "$(grep -c '^selftest-comm ok' "$tmp/job.out")" != 4 ] \
    || ! check_boot "$tmp/job.out" 4; then
    echo "FAIL: sbatch job $jid ended $state"; cat "$tmp/job.out" "$tmp/job.err" 2>/dev/null; fail=1
else
    echo "ok: sbatch job $jid: 4 ranks passed"
fi

# 3. a rank exits abruptly: Slurm's pmix plugin sees it and ends the step.
rc=0
start=$(date +%s)
DITFARM_COMM_TIMEOUT=5 timeout 120 srun -t 1 -n 4 --mpi=pmix "$W" selftest-comm --die-rank 2 \
    >"$tmp/out" 2>"$tmp/err" || rc=$?
took=$(( $(date +%s) - start ))
if [ $rc = 0 ] || [ $rc = 124 ] || grep -q '^selftest-comm ok' "$tmp/out"; then
    echo "FAIL: dying rank: srun exit $rc after ${took}s"; cat "$tmp/err"; fail=1
else
    echo "ok: a dying rank ends the step (srun exit $rc, ${took}s)"
fi

# 4. a rank stalls: the others time out and exit 4; --kill-on-bad-exit ends the stalled one.
rc=0
start=$(date +%s)
DITFARM_COMM_TIMEOUT=3 timeout 120 srun -t 1 -n 4 --mpi=pmix --kill-on-bad-exit=1 "$W" \
    selftest-comm --stall-rank 1 >"$tmp/out" 2>"$tmp/err" || rc=$?
took=$(( $(date +%s) - start ))
n=$(grep -c "group 'world' (mpi, rank [023]/4.*no answer from the group's ranks after 3.0 s" "$tmp/err")
if [ $rc = 0 ] || [ $rc = 124 ] || [ "$n" -lt 1 ] || ! grep -q 'Exited with exit code 4' "$tmp/err"; then
    echo "FAIL: stalled rank: srun exit $rc, $n timeout messages, ${took}s"; cat "$tmp/err"; fail=1
else
    echo "ok: a stalled rank makes $n others time out (srun exit $rc, ${took}s)"
fi

# 5. srun without PMIx: every task would be a singleton; refused.
rc=0
timeout 60 srun -t 1 -n 2 --mpi=none "$W" selftest-comm >"$tmp/out" 2>"$tmp/err" || rc=$?
if [ $rc = 0 ] || ! grep -q 'SLURM_NTASKS=2 but no PMIx server answered' "$tmp/err"; then
    echo "FAIL: srun --mpi=none: exit $rc"; cat "$tmp/err"; fail=1
else
    echo "ok: srun --mpi=none is refused"
fi
exit $fail
