// data.js: everything the page reads from the master, through its public APIs only.
//
// - /webui/leader first: a standby serves this page but answers the API with 307 to the
//   leader, so on a standby the page shows who leads and reads nothing else.
// - /metrics/snapshot, and /master/state (whole cluster) while a page other than the
//   overview is shown, polled; the interval grows on
//   failure (2 s doubling to 30 s) and with the size of the state (a state that takes t to
//   fetch and parse is not fetched more often than every 5 t).
// - The operator API's SUBSCRIBE stream (POST /api/v1, JSON RecordIO read with fetch()
//   streaming): task state changes are applied at once to the copy in memory, and any event
//   schedules an early refresh of the state. When the stream fails the page falls back to
//   polling and re-subscribes with back-off.
// - Credentials: requests are same-origin, so the browser's own Basic prompt and its cached
//   credentials apply; a login form (sessionStorage) is the fallback when the prompt is not
//   shown.

const listeners = new Set();
export const store = {
  leader: null,   // /webui/leader
  state: null,    // /master/state
  metrics: null,  // /metrics/snapshot
  version: null,  // /version
  fetchedAt: 0,
  error: null,
  live: 'starting', // 'push', 'poll', 'error', 'standby'
  history: [],    // samples for the plots: {t, cpu, mem, disk, gpu, ocpu, omem, launched, finished, failed}
  index: null,    // maps built from state: agents, frameworks, tasks by id
  needState: true, // whether the page shown reads /master/state (the overview does not)
};

export function onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); }
function notify(what) { for (const fn of listeners) { try { fn(what); } catch (e) { console.warn('listener failed', e); } } }

export function authHeader() {
  const c = sessionStorage.getItem('cmesos.auth');
  return c ? {Authorization: 'Basic ' + c} : {};
}
export function setCredentials(user, pass) {
  sessionStorage.setItem('cmesos.auth', btoa(user + ':' + pass));
  refreshSoon(true);
  // The stream failed without credentials too: try it now instead of after its back-off.
  if (store.live !== 'push' && subTimer) { clearTimeout(subTimer); subTimer = null; subscribe(); }
}

export class HttpError extends Error {
  constructor(status, text, url) { super(`${url}: ${status} ${text}`); this.status = status; this.body = text; }
}

export async function api(url, opts = {}) {
  // A redirect means this master stopped leading (a standby answers the API with 307 to the
  // leader): it is never followed, since the page reads only its own origin.
  const res = await fetch(url, {...opts, headers: {...authHeader(), ...(opts.headers || {})}, cache: 'no-store', redirect: 'manual'});
  if (res.type === 'opaqueredirect') throw new HttpError(307, 'this master no longer leads', url);
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    throw new HttpError(res.status, text.slice(0, 300), url);
  }
  return res;
}
export async function getJSON(url) { return (await api(url)).json(); }

// Mesos's state as maps for the pages (built once per fetch, O(tasks)).
function buildIndex(st) {
  const agents = new Map(), frameworks = new Map(), tasks = new Map();
  for (const a of st.slaves || []) agents.set(a.id, a);
  const addTasks = (fw, list, completed) => {
    for (const t of list || []) tasks.set(t.framework_id + '/' + t.id, {...t, _fw: fw, _completed: completed});
  };
  for (const fw of st.frameworks || []) {
    frameworks.set(fw.id, {...fw, _completed: false});
    addTasks(fw, fw.tasks, false);
    addTasks(fw, fw.unreachable_tasks, false);
    addTasks(fw, fw.completed_tasks, true);
  }
  for (const fw of st.completed_frameworks || []) {
    frameworks.set(fw.id, {...fw, _completed: true});
    addTasks(fw, fw.tasks, true);
    addTasks(fw, fw.completed_tasks, true);
  }
  return {agents, frameworks, tasks};
}

const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR',
  'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);
export function terminal(state) { return TERMINAL.has(state); }

function sample(m) {
  const share = (u, t) => (m[t] > 0 ? (100 * (m[u] || 0)) / m[t] : 0);
  let finished = 0, failed = 0;
  for (const s of ['finished']) finished += m['master/tasks_' + s] || 0;
  for (const s of ['failed', 'killed', 'lost', 'error', 'dropped', 'gone', 'gone_by_operator'])
    failed += m['master/tasks_' + s] || 0;
  const active = ['staging', 'starting', 'running', 'killing', 'unreachable']
    .reduce((n, s) => n + (m['master/tasks_' + s] || 0), 0);
  return {
    t: Date.now() / 1000,
    cpu: share('master/cpus_used', 'master/cpus_total'),
    mem: share('master/mem_used', 'master/mem_total'),
    disk: share('master/disk_used', 'master/disk_total'),
    gpu: share('master/gpus_used', 'master/gpus_total'),
    // Tasks ever launched = active + ended (counters since the master started).
    launched: active + finished + failed, finished, failed,
  };
}

const HISTORY_SECS = 3600;
function historyKey() { return 'cmesos.history.' + (store.leader?.leader || 'x'); }
function loadHistory() {
  try {
    const h = JSON.parse(localStorage.getItem(historyKey()) || '[]');
    const cut = Date.now() / 1000 - HISTORY_SECS;
    store.history = Array.isArray(h) ? h.filter((s) => s && s.t > cut) : [];
  } catch { store.history = []; }
}
function saveHistory() {
  try { localStorage.setItem(historyKey(), JSON.stringify(store.history)); } catch { /* full: keep in memory */ }
}

let pollTimer = null, failures = 0, lastCost = 0, refreshing = false, historyLoaded = false;

let again = false; // a refresh was asked for while one ran: run another right after it

async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  const t0 = performance.now();
  try {
    const leader = await getJSON('/webui/leader');
    store.leader = leader;
    if (!leader.leading) {
      store.live = 'standby';
      store.error = null;
      notify('leader');
      return;
    }
    // The overview needs only the metrics (small at any scale): it is drawn before the
    // state, which can be tens of MB on a large cluster, arrives.
    const [metrics, version] = await Promise.all([getJSON('/metrics/snapshot'),
      store.version ? store.version : getJSON('/version')]);
    store.metrics = metrics;
    store.version = version;
    if (!historyLoaded) { loadHistory(); historyLoaded = true; }
    store.history.push(sample(metrics));
    const cut = Date.now() / 1000 - HISTORY_SECS;
    while (store.history.length && store.history[0].t < cut) store.history.shift();
    saveHistory();
    notify('metrics');
    // The overview needs no state: it is read once (so that the lists open at once) and then
    // only while another page is shown, so a page left on the overview (a wall display) does not
    // make the master serialize its whole state every few seconds.
    if (!store.needState && store.state) {
      store.error = null;
      failures = 0;
      if (store.live !== 'push') store.live = 'poll';
      notify('state');
      return;
    }
    // Let the overview paint before the (possibly large) state is fetched and parsed.
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    const state = await getJSON('/master/state');
    store.state = state;
    store.index = buildIndex(state);
    store.fetchedAt = Date.now();
    if (!window.__stateReady) window.__stateReady = performance.now(); // for the browser test
    store.error = null;
    failures = 0;
    if (store.live !== 'push') store.live = 'poll';
    notify('state');
  } catch (e) {
    failures++;
    store.error = e;
    if (e.status === 307) { failures = 0; store.leader = null; refreshSoon(); }
    if (e.status === 401) store.live = 'auth';
    else store.live = 'error';
    notify('error');
  } finally {
    lastCost = performance.now() - t0;
    refreshing = false;
  }
  if (again) { again = false; refreshSoon(true); }
}

function nextDelay() {
  if (failures) return Math.min(30000, 2000 * 2 ** (failures - 1));
  const base = store.live === 'push' ? 5000 : 3000;
  return Math.max(base, 5 * lastCost);
}

async function loop() {
  clearTimeout(pollTimer);
  await refresh();
  clearTimeout(pollTimer); // one timer, however many loops ran meanwhile
  pollTimer = setTimeout(loop, nextDelay());
}

// An early refresh after an event, coalesced: at most one per max(500 ms, 5 x last cost), so
// that a busy cluster's stream of events does not turn into a stream of state reads.
let soonTimer = null;
export function refreshSoon(now = false) {
  if (soonTimer) { if (!now) return; clearTimeout(soonTimer); }
  soonTimer = setTimeout(() => { soonTimer = null; loop(); }, now ? 0 : Math.max(500, 5 * lastCost));
}

// Pages other than the overview need /master/state; asking for it reads it at once when the
// copy in memory is missing or older than the usual interval.
export function needState(need) {
  store.needState = need;
  if (need && (!store.state || Date.now() - store.fetchedAt > 5000)) refreshSoon(true);
}

// ---- SUBSCRIBE ----------------------------------------------------------------------------

function applyEvent(ev) {
  const idx = store.index;
  if (ev.type === 'TASK_UPDATED' && idx) {
    const u = ev.task_updated;
    const key = u.framework_id.value + '/' + (u.status?.task_id?.value || '');
    const t = idx.tasks.get(key);
    if (t) {
      t.state = u.state;
      t.statuses = [...(t.statuses || []), {state: u.state, timestamp: u.status?.timestamp}];
      if (terminal(u.state)) t._completed = true;
      notify('task');
    }
  }
  if (ev.type !== 'HEARTBEAT' && ev.type !== 'SUBSCRIBED' && ev.type !== 'BIG_RECORD') refreshSoon();
}

// RecordIO ("<decimal length>\n<record>", repeated) over byte chunks. Chunks are kept in a list
// and joined once a record is complete (no quadratic copying), and a record over 1 MiB (the
// SUBSCRIBED snapshot of a large cluster) is skipped unparsed: the page takes the state from
// /master/state and only needs to know that something happened.
const BIG_RECORD = 1 << 20;
class RecordIO {
  constructor(onRecord) {
    this.onRecord = onRecord;
    this.chunks = []; this.have = 0; this.need = -1; this.skip = 0;
    this.dec = new TextDecoder();
  }
  push(chunk) {
    while (chunk.length) {
      if (this.skip) {
        const n = Math.min(this.skip, chunk.length);
        this.skip -= n; chunk = chunk.subarray(n);
        if (!this.skip) this.onRecord({type: 'BIG_RECORD'});
        continue;
      }
      if (this.need < 0) {
        const nl = chunk.indexOf(10);
        if (nl < 0) { this.chunks.push(chunk); this.have += chunk.length; if (this.have > 32) throw new Error('bad RecordIO header'); return; }
        const head = this.join(chunk.subarray(0, nl));
        const len = parseInt(this.dec.decode(head), 10);
        if (!(len >= 0)) throw new Error('bad RecordIO header from SUBSCRIBE');
        chunk = chunk.subarray(nl + 1);
        if (len > BIG_RECORD) { this.skip = len; continue; }
        this.need = len;
        continue;
      }
      const n = Math.min(this.need - this.have, chunk.length);
      this.chunks.push(chunk.subarray(0, n)); this.have += n; chunk = chunk.subarray(n);
      if (this.have === this.need) {
        const rec = this.join(new Uint8Array(0));
        this.need = -1;
        this.onRecord(JSON.parse(this.dec.decode(rec)));
      }
    }
  }
  join(tail) {
    const out = new Uint8Array(this.have + tail.length);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    out.set(tail, o);
    this.chunks = []; this.have = 0;
    return out;
  }
}

let subFailures = 0, subTimer = null;
async function subscribe() {
  subTimer = null;
  // Only to the leading master (a standby would redirect): wait until it is known.
  if (!store.leader || !store.leader.leading) { subTimer = setTimeout(subscribe, 1000); return; }
  try {
    const res = await api('/api/v1', {
      method: 'POST',
      headers: {'Content-Type': 'application/json', Accept: 'application/json'},
      body: JSON.stringify({type: 'SUBSCRIBE'}),
    });
    const reader = res.body.getReader();
    store.live = 'push';
    notify('live');
    const parser = new RecordIO(applyEvent);
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      parser.push(value);
      subFailures = 0;
    }
    throw new Error('SUBSCRIBE stream ended');
  } catch (e) {
    subFailures++;
    if (store.live === 'push') store.live = 'poll';
    notify('live');
    subTimer = setTimeout(subscribe, Math.min(30000, 1000 * 2 ** Math.min(subFailures, 5)));
  }
}

export function start() {
  loop();
  subscribe();
}
