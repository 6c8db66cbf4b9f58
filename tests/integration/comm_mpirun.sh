#!/usr/bin/env bash
# comm_mpirun.sh -- the MPI comm backend on real ranks under Open MPI's mpirun
# (oversubscribed: up to 6 ranks on a 2-core runner): every op on the world
# and on the cfg/ulysses/ring groups of several layouts; ranks given different
# layouts are named; a stalled rank makes the others time out, not hang.
set -uo pipefail
W="${DF_BUILD_DIR:?}/worker/ditfarm-worker"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root_flag=()
[ "$(id -u)" = 0 ] && root_flag=(--allow-run-as-root)
mpi() { timeout 120 mpirun "${root_flag[@]}" --oversubscribe "$@"; }
fail=0

# size cfg ulysses ring
for spec in "1 1 1 1" "2 1 2 1" "2 1 1 2" "2 2 1 1" "3 1 3 1" "3 1 1 3" "4 1 2 2" "4 2 2 1" \
    "4 2 1 2" "6 2 3 1" "6 1 3 2" "6 2 1 3" "6 1 2 3"; do
    set -- $spec
    rc=0
    mpi -n "$1" "$W" selftest-comm --backend mpi --cfg "$2" --ulysses "$3" --ring "$4" \
        >"$tmp/out" 2>"$tmp/err" || rc=$?
    ok=$(grep -c "^selftest-comm ok .*size=$1 backend=mpi layout=cfg$2.u$3.r$4" "$tmp/out")
    boots=$(grep -c "^boot rank=[0-9]* size=$1 " "$tmp/out")
    if [ "$rc" != 0 ] || [ "$ok" != "$1" ] || [ "$boots" != "$1" ]; then
        echo "FAIL: -n $1 cfg=$2 u=$3 r=$4: exit $rc, $ok ok lines, $boots boot lines"
        cat "$tmp/out" "$tmp/err"
        fail=1
    else
        echo "ok: mpirun -n $1 cfg=$2 ulysses=$3 ring=$4"
    fi
done
# Every rank 0..5 reported itself once in the last run.
for r in 0 1 2 3 4 5; do
    grep -q "^boot rank=$r size=6 local_rank=$r local_size=6 node=0 n_nodes=1 singleton=0" \
        "$tmp/out" || { echo "FAIL: no boot line for rank $r"; fail=1; }
done

# Ranks started with different layouts: both fail, naming rank 1.
rc=0
mpi -n 1 "$W" selftest-comm --ulysses 2 : -n 1 "$W" selftest-comm --ring 2 \
    >"$tmp/out" 2>"$tmp/err" || rc=$?
if [ "$rc" = 0 ] || ! grep -q "different layouts.*rank 1 differs from rank 0" "$tmp/err"; then
    echo "FAIL: mismatched layouts: exit $rc"; cat "$tmp/err"; fail=1
else
    echo "ok: mismatched layouts are named"
fi

# A rank stops answering: the others time out within DITFARM_COMM_TIMEOUT and
# exit 4 (retry); mpirun then ends the job.
rc=0
start=$(date +%s)
DITFARM_COMM_TIMEOUT=2 mpi -n 3 "$W" selftest-comm --stall-rank 1 >"$tmp/out" 2>"$tmp/err" || rc=$?
took=$(( $(date +%s) - start ))
n=$(grep -c "comm allgather_bytes on group 'world' (mpi, rank [02]/3.*no answer.*after 2.0 s" "$tmp/err")
if [ "$rc" = 0 ] || [ "$n" -lt 1 ] || [ "$took" -gt 60 ]; then
    echo "FAIL: stalled rank: exit $rc, $n timeout messages, ${took}s"; cat "$tmp/err"; fail=1
else
    echo "ok: stalled rank -> timeout on the others (exit $rc, ${took}s)"
fi
exit $fail
