#!/usr/bin/env bash
# boot_singleton.sh -- a plain process is rank 0 of 1 (PMIx singleton), and a
# process that Slurm started as one of several tasks without a PMIx server
# (srun without --mpi=pmix) refuses to run instead of rendering alone.
set -euo pipefail
W="${DF_BUILD_DIR:?}/worker/ditfarm-worker"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Run as a plain process even when the suite itself runs inside a Slurm job.
clean_env() { env -u SLURM_NTASKS -u SLURM_JOB_ID -u SLURM_STEP_ID -u PMIX_RANK \
    -u PMIX_NAMESPACE -u PMIX_SERVER_URI41 -u PMIX_SERVER_URI4 -u PMIX_SERVER_URI3 \
    -u PMIX_SERVER_URI2 -u OMPI_COMM_WORLD_SIZE "$@"; }

clean_env "$W" selftest-comm >"$tmp/out" 2>"$tmp/err" || {
    echo "FAIL: singleton selftest-comm exited $?"; cat "$tmp/out" "$tmp/err"; exit 1; }
grep -q '^boot rank=0 size=1 local_rank=0 local_size=1 node=0 n_nodes=1 singleton=1 ' "$tmp/out" \
    || { echo "FAIL: boot line"; cat "$tmp/out"; exit 1; }
grep -q '^selftest-comm ok rank=0 size=1 backend=self' "$tmp/out" \
    || { echo "FAIL: selftest line"; cat "$tmp/out"; exit 1; }
echo "ok: plain process is rank 0 of 1"

rc=0
clean_env SLURM_NTASKS=4 "$W" selftest-comm >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || { echo "FAIL: SLURM_NTASKS=4 without PMIx exited $rc, want 1"; cat "$tmp/err"; exit 1; }
grep -q 'SLURM_NTASKS=4 but no PMIx server answered.*srun --mpi=pmix' "$tmp/err" \
    || { echo "FAIL: message"; cat "$tmp/err"; exit 1; }
echo "ok: SLURM_NTASKS=4 without a PMIx server is refused: $(grep -o 'boot:.*' "$tmp/err" | cut -c1-80)..."

rc=0
clean_env "$W" selftest-comm --backend nosuch >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "unknown backend 'nosuch'" "$tmp/err" \
    || { echo "FAIL: bad backend exited $rc"; cat "$tmp/err"; exit 1; }
echo "ok: unknown backend named"

rc=0
clean_env "$W" selftest-comm --backend mpi >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "the mpi backend needs a launcher" "$tmp/err" \
    || { echo "FAIL: mpi backend in a plain process exited $rc"; cat "$tmp/err"; exit 1; }
echo "ok: mpi backend without a launcher is refused, not crashed"
