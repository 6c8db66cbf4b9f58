#!/usr/bin/env bash
# The web page, driven in headless Chromium (Debian's package) against a real
# ditfarmd on the dev cluster (slurm/dev-cluster): the page takes an operator
# token, submits a two-shot manifest from its form, the shots appear in the
# queue, shot a's progress reaches done (the row updated live from the event
# stream, not by reloading) and its page draws the worker's preview; shot b is
# opened, its priority lowered (Slurm's nice follows) and cancelled with the
# page's buttons (its Slurm job is scancelled); a
# screenshot of each view is kept under $DF_BUILD_DIR/test-artifacts/.
#
# Chromium is driven over its DevTools protocol by a small Python script
# (stdlib only: a minimal WebSocket client), which is steadier than
# --dump-dom for a page that must be typed into and clicked.
set -euo pipefail
B="${DF_BUILD_DIR:?}" S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker" D="$B/daemon/ditfarm" DMN="$B/daemon/ditfarmd"
dc="$S/slurm/dev-cluster"
art="$B/test-artifacts"
fail() {
    echo "FAIL: $*"
    [ -f "${work:-/nonexistent}/daemon.log" ] && tail -n 30 "$work/daemon.log"
    exit 1
}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || fail "no chromium (Debian package chromium; scripts/setup installs it)"
was_up=0
"$dc" status >/dev/null 2>&1 && was_up=1
work=$(mktemp -d /tmp/df-http-page.XXXXXX)
dpid="" cpid=""
cleanup() {
    [ -n "$cpid" ] && { kill "$cpid" 2>/dev/null || true; wait "$cpid" 2>/dev/null || true; }
    if [ -n "$dpid" ]; then kill -TERM "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
    if [ $was_up = 0 ]; then "$dc" down >/dev/null 2>&1 || true; fi
    [ -n "${DF_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
"$dc" up >/dev/null
eval "$("$dc" env)"
cd "$work"
mkdir -p "$art"
"$W" make-tiny "$S/configs/models/tiny" >/dev/null
export DITFARM_STATE_DIR=$work/st
TOK=$("$D" token create page-operator 2>/dev/null)
mkdir -p "$work/out"

"$DMN" --set http_listen=127.0.0.1:0 --set output-roots="$work/out" --set squeue-interval-ms=300 --set submit-interval-ms=200 \
    --set sinfo-interval-ms=1000 2>daemon.log &
dpid=$!
for _ in $(seq 50); do grep -q "HTTP on" daemon.log && break; sleep 0.1; done
port=$(sed -n 's/.*HTTP on .* (port \([0-9]*\)).*/\1/p' daemon.log)
[ -n "$port" ] || fail "no HTTP port in the log"

"$browser" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --user-data-dir="$work/chrome" --remote-debugging-port=0 --window-size=1280,900 \
    about:blank >chrome.log 2>&1 &
cpid=$!
for _ in $(seq 100); do [ -s chrome/DevToolsActivePort ] && break; sleep 0.1; done
[ -s chrome/DevToolsActivePort ] || { cat chrome.log; fail "chromium did not open its DevTools port"; }
devport=$(head -1 chrome/DevToolsActivePort)

cat >manifest.yaml <<'YAML'
name: page
defaults: {model: tiny, frames: 9, width: 64, height: 64}
shots:
  - {id: a, prompt: a boat at dawn, steps: 6}
  - {id: b, prompt: a long kite flight, steps: 1000, width: 256, height: 256, frames: 17}
YAML

cat >drive.py <<'PY'
import base64, json, os, socket, struct, sys, time, urllib.request

devport, url, token, art = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
yaml_text = open("manifest.yaml").read()

class CDP:
    """A minimal DevTools client: one WebSocket, text frames, request/response by id."""
    def __init__(self, ws_url):
        host, rest = ws_url[len("ws://"):].split("/", 1)
        h, p = host.split(":")
        self.s = socket.create_connection((h, int(p)), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.n = 0
    def _recv_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError("devtools closed")
            b += c
        return b
    def _recv_msg(self):
        data = b""
        while True:
            b0, b1 = self._recv_exact(2)
            ln = b1 & 0x7F
            if ln == 126:
                ln = struct.unpack(">H", self._recv_exact(2))[0]
            elif ln == 127:
                ln = struct.unpack(">Q", self._recv_exact(8))[0]
            data += self._recv_exact(ln)
            if b0 & 0x80:
                return data
    def call(self, method, **params):
        self.n += 1
        msg = json.dumps({"id": self.n, "method": method, "params": params}).encode()
        hdr = bytes([0x81])
        if len(msg) < 126:
            hdr += bytes([0x80 | len(msg)])
        elif len(msg) < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", len(msg))
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", len(msg))
        mask = os.urandom(4)
        self.s.sendall(hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(msg)))
        while True:
            r = json.loads(self._recv_msg())
            if r.get("id") == self.n:
                if "error" in r:
                    raise RuntimeError(f"{method}: {r['error']}")
                return r["result"]
    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")
    def wait(self, expr, what, timeout):
        t0 = time.time()
        while time.time() - t0 < timeout:
            v = self.js(expr)
            if v:
                return v
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; page: " +
                             str(self.js("document.body.innerText.slice(0, 1500)")))
    def shot(self, path):
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        open(path, "wb").write(png)
        return len(png)

pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{devport}/json/list"))
page = next(p for p in pages if p["type"] == "page")
c = CDP(page["webSocketDebuggerUrl"])
c.call("Page.enable")
c.call("Page.navigate", url=url)
c.wait("document.readyState === 'complete' && !!document.getElementById('token')", "the page", 20)
assert "Enter an API token" in c.js("document.getElementById('error').textContent")

# the token, typed into the page
c.js(f"document.getElementById('token').value = {json.dumps(token)};"
     "document.getElementById('save-token').click()")
c.wait("document.getElementById('who').textContent.includes('operator')", "whoami", 10)
assert c.js("sessionStorage.getItem('ditfarm-token')") == token
c.wait("document.getElementById('live').textContent === 'live'", "the event stream", 10)

# submit from the page's form
c.js("document.getElementById('submit-box').open = true;"
     f"document.getElementById('submit-yaml').value = {json.dumps(yaml_text)};"
     "document.getElementById('submit-kind').value = 'cpu_ranks';"
     "document.getElementById('submit-count').value = '1';"
     "document.getElementById('submit-btn').click()")
res = c.wait("document.getElementById('submit-result').dataset.ok", "the submit reply", 30)
assert res == "1", c.js("document.getElementById('submit-result').textContent")
print("ok: token entered, manifest submitted from the page:",
      c.js("document.getElementById('submit-result').textContent"))

row = lambda s: f"document.querySelector('#queue tr[data-id=\"page/{s}\"]')"
c.wait(f"!!({row('a')} && {row('b')})", "both shots in the queue", 20)
# progress seen while running, without a reload (the page never navigates)
c.js("window.__marker = 1")
seen = set()
t0 = time.time()
while time.time() - t0 < 240:
    st = c.js(f"{row('a')} && {row('a')}.dataset.state")
    steps = c.js(f"{row('a')} && {row('a')}.querySelector('.steps').textContent")
    seen.add((st, steps))
    if st == "done":
        break
    if st in ("failed", "cancelled"):
        raise AssertionError(f"shot a ended {st}: " + c.js(f"{row('a')}.innerText"))
    time.sleep(0.3)
else:
    raise AssertionError(f"shot a never reached done; seen {sorted(map(str, seen))}")
assert c.js("window.__marker") == 1, "the page reloaded"
assert c.js(f"{row('a')}.querySelector('.bar span').style.width") == "100%"
assert c.js(f"{row('a')}.querySelector('.steps').textContent") == "6/6"
print("ok: shot a reached done in the queue (states seen: "
      + ", ".join(sorted({s for s, _ in seen if s})) + ")")
# a's page shows the worker's preview (fetched with the token, drawn by the browser)
c.js(f"{row('a')}.click()")
c.wait("!document.getElementById('shot-view').hidden && document.body.dataset.shotState === 'done'",
       "the shot page of a", 20)
size = c.wait("(() => { const i = document.getElementById('preview-img');"
              " return !i.hidden && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.naturalHeight] : null; })()",
              "a's preview image", 20)
print("ok: a's preview drawn in the page,", size, "pixels;",
      c.js("document.getElementById('preview-cap').textContent"))
print("preview screenshot:", c.shot(os.path.join(art, "http_page_preview.png")), "bytes")
c.js("location.hash = '#/'")
c.wait("!document.getElementById('queue-view').hidden", "the queue again", 10)
# b is running, its progress moving live
c.wait(f"{row('b')}.dataset.state === 'running' && /^[1-9][0-9]*\\/1000$/.test({row('b')}.querySelector('.steps').textContent)",
       "shot b running with progress", 120)
print("ok: shot b running, progress", c.js(f"{row('b')}.querySelector('.steps').textContent"))
print("queue screenshot:", c.shot(os.path.join(art, "http_page_queue.png")), "bytes")

# open b and cancel it with the page's button
c.js(f"{row('b')}.click()")
c.wait("!document.getElementById('shot-view').hidden && document.body.dataset.shotState === 'running'",
       "the shot page of b", 20)
c.wait("document.getElementById('log').textContent.includes('step ')", "b's log tail", 30)
c.wait("!document.getElementById('btn-cancel').disabled && "
       "getComputedStyle(document.getElementById('btn-cancel')).display !== 'none'", "the cancel button", 10)
# lower b's priority from the page: Slurm's nice follows
c.js("document.getElementById('prio').value = '-5'; document.getElementById('btn-prio').click()")
c.wait("document.getElementById('action-result').textContent.startsWith('priority: ok')",
       "the priority change", 30)
req = urllib.request.Request(url + "api/v1/shots/page/b", headers={"Authorization": "Bearer " + token})
job = json.load(urllib.request.urlopen(req))["job_id"]
import subprocess
nice = subprocess.run(["squeue", "-h", "-j", job, "-o", "%y"], capture_output=True, text=True).stdout.strip()
assert nice == "5", f"job {job} nice is {nice!r}"
print(f"ok: priority -5 set from b's page: Slurm job {job} has nice {nice}")
c.js("document.getElementById('btn-cancel').click()")
c.wait("document.body.dataset.shotState === 'cancelled'", "b cancelled", 60)
assert "cancel: ok" in c.js("document.getElementById('action-result').textContent")
c.wait("document.getElementById('history').textContent.includes('cancelled')", "b's history", 10)
print("shot screenshot:", c.shot(os.path.join(art, "http_page_shot.png")), "bytes")
print("ok: shot b cancelled from its page:", c.js("document.getElementById('action-result').textContent"))
PY
python3 drive.py "$devport" "http://127.0.0.1:$port/" "$TOK" "$art" || fail "the page in Chromium"

# what the page did, seen from the other side
"$D" status >status.txt
grep -Eq "^page +a +done" status.txt && grep -Eq "^page +b +cancelled" status.txt || { cat status.txt; fail "states"; }
jb=$("$D" status --json | python3 -c 'import json,sys; print(next(s["job_id"] for s in json.load(sys.stdin)["shots"] if s["shot"]=="b"))')
for _ in $(seq 50); do squeue -h -j "$jb" -t R,PD 2>/dev/null | grep -q . || break; sleep 0.2; done
squeue -h -j "$jb" -t R,PD 2>/dev/null | grep -q . && fail "job $jb of b still in Slurm"
grep -q "http: token 'page-operator' cancel page/b: ok" daemon.log || fail "audit line of the page's cancel"
grep -q "http: token 'page-operator' priority page/b: ok (200): priority -5" daemon.log || fail "audit line of the priority"
grep -q "http: token 'page-operator' submit page: ok" daemon.log || fail "audit line of the page's submit"
[ -s "$art/http_page_queue.png" ] && [ -s "$art/http_page_shot.png" ] || fail "screenshots"
curl -s -o a.png -w '%{content_type}' -H "Authorization: Bearer $TOK" \
    "http://127.0.0.1:$port/api/v1/shots/page/a/preview.png" | grep -q image/png || fail "preview over the API"
python3 - <<'PY' || fail "preview.png is not a valid PNG"
import struct, zlib
b = open("a.png", "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w = 8, b"", 0
while pos < len(b):
    n, t = struct.unpack(">I4s", b[pos:pos + 8])
    data, crc = b[pos + 8:pos + 8 + n], struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])[0]
    assert zlib.crc32(t + data) == crc, t
    if t == b"IHDR":
        w, h = struct.unpack(">II", data[:8])
    if t == b"IDAT":
        idat += data
    pos += 12 + n
raw = zlib.decompress(idat)
assert len(raw) == h * (1 + 3 * w), (len(raw), w, h)
print(f"ok: preview.png {w}x{h}, CRCs and zlib stream valid")
PY
grep -q "shot a: [0-9]* previews, .* ms each (map fitted to the VAE in" st/jobs/page/a/logs/*.out ||
    fail "the worker did not log its preview cost"
grep -h "previews, " st/jobs/page/a/logs/*.out | sed 's/.*shot a: /worker: /' 
echo "ok: a done, b cancelled in ditfarmd and out of Slurm (job $jb); audit lines name the token; screenshots in $art"
