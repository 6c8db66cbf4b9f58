// The ditfarm page: the queue, one shot, live through the event stream.
// Plain JavaScript, no build step, nothing loaded from elsewhere.  The token
// is kept in sessionStorage (gone with the tab) and sent as a Bearer header;
// EventSource cannot send headers, so the stream gets it as ?access_token=.
'use strict';

const $ = (id) => document.getElementById(id);
const KEY = 'ditfarm-token';
let token = sessionStorage.getItem(KEY) || '';
let scope = '';
let source = null;
let current = null;      // [manifest, shot] on the shot view
let shots = new Map();   // "m/s" -> summary
let queueTimer = null, shotTimer = null, previewUrl = null, previewStamp = 0;

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function showError(msg) {
  const e = $('error');
  e.textContent = msg || '';
  e.hidden = !msg;
}

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  const type = r.headers.get('Content-Type') || '';
  const body = type.startsWith('application/json') ? await r.json() : await r.blob();
  if (!r.ok) {
    const err = new Error((body && body.error) || ('HTTP ' + r.status));
    err.status = r.status;
    err.body = body;
    throw err;
  }
  return body;
}

function fmtSecs(s) {
  if (s == null || s < 0) return '-';
  if (s < 10) return s.toFixed(2) + 's';
  if (s < 60) return s.toFixed(1) + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + String(Math.floor(s % 60)).padStart(2, '0') + 's';
  return Math.floor(s / 3600) + 'h' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + 'm';
}

function progressOf(s) {
  if (s.state === 'done') return 1;
  return s.steps ? s.step / s.steps : 0;
}

// ---- token ------------------------------------------------------------------

async function useToken(t) {
  token = t;
  if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY);
  scope = '';
  document.body.classList.remove('is-operator');
  $('who').textContent = '';
  if (!t) { showError('Enter an API token to see the queue.'); connect(); return; }
  try {
    const w = await api('/api/v1/whoami');
    scope = w.scope;
    $('who').textContent = w.token + ' (' + w.scope + ')';
    document.body.classList.toggle('is-operator', w.scope === 'operator');
    showError('');
  } catch (e) {
    showError('Token refused: ' + e.message);
  }
  connect();
  route();
}

// ---- queue --------------------------------------------------------------------

function rowHtml(s) {
  const pct = Math.round(progressOf(s) * 100);
  const note = s.state === 'done' ? s.output : (s.reason || (s.state === 'waiting' ? 'after ' + s.after : ''));
  return `<td>${esc(s.manifest)}</td><td>${esc(s.shot)}</td>` +
    `<td><span class="state ${esc(s.state)}">${esc(s.state)}</span></td>` +
    `<td><span class="bar" title="${pct}%"><span style="width:${pct}%"></span></span> ` +
    `<span class="steps">${s.steps ? s.step + '/' + s.steps : '-'}</span></td>` +
    `<td>${fmtSecs(s.s_per_step)}</td><td class="eta">${s.state === 'running' && s.eta ? esc(s.eta) : '-'}</td>` +
    `<td>${esc(s.job_id || '-')}</td><td class="muted">${esc(note)}</td>`;
}

function renderQueue() {
  const tbody = document.querySelector('#queue tbody');
  const list = [...shots.values()];
  tbody.innerHTML = '';
  const counts = {};
  for (const s of list) {
    counts[s.state] = (counts[s.state] || 0) + 1;
    const tr = document.createElement('tr');
    tr.dataset.id = s.manifest + '/' + s.shot;
    tr.dataset.state = s.state;
    tr.innerHTML = rowHtml(s);
    tr.onclick = () => { location.hash = '#/shot/' + encodeURIComponent(s.manifest) + '/' + encodeURIComponent(s.shot); };
    tbody.appendChild(tr);
  }
  $('empty').hidden = list.length > 0;
  $('counts').textContent = Object.entries(counts).map(([k, v]) => v + ' ' + k).join(', ');
}

async function loadQueue() {
  if (!token) return;
  const q = new URLSearchParams();
  if ($('state-filter').value) q.set('state', $('state-filter').value);
  if ($('manifest-filter').value.trim()) q.set('manifest', $('manifest-filter').value.trim());
  try {
    const d = await api('/api/v1/shots?' + q);
    shots = new Map(d.shots.map((s) => [s.manifest + '/' + s.shot, s]));
    renderQueue();
    showError('');
  } catch (e) {
    showError(e.message);
  }
}

function soon(fn, ms, which) {
  if (which === 'queue') { clearTimeout(queueTimer); queueTimer = setTimeout(fn, ms); }
  else { clearTimeout(shotTimer); shotTimer = setTimeout(fn, ms); }
}

// ---- one shot --------------------------------------------------------------------

function fact(k, v) { return `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`; }

async function loadPreview(d) {
  $('preview-img').hidden = !d.preview;
  if (!d.preview) { $('preview-cap').textContent = 'no preview yet'; return; }
  if (d.preview.mtime === previewStamp) return;
  try {
    const blob = await api(d.preview.url);
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(blob);
    $('preview-img').src = previewUrl;
    previewStamp = d.preview.mtime;
    $('preview-cap').textContent = 'preview at step ' + d.step + ' of ' + d.steps;
  } catch (e) { /* the next refresh tries again */ }
}

async function loadShot() {
  if (!current || !token) return;
  const [m, s] = current;
  try {
    const d = await api('/api/v1/shots/' + encodeURIComponent(m) + '/' + encodeURIComponent(s));
    $('shot-title').textContent = m + ' / ' + s;
    $('shot-state').innerHTML = `<span class="state ${esc(d.state)}">${esc(d.state)}</span> ` +
      (d.steps ? `step ${d.step}/${d.steps}` : '');
    $('shot-bar').style.width = Math.round(progressOf(d) * 100) + '%';
    $('shot-facts').innerHTML = fact('Slurm job', d.job_id || '-') + fact('attempts', d.attempts) +
      fact('layout', d.layout || '-') + fact('ranks', d.ranks) + fact('s/step', fmtSecs(d.s_per_step)) +
      fact('ETA', d.state === 'running' ? (d.eta || '-') : '-') +
      fact('cache hit rate', d.cache_hit_rate == null ? '-' : Math.round(d.cache_hit_rate * 100) + '%') +
      fact('priority', d.priority) + fact('output', d.outputs.video || '-') +
      fact('sidecar', d.outputs.sidecar_path || '-') + fact('reason', d.reason || '-') +
      fact('job dir', d.job_dir);
    $('log').textContent = d.log_tail || '(no log yet)';
    $('log').scrollTop = $('log').scrollHeight;
    $('checkpoints').innerHTML = d.checkpoints.length
      ? d.checkpoints.map((c) => `<li>${esc(c.file)} <span class="muted">${c.bytes} bytes, ${new Date(c.mtime * 1000).toLocaleTimeString()}</span></li>`).join('')
      : '<li class="muted">none</li>';
    $('history').innerHTML = d.history.map((h) =>
      `<li>${new Date(h.at * 1000).toLocaleTimeString()} ${esc(h.from || 'new')} &rarr; <b>${esc(h.state)}</b>` +
      `${h.job_id ? ' (job ' + esc(h.job_id) + ')' : ''} <span class="muted">${esc(h.reason)}</span></li>`).join('');
    $('btn-cancel').disabled = ['done', 'failed', 'cancelled'].includes(d.state);
    $('btn-retry').disabled = !['failed', 'cancelled'].includes(d.state);
    if (document.activeElement !== $('prio')) $('prio').value = d.priority;
    document.body.dataset.shotState = d.state;
    await loadPreview(d);
    showError('');
  } catch (e) {
    showError(e.message);
  }
  // running shots refresh their preview and log even between events
  soon(loadShot, 3000, 'shot');
}

async function act(what, body) {
  const [m, s] = current;
  $('action-result').textContent = '...';
  try {
    const r = await api('/api/v1/shots/' + encodeURIComponent(m) + '/' + encodeURIComponent(s) + '/' + what,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : '' });
    $('action-result').textContent = what + ': ok' + (r.errors && r.errors.length ? ' (' + r.errors.join('; ') + ')' : '');
  } catch (e) {
    $('action-result').textContent = what + ': ' + e.message;
  }
  loadShot();
}

// ---- submit ------------------------------------------------------------------------

async function submit() {
  const out = $('submit-result');
  out.textContent = 'submitting...';
  const q = new URLSearchParams({ name: 'page.yaml' });
  q.set($('submit-kind').value, $('submit-count').value || '1');
  try {
    const r = await api('/api/v1/manifests?' + q, { method: 'POST', headers: { 'Content-Type': 'application/yaml' }, body: $('submit-yaml').value });
    out.textContent = 'manifest ' + r.manifest + ': ' + r.shots.map((s) => s.shot + ' ' + s.state).join(', ');
    out.dataset.ok = '1';
    loadQueue();
  } catch (e) {
    out.textContent = e.message + (e.body && e.body.diagnostics ? '\n' + e.body.diagnostics.join('\n') : '');
    out.dataset.ok = '0';
  }
}

// ---- live ---------------------------------------------------------------------------

function connect() {
  if (source) { source.close(); source = null; }
  $('live').className = 'live off';
  $('live').textContent = 'offline';
  if (!token) return;
  source = new EventSource('/api/v1/events?access_token=' + encodeURIComponent(token));
  source.onopen = () => { $('live').className = 'live on'; $('live').textContent = 'live'; loadQueue(); };
  source.onerror = () => { $('live').className = 'live off'; $('live').textContent = 'reconnecting'; };
  source.addEventListener('state', (ev) => {
    const e = JSON.parse(ev.data);
    soon(loadQueue, 150, 'queue');
    if (current && current[0] === e.manifest && current[1] === e.shot) soon(loadShot, 150, 'shot');
  });
  source.addEventListener('progress', (ev) => {
    const e = JSON.parse(ev.data);
    const key = e.manifest + '/' + e.shot;
    const s = shots.get(key);
    if (s) {
      Object.assign(s, { step: e.step, steps: e.steps, eta: e.eta, state: e.state });
      if (e.s_per_step != null) s.s_per_step = e.s_per_step;
      const tr = document.querySelector(`#queue tr[data-id="${CSS.escape(key)}"]`);
      if (tr) tr.innerHTML = rowHtml(s);
    }
    if (current && current[0] === e.manifest && current[1] === e.shot) soon(loadShot, 100, 'shot');
  });
  source.addEventListener('reset', () => loadQueue());
}

// ---- routing ----------------------------------------------------------------------------

function route() {
  const m = location.hash.match(/^#\/shot\/([^/]+)\/([^/]+)$/);
  current = m ? [decodeURIComponent(m[1]), decodeURIComponent(m[2])] : null;
  $('shot-view').hidden = !current;
  $('queue-view').hidden = !!current;
  clearTimeout(shotTimer);
  previewStamp = 0;
  if (current) loadShot(); else loadQueue();
}

$('token-form').onsubmit = (e) => { e.preventDefault(); useToken($('token').value.trim()); };
$('forget-token').onclick = () => { $('token').value = ''; useToken(''); };
$('state-filter').onchange = loadQueue;
$('manifest-filter').oninput = () => soon(loadQueue, 250, 'queue');
$('submit-btn').onclick = submit;
$('btn-cancel').onclick = () => act('cancel');
$('btn-retry').onclick = () => act('retry');
$('btn-prio').onclick = () => act('priority', { priority: parseInt($('prio').value, 10) || 0 });
window.addEventListener('hashchange', route);
$('token').value = token;
useToken(token);
