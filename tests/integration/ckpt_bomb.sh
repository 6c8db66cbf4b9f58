#!/usr/bin/env bash
# A 128 KiB checkpoint whose zstd frame declares 4 GiB (tests/data/bad/ckpt/
# zstd-bomb.dfck: RLE blocks, valid checksums) is refused by `ditfarm ckpt
# inspect` and `ckpt list` from its section table, before anything is decoded:
# here under a 512 MiB address-space limit (it used to take 10 s and 4.2 GB).
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
mkdir ck
cp "$S/tests/data/bad/ckpt/zstd-bomb.dfck" ck/ckpt-bomb-000003.dfck
set +e
out=$(ulimit -v 524288; "$B/daemon/ditfarm" ckpt inspect ck/ckpt-bomb-000003.dfck 2>&1)
rc=$?
set -e
[ $rc -eq 1 ] || { echo "$out"; fail "inspect exit $rc, want 1"; }
echo "$out" | grep -q "sections decode to more than 2147483648 bytes (section 'latent' alone declares 4294967296 from 131085 stored).*(invalid)" ||
    { echo "$out"; fail "inspect message"; }
list=$(ulimit -v 524288; "$B/daemon/ditfarm" ckpt list ck)
echo "$list" | grep -q "ckpt-bomb-000003.dfck  *invalid  *sections decode to more than" ||
    { echo "$list"; fail "list message"; }
echo "ok: zstd bomb refused from the table under a 512 MiB limit"
