#!/usr/bin/env bash
# Webhooks and private state (issue 15), no cluster needed (Slurm's clients
# read an empty config and refuse, so every shot fails at sbatch and its
# shot.failed webhook is what gets sent):
#   - notify URLs other than http(s), with blanks, or without a host are
#     refused when the manifest loads;
#   - by default a receiver on loopback / link-local (169.254.169.254) is
#     refused and nothing reaches it; the reason is logged with the URL's
#     credentials and query redacted;
#   - with webhook-allow-private 1 the POST arrives signed: the receiver
#     checks X-Ditfarm-Signature with openssl (the recipe of docs/security.md);
#   - a secret file readable by others stops the daemon at start;
#   - the state dir is 0700, the store, the key and stored manifests 0600.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
D="$B/daemon/ditfarm" DMN="$B/daemon/ditfarmd" W="$B/worker/ditfarm-worker"
fail() {
    echo "FAIL: $*"
    [ -f "${work:-/nonexistent}/daemon.log" ] && tail -n 20 "$work/daemon.log"
    exit 1
}
work=$(mktemp -d /tmp/df-harden-hooks.XXXXXX)
dpid="" rpid=""
cleanup() {
    if [ -n "$dpid" ]; then kill -TERM "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
    if [ -n "$rpid" ]; then kill "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
: >empty.conf
export SLURM_CONF=$work/empty.conf DITFARM_STATE_DIR=$work/st
"$W" make-tiny "$S/configs/models/tiny" >/dev/null

# 1. manifest-time checks
for u in "file:///etc/shadow" "gopher://127.0.0.1:6379/_x" "http://a/ file:///etc/shadow" \
         "http:///nohost" "http://exa mple/"; do
    printf 'name: w\nshots:\n  - {id: s1, model: tiny, prompt: x, notify: ["%s"]}\n' "$u" >w.yaml
    set +e
    "$D" validate w.yaml >out.txt 2>&1; rc=$?
    set -e
    [ $rc = 1 ] && grep -q "webhook '" out.txt || { cat out.txt; fail "URL '$u' accepted"; }
done
echo "ok: non-http(s), blank-separated and host-less webhook URLs refused at load"

# 2. a receiver: records headers and body per POST
cat >recv.py <<'PY'
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open("posts.jsonl", "a") as f:
            f.write(json.dumps({"ts": self.headers.get("X-Ditfarm-Timestamp"),
                                "sig": self.headers.get("X-Ditfarm-Signature"),
                                "body": body.decode()}) + "\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open("port", "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 recv.py & rpid=$!
for _ in $(seq 50); do [ -s port ] && break; sleep 0.1; done
port=$(cat port)
hook="http://user:hunter2@127.0.0.1:$port/hook?token=SECRET"
manifest() {
    printf 'name: %s\ndefaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}\nshots:\n  - {id: s1, prompt: a boat, notify: ["%s", "http://169.254.169.254/latest/meta-data/"]}\n' "$1" "$hook" >"$1.yaml"
}
start_daemon() {
    "$DMN" --set submit-interval-ms=100 --set webhook-interval-ms=100 --set webhook-retry-base-s=1 \
        --set output-roots="$work" "$@" 2>>daemon.log &
    dpid=$!
    for _ in $(seq 50); do [ -S st/ditfarmd.sock ] && break; sleep 0.1; done
    [ -S st/ditfarmd.sock ] || fail "ditfarmd did not start"
}
stop_daemon() { kill -TERM "$dpid"; wait "$dpid" || fail "ditfarmd exit $?"; dpid=""; }

start_daemon
manifest m1
"$D" submit m1.yaml --cpu-ranks 1 >/dev/null
for _ in $(seq 50); do grep -q "169.254.169.254" daemon.log && grep -q "127.0.0.1.*refused" daemon.log && break; sleep 0.2; done
grep -q "is a loopback, private or link-local address (127.0.0.1): refused" daemon.log || fail "loopback receiver not refused"
grep -q "169.254.169.254.*refused" daemon.log || fail "metadata address not refused"
[ ! -s posts.jsonl ] || fail "a refused receiver got a POST"
grep -q "hunter2\|SECRET" daemon.log && fail "credentials or query logged"
grep -q "POST http://\*\*\*@127.0.0.1:$port/hook?\*\*\*" daemon.log || fail "redacted URL not in the log"
echo "ok: loopback and link-local receivers refused; URL logged redacted"

# 3. private state
[ "$(stat -c %a st)" = 700 ] || fail "state dir $(stat -c %a st)"
for f in st/ditfarmd.db st/webhook.secret st/manifests/*.json; do
    [ "$(stat -c %a "$f")" = 600 ] || fail "$f is $(stat -c %a "$f")"
done
echo "ok: state dir 0700; store, key and stored manifests 0600"

# 4. allowed: signed POSTs, checked with openssl
stop_daemon
start_daemon --set webhook-allow-private=1
manifest m2
"$D" submit m2.yaml --cpu-ranks 1 >/dev/null
for _ in $(seq 100); do grep -q 'manifest\\":\\"m2' posts.jsonl 2>/dev/null && break; sleep 0.2; done
grep -q 'manifest\\":\\"m2' posts.jsonl 2>/dev/null || fail "no POST with webhook-allow-private 1"
key=$(cat st/webhook.secret)
python3 -c '
import json, sys
for l in open("posts.jsonl"):
    p = json.loads(l)
    open("ts", "w").write(p["ts"]); open("sig", "w").write(p["sig"]); open("body", "w").write(p["body"])
    break'
ts=$(cat ts)
want=$( { printf '%s.' "$ts"; cat body; } | openssl dgst -sha256 -hmac "$key" | sed 's/^.*= //')
[ "$(cat sig)" = "sha256=$want" ] || fail "signature $(cat sig) != sha256=$want"
echo "ok: POST signed, X-Ditfarm-Signature verified with openssl"

# 5. a key file others can read stops the daemon
stop_daemon
echo "0123456789abcdef0123" >open.key && chmod 644 open.key
set +e
"$DMN" --set webhook-secret-file="$work/open.key" 2>err.txt; rc=$?
set -e
[ $rc = 1 ] && grep -q "readable by others (mode 644): chmod 600" err.txt || { cat err.txt; fail "open key accepted"; }
echo "ok: a webhook secret readable by others refused"
