#!/usr/bin/env bash
# slurm_cluster.sh -- slurm/dev-cluster gives a working one-node cluster:
# srun, sbatch, drain/resume, and `up` is idempotent.  Tests share the one
# cluster: if it was already up we leave it up, otherwise we stop it at the end.
set -euo pipefail
src=${DF_SOURCE_DIR:?}
dc=$src/slurm/dev-cluster

was_up=0
"$dc" status >/dev/null 2>&1 && was_up=1
cleanup() {
    if [ $was_up = 0 ]; then "$dc" down >/dev/null || true; fi
}
trap cleanup EXIT

"$dc" up
"$dc" up >/dev/null # idempotent
eval "$("$dc" env)"
[ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]
node=$(sinfo -h -o '%N' | head -n1)
echo "node: $node"

# srun: two tasks on the node.
out=$(srun -n 2 -t 1 hostname)
[ "$(echo "$out" | wc -l)" = 2 ] || { echo "srun -n 2 printed: $out" >&2; exit 1; }

# sbatch: a tiny job runs to COMPLETED and writes its output.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; cleanup' EXIT
jid=$(sbatch --parsable -t 1 -o "$tmp/out.txt" --wrap 'echo "ran on $SLURM_JOB_NODELIST"')
state=""
for _ in $(seq 1 60); do
    state=$(scontrol show job "$jid" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case "$state" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL) break ;; esac
    sleep 0.5
done
[ "$state" = COMPLETED ] || { echo "job $jid ended $state" >&2; exit 1; }
grep -q "ran on $node" "$tmp/out.txt"

# Fake GPUs are schedulable.
srun -n 1 -t 1 --gres=gpu:2 true

# drain, then resume.
scontrol update nodename="$node" state=drain reason=test
sinfo -h -n "$node" -o '%T' | grep -Eq '^drain(ed|ing)?$'
scontrol update nodename="$node" state=resume
for _ in $(seq 1 20); do
    [ "$(sinfo -h -n "$node" -o '%T')" = idle ] && break
    sleep 0.5
done
[ "$(sinfo -h -n "$node" -o '%T')" = idle ]

"$dc" status >/dev/null
echo "slurm_cluster: ok"
