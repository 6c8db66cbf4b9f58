#!/usr/bin/env bash
# vae_tiles_mpirun.sh -- the tiled VAE decode split over real ranks under Open
# MPI's mpirun (oversubscribed on a small runner): every rank count gives the
# very frames of one rank (bit-identical) and matches diffusers' tiled decode
# (fixture `tiled`); more ranks than tiles and a latent that fits one tile
# work; ranks given different tile options fail, naming the odd rank.
set -uo pipefail
W="${DF_BUILD_DIR:?}/worker/ditfarm-worker"
D="${DF_SOURCE_DIR:?}/tests/data/vae"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root_flag=()
[ "$(id -u)" = 0 ] && root_flag=(--allow-run-as-root)
mpi() { timeout 120 mpirun "${root_flag[@]}" --oversubscribe "$@"; }
fail=0
dec=(vae-decode "$D/c/vae" "$D/tiled/io.safetensors")

# name ranks extra-args...: decode, check rc and the ok line; output in $tmp/name.st
run() {
    local name=$1 n=$2
    shift 2
    local rc=0
    if [ "$n" = 1 ]; then
        "$W" "${dec[@]}" "$tmp/$name.st" --threads 1 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    else
        mpi -n "$n" "$W" "${dec[@]}" "$tmp/$name.st" --threads 1 "$@" >"$tmp/out" 2>"$tmp/err" ||
            rc=$?
    fi
    if [ "$rc" != 0 ] || ! grep -q "^vae-decode ok size=$n " "$tmp/out"; then
        echo "FAIL: $name (-n $n): exit $rc"
        cat "$tmp/out" "$tmp/err"
        fail=1
        return 1
    fi
    return 0
}

# The fixture's own tiles (4x5 every 2x3: 4x4 tiles), against diffusers.
run one 1 --ref "$D/tiled/io.safetensors" && grep "rel L2" "$tmp/out"
for n in 2 3 5; do
    if run "n$n" "$n" --ref "$D/tiled/io.safetensors"; then
        if cmp -s "$tmp/one.st" "$tmp/n$n.st"; then
            echo "ok: mpirun -n $n: $(head -1 "$tmp/out"), bit-identical to 1 rank"
        else
            echo "FAIL: mpirun -n $n differs from 1 rank"
            fail=1
        fi
    fi
done

# 2x2 tiles on 5 ranks: rank 4 has no tile at all.
if run few1 1 --tiles 6,8,5,6 && run few5 5 --tiles 6,8,5,6; then
    if cmp -s "$tmp/few1.st" "$tmp/few5.st"; then
        echo "ok: more ranks than tiles: $(head -1 "$tmp/out")"
    else
        echo "FAIL: 2x2 tiles on 5 ranks differ from 1 rank"
        fail=1
    fi
fi

# A latent that fits one tile: decoded whole on rank 0, the others return.
if run whole1 1 --tiles 8,16,6,12 && run whole3 3 --tiles 8,16,6,12; then
    if grep -q "tiles=1x1" "$tmp/out" && cmp -s "$tmp/whole1.st" "$tmp/whole3.st"; then
        echo "ok: one tile: $(head -1 "$tmp/out")"
    else
        echo "FAIL: one-tile latent on 3 ranks"
        fail=1
    fi
fi

# Ranks given different tile options: all fail, rank 1 is named.
rc=0
mpi -n 1 "$W" "${dec[@]}" "$tmp/bad.st" --tiles 4,5,2,3 : -n 1 "$W" "${dec[@]}" "$tmp/bad.st" \
    --tiles 4,5,2,2 >"$tmp/out" 2>"$tmp/err" || rc=$?
if [ "$rc" = 0 ] || ! grep -q "latent size or tile options.*rank 1 differs from rank 0" "$tmp/err"; then
    echo "FAIL: mismatched tile options: exit $rc"
    cat "$tmp/err"
    fail=1
else
    echo "ok: mismatched tile options are named"
fi
exit $fail
