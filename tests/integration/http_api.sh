#!/usr/bin/env bash
# ditfarmd's HTTP API with real curl against a real daemon on loopback, no
# cluster (sbatch is refused at once by an empty slurm.conf; submits are held
# by a long submit interval): tokens (none, wrong, revoked, read-only),
# malformed JSON and YAML (file:line:col), oversized bodies (declared and
# chunked), unknown shots, submit/cancel/retry/priority with the audit log,
# the event stream, /metrics, /healthz, the page's files, TLS; and clients
# that misbehave: slow (one header byte now and then), many at once, more
# than the per-address limit -- bounded in count and time, while other
# clients and the control socket keep being answered.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
D="$B/daemon/ditfarm" DMN="$B/daemon/ditfarmd" W="$B/worker/ditfarm-worker"
work=$(mktemp -d /tmp/df-http-api.XXXXXX)
dpid="" evpid=""
fail() {
    echo "FAIL: $*"
    [ -f "$work/daemon.log" ] && tail -n 20 "$work/daemon.log"
    exit 1
}
cleanup() {
    [ -n "$evpid" ] && kill "$evpid" 2>/dev/null || true
    if [ -n "$dpid" ]; then kill -TERM "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
: >empty.conf
export SLURM_CONF=$work/empty.conf DITFARM_STATE_DIR=$work/st
"$W" make-tiny "$S/configs/models/tiny" >/dev/null

# ---- tokens ---------------------------------------------------------------
OP=$("$D" token create ops 2>tok.err)
RO=$("$D" token create viewer --read-only 2>>tok.err)
OLD=$("$D" token create old 2>>tok.err)
[[ $OP =~ ^dft_[0-9a-f]{64}$ ]] || fail "token format: $OP"
"$D" token create ops >/dev/null 2>dup.err && fail "duplicate token name accepted"
grep -q "a token named 'ops' exists" dup.err || { cat dup.err; fail "duplicate message"; }
"$D" token revoke old 2>/dev/null
"$D" token list >list.txt
grep -Eq "^ops +operator" list.txt && grep -Eq "^viewer +read-only" list.txt && ! grep -q "^old" list.txt ||
    { cat list.txt; fail "token list"; }
sqlite3() { python3 -c 'import sqlite3,sys; print("\n".join("|".join(map(str,r)) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])))' "$@"; }
sqlite3 st/ditfarmd.db "select hash from tokens" | grep -q "${OP#dft_}" && fail "token stored in clear"
echo "ok: tokens created (printed once), listed, revoked, stored hashed"

# ---- the daemon, HTTP on an ephemeral loopback port --------------------------
# a port past 65535 is refused, not wrapped (99999 used to listen on 34463)
set +e
timeout 10 "$DMN" --state-dir "$work/st-port" --set http_listen=127.0.0.1:99999 2>port.log; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "port must be 0..65535" port.log || { cat port.log; fail "http-listen port 99999 accepted (rc $rc)"; }
"$DMN" --set http_listen=127.0.0.1:0 --set submit-interval-ms=600000 --set http-timeout-s=2 \
    --set http-request-deadline-s=4 --set http-max-clients=24 --set http-max-clients-per-ip=16 --set http-max-body=65536 \
    2>daemon.log &
dpid=$!
for _ in $(seq 50); do grep -q "HTTP on" daemon.log && break; sleep 0.1; done
port=$(sed -n 's/.*HTTP on .* (port \([0-9]*\)).*/\1/p' daemon.log)
[ -n "$port" ] || fail "no HTTP port in the log"
U=http://127.0.0.1:$port
# code METHOD PATH [TOKEN] [curl args...]: prints the status, body in body.json
code() {
    local m=$1 p=$2 t=${3:-}
    shift 3 || shift $#
    local auth=()
    [ -n "$t" ] && auth=(-H "Authorization: Bearer $t")
    curl -s -m 20 -o body.json -w '%{http_code}' -X "$m" "${auth[@]}" "$@" "$U$p"
}
expect() { # expect STATUS METHOD PATH TOKEN [curl args]
    local want=$1
    shift
    local got
    got=$(code "$@")
    [ "$got" = "$want" ] || { cat body.json; fail "$* -> $got, want $want"; }
    python3 -c 'import json,sys; json.load(open("body.json"))' 2>/dev/null ||
        [ "$want" = 200 ] || fail "$*: error body is not JSON: $(head -c 200 body.json)"
    # every error body says its status, also those made on the loop's thread
    [ "$want" -lt 400 ] || grep -q "\"status\":$want" body.json ||
        fail "$*: error body without \"status\":$want: $(head -c 200 body.json)"
}

[ "$(code GET /healthz)" = 200 ] && grep -q '"ok":true' body.json || fail "healthz"
expect 401 GET /api/v1/shots ""
grep -q "needs a token" body.json || fail "401 message"
curl -s -D hdr.txt -o /dev/null "$U/api/v1/shots"
grep -qi "^WWW-Authenticate: Bearer" hdr.txt || fail "401 without WWW-Authenticate"
expect 401 GET /api/v1/shots "dft_0000000000000000000000000000000000000000000000000000000000000000"
expect 401 GET /api/v1/shots "$OLD"
expect 401 GET /api/v1/shots "x"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $OP" "$U/api/v1/shots")" = 401 ] ||
    fail "a non-bearer scheme was accepted"
expect 200 GET /api/v1/shots "$RO"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/api/v1/shots?access_token=$RO")" = 200 ] ||
    fail "access_token query on GET"
expect 401 POST "/api/v1/shots/x/y/cancel?access_token=$OP" ""
expect 403 POST /api/v1/manifests "$RO" --data-binary 'name: x'
grep -q "read-only" body.json || fail "403 message"
expect 404 GET /api/v1/nosuch "$RO"
expect 404 GET /api/v2/shots "$RO"
expect 404 GET /nosuch.html ""
expect 400 GET "/api/v1/shots?state=bogus" "$RO"
echo "ok: no token, unknown, revoked and malformed tokens 401; read-only POST 403; unknown paths 404"

# ---- submit over HTTP ---------------------------------------------------------
printf 'shots:\n  - {id: a, model: tiny, prompt: x, steps: -3}\n' >bad.yaml
expect 400 POST "/api/v1/manifests?name=bad.yaml&cpu_ranks=1" "$OP" --data-binary @bad.yaml
grep -q 'bad.yaml:2:[0-9]*: error: shots\[0\].steps: -3 is out of range' body.json ||
    { cat body.json; fail "manifest diagnostics"; }
printf 'shots: [ {id: a\n' >broken.yaml
expect 400 POST "/api/v1/manifests?name=broken.yaml" "$OP" --data-binary @broken.yaml
grep -q 'broken.yaml:[0-9]*:[0-9]*' body.json || { cat body.json; fail "YAML syntax error position"; }
expect 400 POST "/api/v1/manifests" "$OP"
expect 400 POST "/api/v1/manifests?gpus=zero" "$OP" --data-binary @bad.yaml
cat >m.yaml <<'YAML'
name: web
defaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}
shots:
  - {id: a, prompt: a boat}
  - {id: b, prompt: a kite, after: [a]}
  - {id: c, prompt: a cat}
YAML
curl -sN -H "Authorization: Bearer $RO" "$U/api/v1/events" >events.txt &
evpid=$!
sleep 0.5
expect 201 POST "/api/v1/manifests?name=m.yaml&cpu_ranks=1" "$OP" --data-binary @m.yaml
python3 - <<'PY' || fail "submit reply"
import json
d = json.load(open("body.json"))
assert d["manifest"] == "web" and [s["state"] for s in d["shots"]] == ["queued", "waiting", "queued"], d
PY
expect 409 POST "/api/v1/manifests?cpu_ranks=1" "$OP" --data-binary @m.yaml
grep -q "has 3 active shots" body.json || fail "second submit message"
"$D" status | grep -Eq "^web +b +waiting" || fail "HTTP submit not visible to ditfarm status"
expect 400 POST "/api/v1/manifests" "$OP" -H "Content-Type: application/json" --data-binary '{"manifest": "name: x",'
grep -q "malformed JSON body" body.json || fail "malformed JSON message"
expect 400 POST "/api/v1/manifests?cpu_ranks=1" "$OP" -H "Content-Type: application/json" \
    --data-binary "$(python3 -c 'import json; print(json.dumps({"name": "j.yaml", "manifest": open("bad.yaml").read()}))')"
grep -q 'j.yaml:2:' body.json || { cat body.json; fail "JSON-wrapped manifest diagnostics"; }
cat >j.yaml <<'YAML'
name: viajson
defaults: {model: tiny, frames: 9, steps: 2, width: 64, height: 64}
shots:
  - {id: j, prompt: a boat}
YAML
expect 201 POST "/api/v1/manifests?cpu_ranks=1" "$OP" -H "Content-Type: application/json" \
    --data-binary "$(python3 -c 'import json; print(json.dumps({"manifest": open("j.yaml").read()}))')"
grep -q '"manifest":"viajson"' body.json || fail "JSON-wrapped submit"
echo "ok: YAML errors 400 with file:line:col, malformed JSON 400, submit 201 (YAML or JSON), second submit 409"

# ---- reads ------------------------------------------------------------------------
expect 200 GET "/api/v1/shots?state=waiting,queued&manifest=web" "$RO"
python3 -c 'import json; d=json.load(open("body.json")); assert sorted(s["shot"] for s in d["shots"])==["a","b","c"], d' ||
    fail "shots filter"
expect 200 GET "/api/v1/shots?state=done" "$RO"
grep -q '"shots":\[\]' body.json || fail "state filter"
expect 200 GET /api/v1/shots/web/a "$RO"
python3 - <<'PY' || fail "shot detail"
import json
d = json.load(open("body.json"))
for k in ["history", "job_id", "layout", "step", "steps", "s_per_step", "eta", "cache_hit_rate",
          "checkpoints", "log_tail", "outputs", "sidecar", "preview"]:
    assert k in d, k
assert d["history"][0]["state"] == "queued" and "ulysses" in d["layout"], d
PY
expect 404 GET /api/v1/shots/web/nosuch "$RO"
expect 404 GET /api/v1/shots/nosuch/a "$RO"
expect 404 GET /api/v1/shots/web/a/preview.png "$RO"
expect 200 GET /api/v1/manifests "$RO"
grep -q '"name":"web"' body.json || fail "manifests"
echo "ok: list with filters, shot detail, 404 for unknown shots, manifests"

# ---- mutations, audit ----------------------------------------------------------------
expect 403 POST /api/v1/shots/web/b/cancel "$RO"
expect 200 POST /api/v1/shots/web/b/cancel "$OP"
grep -q '"state":"cancelled"' body.json || fail "cancel reply"
expect 409 POST /api/v1/shots/web/b/cancel "$OP"
expect 404 POST /api/v1/shots/web/zz/cancel "$OP"
expect 200 POST /api/v1/shots/web/b/retry "$OP"
grep -q '"state":"waiting"' body.json || fail "retry reply"
expect 409 POST /api/v1/shots/web/a/retry "$OP"
expect 400 POST /api/v1/shots/web/a/priority "$OP" -d '{"priority": '
expect 400 POST /api/v1/shots/web/a/priority "$OP" -d '{"priority": "high"}'
expect 400 POST /api/v1/shots/web/a/priority "$OP" -d '[1,2'
expect 200 POST /api/v1/shots/web/a/priority "$OP" -d '{"priority": 7}'
expect 200 GET /api/v1/shots/web/a "$RO"
grep -q '"priority":7' body.json || fail "priority not kept"
expect 405 DELETE /api/v1/shots "$OP"
expect 200 POST /api/v1/manifests/web/cancel "$OP"
"$D" status | grep -Eq "^web +a +cancelled" || fail "manifest cancel"
expect 200 GET /api/v1/audit "$RO"
python3 - <<'PY' || { cat body.json; fail "audit"; }
import json
a = json.load(open("body.json"))["audit"]
acts = [(e["token"], e["action"], e["target"], e["result"]) for e in reversed(a)]
assert ("ops", "submit", "web", "ok") in acts and ("ops", "cancel", "web/b", "ok") in acts, acts
assert ("ops", "retry", "web/a", "error") in acts and ("ops", "priority", "web/a", "ok") in acts, acts
PY
grep -q "http: token 'ops' cancel web/b: ok" daemon.log || fail "audit log line"
sleep 1
grep -q '^event: state' events.txt && grep -q '"shot":"b","from":"waiting","state":"cancelled"' events.txt ||
    { cat events.txt; fail "event stream"; }
kill "$evpid"; evpid=""
echo "ok: cancel/retry/priority with 200/409/404/400/405, audit table and log line, SSE state events"

# ---- oversized bodies ---------------------------------------------------------------------
head -c 200000 /dev/zero | tr '\0' 'a' >big.txt
expect 413 POST /api/v1/manifests "$OP" --data-binary @big.txt
expect 413 POST /api/v1/manifests "$OP" -H "Transfer-Encoding: chunked" --data-binary @big.txt
expect 413 POST /api/v1/manifests "" --data-binary @big.txt
echo "ok: 413 for declared and chunked bodies over http-max-body"

# ---- metrics, page ------------------------------------------------------------------------
[ "$(code GET /metrics)" = 200 ] || fail "metrics"
for m in 'ditfarm_shots{state="cancelled"} 3' ditfarm_steps_done_total ditfarm_step_seconds_bucket \
    ditfarm_gpu_seconds_total ditfarm_webhook_deliveries_total ditfarm_webhook_failures_total \
    ditfarm_sbatch_failures_total 'ditfarm_slurm_reachable 1'; do
    grep -qF "$m" body.json || { cat body.json; fail "metrics lack $m"; }
done
[ "$(code GET /)" = 200 ] && grep -q "<html" body.json || fail "page"
for f in /app.js /style.css; do [ "$(code GET $f)" = 200 ] || fail "page file $f"; done
curl -s -D hdr.txt -o /dev/null "$U/"
grep -qi "^Content-Security-Policy: default-src 'self'" hdr.txt || { cat hdr.txt; fail "page CSP"; }
echo "ok: /metrics (Prometheus text), the page's files without a token"
"$D" status --watch=1 --count 2 >watch.txt
[ "$(grep -c '^ditfarm status at' watch.txt)" = 2 ] && [ "$(grep -Ec '^web +a +cancelled' watch.txt)" = 2 ] ||
    { cat watch.txt; fail "status --watch"; }
echo "ok: ditfarm status --watch redraws"

# ---- misbehaving clients ------------------------------------------------------------------
python3 - "$port" "$D" <<'PY' || fail "slow and concurrent clients"
import socket, subprocess, sys, threading, time, urllib.request
port, cli = int(sys.argv[1]), sys.argv[2]
def slow():  # a slowloris: the request line, then nothing
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    return s
slows = [slow() for _ in range(12)]
t0 = time.time()
with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
    assert r.status == 200
t_http = time.time() - t0
t0 = time.time()
subprocess.run([cli, "status"], check=True, stdout=subprocess.DEVNULL, timeout=10)
t_ctl = time.time() - t0
assert t_http < 1 and t_ctl < 2, (t_http, t_ctl)
# the idle timeout (2 s) closes them
time.sleep(3.5)
closed = 0
for s in slows:
    s.settimeout(1)
    try:
        closed += s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        closed += 1
assert closed == len(slows), f"{closed} of {len(slows)} slow clients closed"
# more than the per-address limit (16): the extra ones are refused, not queued
held = [slow() for _ in range(16)]
time.sleep(0.2)
extra = socket.create_connection(("127.0.0.1", port))
extra.settimeout(3)
extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    got = extra.recv(100)
except ConnectionResetError:
    got = b""
assert not got.startswith(b"HTTP/1.1 200"), got
for s in held:
    s.close()
time.sleep(0.3)
# many at once: under the per-address limit all are answered; a burst over it
# gets answers or quick refusals, never a hang
def one(res):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            res.append(r.status)
    except (ConnectionError, OSError) as e:
        res.append(type(e).__name__)
def burst(n):
    res = []
    ths = [threading.Thread(target=one, args=(res,)) for _ in range(n)]
    t0 = time.time()
    [t.start() for t in ths]
    [t.join() for t in ths]
    return res, time.time() - t0
ok, took = burst(12)
assert ok.count(200) == 12 and took < 10, (ok, took)
time.sleep(0.5)
res, took2 = burst(60)
assert len(res) == 60 and res.count(200) >= 16 and took2 < 10, (res, took2)
refused = 60 - res.count(200)
# every per-address slot (16) held by clients trickling a header byte a second
# (never idle for the 2 s timeout): each is cut at the request deadline (4 s),
# so another client from that address is answered within it, not locked out
# for as long as they trickle (before: refused for ever; one stayed > 50 s)
cut = []
def trickler():
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.time()
    try:
        for b in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 40:
            s.sendall(bytes([b]))
            time.sleep(1)
    except (BrokenPipeError, ConnectionResetError):
        cut.append(time.time() - t0)
    s.close()
tr = [threading.Thread(target=trickler) for _ in range(16)]
[t.start() for t in tr]
time.sleep(1.5)
t0 = time.time()
answered = None
for _ in range(40):  # bounded: 40 x (curl up to 1 s + 0.25 s)
    p = subprocess.run(["curl", "-s", "-m", "1", "-o", "/dev/null", "-w", "%{http_code}",
                        f"http://127.0.0.1:{port}/healthz"], capture_output=True, text=True)
    if p.stdout == "200":
        answered = time.time() - t0
        break
    time.sleep(0.25)
[t.join(timeout=60) for t in tr]
assert answered is not None and answered < 6, f"locked out by tricklers: {answered}"
assert len(cut) == 16 and max(cut) < 7, f"tricklers cut: {sorted(cut)}"
t_lock = answered
# a body trickled one byte a second: closed at the request deadline (4 s)
t0 = time.time()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /api/v1/manifests HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
closed_after = None
for _ in range(30):
    try:
        s.sendall(b"a")
    except (BrokenPipeError, ConnectionResetError):
        closed_after = time.time() - t0
        break
    time.sleep(1)
assert closed_after is not None and closed_after < 7, closed_after
print(f"ok: 12 slow clients: others answered in {t_http*1000:.0f} ms (HTTP), "
      f"{t_ctl*1000:.0f} ms (control socket); closed after the idle timeout; the 17th "
      f"connection from one address refused; 12 concurrent requests answered in {took:.1f} s; of 60 "
      f"at once {60 - refused} answered, {refused} refused, in {took2:.1f} s; a trickled body "
      f"cut after {closed_after:.0f} s; with 16 header tricklers holding every slot, curl "
      f"answered after {t_lock:.1f} s (tricklers cut at {min(cut):.1f}..{max(cut):.1f} s)")
PY
"$D" status >/dev/null || fail "control socket after the storm"

# ---- TLS -------------------------------------------------------------------------------------
kill -TERM "$dpid"; wait "$dpid" || fail "ditfarmd exit status $?"; dpid=""
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
"$DMN" --set http_listen=127.0.0.1:0 --set http-tls-cert=cert.pem --set http-tls-key=key.pem \
    --set submit-interval-ms=600000 2>daemon.log &
dpid=$!
for _ in $(seq 50); do grep -q "HTTP on" daemon.log && break; sleep 0.1; done
port=$(sed -n 's/.*HTTP on .* (port \([0-9]*\)).*/\1/p' daemon.log)
grep -q "with TLS" daemon.log || fail "TLS not announced"
[ "$(curl -s --cacert cert.pem -o body.json -w '%{http_code}' -H "Authorization: Bearer $RO" \
    "https://127.0.0.1:$port/api/v1/shots")" = 200 ] || fail "HTTPS request"
curl -s -m 3 -o /dev/null "http://127.0.0.1:$port/healthz" && fail "plain HTTP answered on the TLS port"
kill -TERM "$dpid"; wait "$dpid" || fail "ditfarmd exit status $?"; dpid=""
set +e
"$DMN" --set http_listen=127.0.0.1:0 --set http-tls-cert=cert.pem 2>err.txt; rc=$?
"$DMN" --set http_listen=nonsense 2>err2.txt; rc2=$?
set -e
[ $rc = 1 ] && grep -q "TLS needs both" err.txt || { cat err.txt; fail "cert without key"; }
[ $rc2 = 1 ] && grep -q "expected ADDR:PORT" err2.txt || { cat err2.txt; fail "bad http_listen"; }
# IPv6 loopback when the machine has it, and a port already taken (by that
# daemon) refused by a second one
lo=127.0.0.1 lo_url=127.0.0.1
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    lo='[::1]' lo_url='[::1]'
fi
"$DMN" --set "http_listen=$lo:0" --set submit-interval-ms=600000 2>daemon.log &
dpid=$!
for _ in $(seq 50); do grep -q "HTTP on" daemon.log && break; sleep 0.1; done
port=$(sed -n 's/.*HTTP on .* (port \([0-9]*\)).*/\1/p' daemon.log)
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$lo_url:$port/healthz")" = 200 ] || fail "listen on $lo"
set +e
DITFARM_STATE_DIR=$work/st2 "$DMN" --set "http_listen=$lo:$port" 2>err3.txt; rc3=$?
set -e
[ $rc3 = 1 ] && grep -qF "cannot listen for HTTP on $lo:$port" err3.txt || { cat err3.txt; fail "taken port"; }
kill -TERM "$dpid"; wait "$dpid" || fail "ditfarmd exit status $?"; dpid=""
echo "ok: TLS with a certificate and key; plain HTTP refused there; half a TLS setup and a bad address refused; listening on $lo; a taken port refused"
