// The small status page of the kit (Dutch first). The full remote, library and player come with the Preact UI.
const $ = (id) => document.getElementById(id);
const STATE_NL = { idle: 'Camera uit', armed: 'Klaar (camera staat aan)', recording: 'Opname loopt', error: 'Storing camera' };
let status = null;

async function api(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) { show(false); throw new Error('Log eerst in'); }
  if (!res.ok) {
    const err = await res.json().catch(() => ({}));
    throw new Error(err.error?.message ?? `Fout ${res.status}`);
  }
  return res.status === 204 ? null : res.json();
}

function show(loggedIn) {
  $('login').hidden = loggedIn;
  $('remote').hidden = !loggedIn;
}

function fmt(ms) {
  const s = Math.floor(ms / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function render() {
  if (!status) return;
  document.body.dataset.state = status.state;
  $('state').textContent = STATE_NL[status.state] ?? status.state;
  $('elapsed').textContent = status.state === 'recording' && status.elapsedMs !== undefined ? fmt(status.elapsedMs) : '';
  $('camera').textContent = status.camera.ok ? `Camera: ${status.camera.profile}` : `Camera: ${status.camera.error ?? 'start op…'}`;
  $('storage').textContent = `Opslag: nog ongeveer ${status.storage.minutesLeft} minuten`;
  $('start').disabled = status.state === 'recording';
  $('stop').disabled = status.state !== 'recording';
  $('mark').disabled = status.state !== 'recording';
}

const SYNC_NL = { off: 'uit', idle: 'wacht op het dock', checking: 'controleert de verbinding', uploading: 'bezig met uploaden', done: 'klaar', error: 'fout' };

async function refresh() {
  status = await api('GET', '/api/status');
  render();
  const sync = await api('GET', '/api/sync');
  const parts = [`Upload naar de organisatie: ${SYNC_NL[sync.state] ?? sync.state}`];
  if (sync.state === 'uploading' && sync.bytesTotal) parts.push(`${Math.round((100 * sync.bytesDone) / sync.bytesTotal)}%`);
  if (sync.pending) parts.push(`${sync.pending} opname(n) nog niet bevestigd`);
  if (sync.waitingForCase) parts.push(`${sync.waitingForCase} wacht(en) op een casus`);
  if (sync.lastError) parts.push(`laatste fout: ${sync.lastError}`);
  if (sync.insecure) parts.push('LET OP: onbeveiligde verbinding (alleen voor tests)');
  $('sync').textContent = parts.join(' — ');
  const { clips } = await api('GET', '/api/clips?limit=20');
  $('clips').replaceChildren(...clips.map((c) => {
    const li = document.createElement('li');
    const state = { recording: 'opname loopt', complete: 'klaar', recovered: 'hersteld' }[c.state];
    li.textContent = `${new Date(c.createdAt).toLocaleString('nl-NL')} — ${fmt(c.durationMs)} — ${c.caseCode ?? 'geen casus'} — ${state}`;
    return li;
  }));
}

function say(text) { $('message').textContent = text; }

async function act(fn) {
  try { await fn(); await refresh(); } catch (err) { say(err.message); }
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    await api('POST', '/api/login', { pin: $('pin').value });
    $('pin').value = '';
    show(true);
    await refresh();
    listen();
  } catch (err) { $('login-error').textContent = err.message; }
});
$('start').addEventListener('click', () => act(async () => { await api('POST', '/api/recording/start', {}); say('Opname gestart'); }));
$('stop').addEventListener('click', () => act(async () => { const r = await api('POST', '/api/recording/stop', {}); say(`Opname opgeslagen (${fmt(r.durationMs)})`); }));
$('mark').addEventListener('click', () => act(async () => { const r = await api('POST', '/api/markers', {}); say(`Moment gemarkeerd op ${fmt(r.offsetMs)}`); }));
$('logout').addEventListener('click', async () => { await api('POST', '/api/logout'); show(false); });

function listen() {
  const es = new EventSource('/api/events');
  for (const name of ['status', 'state', 'clip.started', 'clip.stopped', 'camera.error', 'camera.ok', 'sync', 'dock']) {
    es.addEventListener(name, () => { refresh().catch(() => undefined); });
  }
}
setInterval(() => { if (status?.state === 'recording') { status.elapsedMs += 1000; render(); } }, 1000);

api('GET', '/api/status').then((s) => { status = s; show(true); render(); refresh(); listen(); }).catch(() => show(false));
