#!/usr/bin/env bash
# The control socket under hostile or broken clients (issue 15), no cluster:
#   - a client sending one byte every 1.5 s does not hold the loop: `ditfarm
#     status` answers at once meanwhile, and the slow client is dropped at
#     its deadline (client-timeout-ms);
#   - a request over client-max-request gets an error, not the daemon's memory;
#   - `model: /etc/shadow` in a raw submit: the reply names where the problem
#     is but never repeats the file's content;
#   - a client of another uid is refused (SO_PEERCRED): the daemon runs as
#     nobody here and root connects (root passes the socket's file mode);
#   - `ditfarm cancel MANIFEST/SHOT`; a bare shot id in several manifests is
#     refused with the list.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
D="$B/daemon/ditfarm" DMN="$B/daemon/ditfarmd" W="$B/worker/ditfarm-worker"
fail() {
    echo "FAIL: $*"
    [ -f "${work:-/nonexistent}/daemon.log" ] && tail -n 20 "$work/daemon.log"
    exit 1
}
work=$(mktemp -d /tmp/df-harden-sock.XXXXXX)
dpid="" spid=""
cleanup() {
    if [ -n "$spid" ]; then kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; fi
    if [ -n "$dpid" ]; then kill -TERM "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
: >empty.conf
export SLURM_CONF=$work/empty.conf DITFARM_STATE_DIR=$work/st
"$W" make-tiny "$S/configs/models/tiny" >/dev/null

"$DMN" --set submit-interval-ms=600000 --set output-roots="$work" --set client-timeout-ms=4000 \
    --set client-max-request=65536 2>daemon.log &
dpid=$!
for _ in $(seq 50); do [ -S st/ditfarmd.sock ] && break; sleep 0.1; done
cat >client.py <<'PY'
import json, socket, sys, time
def req(text, slow=0.0):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    if slow:
        for b in text.encode():
            s.sendall(bytes([b])); time.sleep(slow)
    else:
        try:
            s.sendall(text.encode() + b"\n")
        except BrokenPipeError:
            pass  # refused at accept: the answer is already waiting
    return s.makefile().readline().strip()
mode = sys.argv[2]
if mode == "slow":
    try:
        print(req('{"cmd":"status"}\n', 1.5))
    except (BrokenPipeError, ConnectionResetError):
        print("dropped")
elif mode == "big":
    print(req('{"cmd":"ping","pad":"' + "x" * 200000 + '"}'))
else:
    print(req(sys.argv[3]))
PY
sock=$work/st/ditfarmd.sock

# 1. a slow client
python3 client.py "$sock" slow >slow.txt 2>&1 & spid=$!
sleep 1
t0=$(date +%s%N)
timeout 3 "$D" status >/dev/null || fail "status blocked by a slow client"
t1=$(date +%s%N)
[ $(( (t1 - t0) / 1000000 )) -lt 2000 ] || fail "status took $(( (t1 - t0) / 1000000 )) ms"
wait "$spid" || true; spid=""
grep -q "dropped\|^$" slow.txt || { cat slow.txt; fail "slow client was answered or not dropped"; }
echo "ok: a client sending a byte every 1.5 s is dropped at its deadline; status answered meanwhile ($(( (t1 - t0) / 1000000 )) ms)"

# 2. too long
python3 client.py "$sock" big >big.txt 2>&1 || true
grep -q "request too long" big.txt || { cat big.txt; fail "oversized request"; }
echo "ok: oversized request refused"

# 3. no echo of files the manifest names
mj=$(python3 -c 'import json; print(json.dumps({"name": "sh", "shots": [{"id": "s1", "model": "/etc/shadow", "prompt": "x"}]}))')
python3 client.py "$sock" raw "{\"cmd\":\"submit\",\"configs\":\"$S/configs\",\"manifest\":$mj,\"opts\":{}}" >shadow.txt
grep -q "does not load in the daemon" shadow.txt || { cat shadow.txt; fail "shadow manifest"; }
grep -q "root:" shadow.txt && fail "file content echoed: $(cat shadow.txt)"
# the same through a configs dir whose model config is a link to a secret
mkdir -p fakecfg/models && ln -s /etc/passwd fakecfg/models/x.yaml
mj=$(python3 -c 'import json; print(json.dumps({"name": "pw", "shots": [{"id": "s1", "model": "x", "prompt": "x"}]}))')
python3 client.py "$sock" raw "{\"cmd\":\"submit\",\"configs\":\"$work/fakecfg\",\"manifest\":$mj,\"opts\":{}}" >pw.txt
grep -q "does not load in the daemon" pw.txt || { cat pw.txt; fail "passwd manifest"; }
grep -q "root:" pw.txt && fail "file content echoed: $(cat pw.txt)"
echo "ok: a manifest naming /etc/shadow is refused without echoing it"

# 4. cancel MANIFEST/SHOT, ambiguous bare ids
for m in ca cb; do
    printf 'name: %s\ndefaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}\nshots:\n  - {id: s1, prompt: a}\n  - {id: s2, prompt: b}\n' "$m" >"$m.yaml"
    "$D" submit "$m.yaml" --cpu-ranks 1 >/dev/null
done
set +e
"$D" cancel s1 >out.txt 2>&1; rc=$?
set -e
[ $rc = 1 ] && grep -q "matches shots of several manifests: ca/s1, cb/s1" out.txt || { cat out.txt; fail "ambiguous cancel"; }
"$D" cancel ca/s1 >out.txt || { cat out.txt; fail "cancel ca/s1"; }
[ "$(cat out.txt)" = "cancelled ca/s1" ] || { cat out.txt; fail "cancel output"; }
"$D" status | grep -Eq "^cb +s1 +queued" || fail "cb/s1 touched"
"$D" cancel s2 >out.txt 2>&1 && fail "bare s2 (in ca and cb) accepted"
"$D" cancel cb >out.txt && grep -q "cancelled cb/s1" out.txt || { cat out.txt; fail "cancel manifest"; }
echo "ok: cancel MANIFEST/SHOT; a bare id in several manifests refused with the list"
kill -TERM "$dpid"; wait "$dpid" || fail "ditfarmd exit $?"; dpid=""

# 5. another uid is refused (daemon as nobody, client as root)
if [ "$(id -u)" = 0 ]; then
    chmod 755 "$work" && mkdir -p nb && chown 65534 nb
    setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$work/nb" \
        "$DMN" --state-dir "$work/nb/st" 2>nb.log &
    dpid=$!
    for _ in $(seq 50); do [ -S nb/st/ditfarmd.sock ] && break; sleep 0.1; done
    python3 client.py "$work/nb/st/ditfarmd.sock" raw '{"cmd":"ping"}' >peer.txt
    grep -q "permission denied: ditfarmd serves only its own user" peer.txt || { cat peer.txt nb.log; fail "foreign uid served"; }
    grep -q "refused a client of uid 0" nb.log || { cat nb.log; fail "refusal not logged"; }
    echo "ok: a client of another uid is refused (SO_PEERCRED)"
else
    echo "skip: peer uid check needs root to run the daemon as another user"
fi
