// app.js: the router and the pages. Routes are URL hashes, so any page can be bookmarked:
//   #/  #/agents  #/agents/<id>  #/frameworks  #/frameworks/<id>  #/tasks
//   #/tasks/<framework id>/<task id>  #/roles  #/offers  #/sandbox?agent=&path=[&file=]
import {store, onChange, start, getJSON, setCredentials, needState} from './data.js';
import {h, fmtMem, fmtNum, fmtTime, fmtAgo, fmtDuration, fmtRes, stateEl, bar, VTable, kv, card} from './ui.js';
import {renderPlots, updatePlots, agentUsagePlots} from './plots.js';
import {sandboxPage} from './sandbox.js';

const view = document.getElementById('view');
const banner = document.getElementById('banner');
const live = document.getElementById('live');

// The current page: {render(), update(what)}; update runs on every change of the store.
let page = null;

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || '');
  const name = parts[0] || 'overview';
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === name);
  if (page && page.destroy) page.destroy();
  const pages = {
    overview: () => overviewPage(),
    agents: () => (parts[1] ? agentPage(parts[1]) : agentsPage()),
    frameworks: () => (parts[1] ? frameworkPage(parts[1]) : frameworksPage()),
    tasks: () => (parts[2] ? taskPage(parts[1], parts[2]) : tasksPage(params)),
    roles: () => rolesPage(),
    offers: () => offersPage(),
    sandbox: () => sandboxPage(params),
  };
  needState(name !== 'overview' && name !== 'sandbox' && name !== 'roles');
  page = (pages[name] || (() => notFound(hash)))();
  view.replaceChildren(page.el);
  document.title = 'cmesos · ' + (page.title || name);
  if (store.state || store.metrics || name === 'sandbox') page.update('route');
}

function notFound(hash) {
  return {el: h('div', {}, h('h1', {}, 'Not found'), h('p', {}, `No page for "${hash}". `, h('a', {href: '#/'}, 'Overview'))), update() {}};
}

function waiting(el) {
  if (!store.state) el.replaceChildren(h('p', {class: 'muted'}, store.error ? 'The master could not be read (see above).' : 'Loading…'));
  return !!store.state;
}

// ---- chrome: live indicator, standby and error banners ------------------------------------

function showBanner(node, isError) {
  if (!node) { banner.hidden = true; banner.replaceChildren(); return; }
  banner.hidden = false;
  banner.className = isError ? 'error' : '';
  banner.replaceChildren(node);
}

function loginForm() {
  const user = h('input', {name: 'user', placeholder: 'principal', autocomplete: 'username'});
  const pass = h('input', {name: 'pass', type: 'password', placeholder: 'secret', autocomplete: 'current-password'});
  return h('form', {class: 'login', onsubmit: (e) => { e.preventDefault(); setCredentials(user.value, pass.value); }},
    h('strong', {}, 'The master needs credentials (HTTP Basic).'), user, pass, h('button', {type: 'submit'}, 'Sign in'));
}

let wasStandby = false;
function chrome() {
  const l = store.leader;
  if (wasStandby && l && l.leading) { wasStandby = false; showBanner(null); route(); }
  const labels = {push: 'live (operator API stream)', poll: 'polling', error: 'master unreachable, retrying', auth: 'not signed in', standby: 'standby master', starting: 'connecting'};
  live.textContent = labels[store.live] || store.live;
  live.className = 'live ' + (store.live === 'push' ? 'ok' : store.live === 'poll' || store.live === 'standby' ? 'poll' : 'bad');
  if (l && !l.leading) {
    const lead = l.leader;
    showBanner(h('div', {id: 'standby'},
      h('strong', {}, 'This master is a standby. '),
      lead ? h('span', {}, 'The leading master is ', h('a', {id: 'leader-link', href: `${location.protocol}//${lead}/`}, lead), '; the cluster is shown there.')
        : h('span', {}, 'No leader is elected at the moment.')), false);
    wasStandby = true;
    view.replaceChildren(h('div', {}, h('h1', {}, 'Standby master'), h('p', {}, `This master (${l.self}) does not lead the cluster.`)));
    return false;
  }
  if (store.error && store.error.status === 401) {
    // Kept while shown: retries must not wipe what is being typed.
    if (!banner.querySelector('form.login')) showBanner(loginForm(), true);
    return true;
  }
  if (store.error) { showBanner(h('span', {}, 'Cannot read the master: ' + store.error.message + ' (retrying with back-off)'), true); return true; }
  showBanner(null);
  return true;
}

// ---- Overview -----------------------------------------------------------------------------

const TASK_STATES = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE'];

// Drawn from /metrics/snapshot, /version and /webui/leader only, so that it appears at once
// on any cluster size; the state (for the lists) loads behind it.
function overviewPage() {
  const el = h('div', {id: 'overview'});
  const info = h('div', {});
  const plots = h('div', {class: 'plots'});
  el.append(info, h('h2', {}, 'The last hour'), plots);
  let plotted = false;
  return {
    el, title: 'Overview',
    update(what) {
      if (what === 'task') return;
      const m = store.metrics;
      if (!m) { info.replaceChildren(h('p', {class: 'muted'}, store.error ? 'The master could not be read (see above).' : 'Loading…')); return; }
      const v = store.version || {}, l = store.leader || {};
      const res = (k) => {
        const total = m[`master/${k}_total`] || 0, used = m[`master/${k}_used`] || 0;
        const oa = m[`allocator/mesos/resources/${k}/offered_or_allocated`];
        return {total, used, offered: oa === undefined ? 0 : Math.max(0, oa - used)};
      };
      const rows = ['cpus', 'mem', 'disk', 'gpus'].map((k) => {
        const r = res(k), f = k === 'mem' || k === 'disk' ? fmtMem : (x) => fmtNum(x);
        return h('tr', {'data-resource': k}, h('td', {}, k), h('td', {class: 'num total'}, f(r.total)), h('td', {class: 'num'}, f(r.used)),
          h('td', {class: 'num'}, f(r.offered)), h('td', {class: 'num'}, f(Math.max(0, r.total - r.used - r.offered))),
          h('td', {style: 'width:30%'}, bar(r.total, r.used, r.offered)));
      });
      const counts = {};
      for (const s of TASK_STATES) counts[s] = m['master/tasks_' + s.slice(5).toLowerCase()] || 0;
      const n = (k) => String(Math.round(m[k] || 0));
      info.replaceChildren(
        h('h1', {}, 'Cluster'),
        h('div', {class: 'cards'},
          card('Leader', h('span', {id: 'leader'}, l.leader || '–'), l.self && l.self !== l.leader ? 'this page is served by ' + l.self : ''),
          card('Version', v.version || '–', v.build_date ? 'built ' + v.build_date : ''),
          card('Uptime', fmtDuration(m['master/uptime_secs']), m['master/elected'] ? 'elected leader' : 'not elected'),
          card('Agents', h('span', {id: 'agents-active'}, n('master/slaves_active')), `active · ${n('master/slaves_inactive')} inactive · ${n('master/slaves_unreachable')} unreachable`),
          card('Frameworks', n('master/frameworks_active'), `active · ${n('master/frameworks_inactive')} inactive`),
          card('Offers', n('master/outstanding_offers'), 'outstanding')),
        h('h2', {}, 'Resources'),
        h('table', {id: 'resources'}, h('tr', {}, h('th', {}, ''), h('th', {class: 'num'}, 'Total'), h('th', {class: 'num'}, 'Allocated'),
          h('th', {class: 'num'}, 'Offered'), h('th', {class: 'num'}, 'Idle'), h('th', {}, '')), rows),
        h('h2', {}, 'Tasks'),
        h('div', {class: 'cards', id: 'task-counts'}, TASK_STATES.filter((s) => counts[s] || ['TASK_STAGING', 'TASK_RUNNING', 'TASK_FINISHED', 'TASK_FAILED'].includes(s))
          .map((s) => h('a', {href: `#/tasks?state=${s}`, style: 'text-decoration:none;color:inherit', 'data-state': s}, card(s.slice(5).toLowerCase(), String(counts[s]))))));
      if (!plotted) { renderPlots(plots, store.history); plotted = true; } else updatePlots(store.history);
      // For the browser test's timing: when the overview first reached the screen.
      if (!window.__overviewPainted) requestAnimationFrame(() => { window.__overviewPainted ||= performance.now(); });
    },
  };
}

// ---- Agents -------------------------------------------------------------------------------

function filterBox(placeholder, onInput, value = '') {
  return h('input', {type: 'search', placeholder, value, oninput: (e) => onInput(e.target.value.trim().toLowerCase())});
}

function agentsPage() {
  let q = '';
  const table = new VTable([
    {title: 'ID', width: '2.2fr', get: (a) => a.id, cell: (a) => h('a', {href: '#/agents/' + encodeURIComponent(a.id)}, a.id)},
    {title: 'Host', width: '1.4fr', get: (a) => a.hostname, cell: (a) => a.hostname},
    {title: 'State', width: '0.8fr', get: (a) => (a.active ? 0 : 1), cell: (a) => (a.active ? 'active' : h('span', {class: 'unreach'}, 'inactive'))},
    {title: 'CPUs', width: '1fr', num: true, get: (a) => a.resources?.cpus || 0, cell: (a) => `${fmtNum(a.used_resources?.cpus || 0)} / ${fmtNum(a.resources?.cpus || 0)}`},
    {title: 'Mem', width: '1.2fr', num: true, get: (a) => a.resources?.mem || 0, cell: (a) => `${fmtMem(a.used_resources?.mem || 0)} / ${fmtMem(a.resources?.mem || 0)}`},
    {title: 'Disk', width: '1.2fr', num: true, get: (a) => a.resources?.disk || 0, cell: (a) => `${fmtMem(a.used_resources?.disk || 0)} / ${fmtMem(a.resources?.disk || 0)}`},
    {title: 'Registered', width: '1fr', get: (a) => a.registered_time || 0, cell: (a) => fmtAgo(a.registered_time)},
  ], {name: 'agents', sort: 1});
  const fill = () => {
    const all = store.state?.slaves || [];
    table.set(q ? all.filter((a) => (a.id + ' ' + a.hostname + ' ' + JSON.stringify(a.attributes || {})).toLowerCase().includes(q)) : all);
  };
  const el = h('div', {}, h('h1', {}, 'Agents'), h('div', {class: 'toolbar'}, filterBox('Filter by id, host or attribute', (v) => { q = v; fill(); })), table.el);
  return {el, title: 'Agents', update(what) { if (what === 'task') return; if (store.state) fill(); }};
}

function resourcesTable(rows) {
  return h('table', {}, h('tr', {}, h('th', {}, ''), h('th', {class: 'num'}, 'CPUs'), h('th', {class: 'num'}, 'Mem'), h('th', {class: 'num'}, 'Disk'), h('th', {class: 'num'}, 'GPUs')),
    rows.map(([k, r]) => h('tr', {}, h('td', {}, k), h('td', {class: 'num'}, fmtNum(r?.cpus || 0)), h('td', {class: 'num'}, fmtMem(r?.mem || 0)),
      h('td', {class: 'num'}, fmtMem(r?.disk || 0)), h('td', {class: 'num'}, fmtNum(r?.gpus || 0)))));
}

function tasksTable(name, height = 360) {
  return new VTable([
    {title: 'ID', width: '2fr', get: (t) => t.id, cell: (t) => h('a', {href: `#/tasks/${encodeURIComponent(t.framework_id)}/${encodeURIComponent(t.id)}`}, t.id)},
    {title: 'Name', width: '1.5fr', get: (t) => t.name || '', cell: (t) => t.name || ''},
    {title: 'State', width: '1fr', get: (t) => t.state, cell: (t) => stateEl(t.state)},
    {title: 'Framework', width: '1.5fr', get: (t) => t._fw?.name || '', cell: (t) => h('a', {href: '#/frameworks/' + encodeURIComponent(t.framework_id)}, t._fw?.name || t.framework_id)},
    {title: 'Agent', width: '1.5fr', get: (t) => agentHost(t.slave_id), cell: (t) => h('a', {href: '#/agents/' + encodeURIComponent(t.slave_id)}, agentHost(t.slave_id))},
    {title: 'CPUs', width: '0.6fr', num: true, get: (t) => t.resources?.cpus || 0, cell: (t) => fmtNum(t.resources?.cpus || 0)},
    {title: 'Mem', width: '0.8fr', num: true, get: (t) => t.resources?.mem || 0, cell: (t) => fmtMem(t.resources?.mem || 0)},
    {title: 'Updated', width: '1fr', get: (t) => lastStatusTime(t), cell: (t) => fmtAgo(lastStatusTime(t))},
  ], {name, height, sort: 7, desc: true});
}

function agentHost(id) { return store.index?.agents.get(id)?.hostname || id || ''; }
function lastStatusTime(t) { const s = t.statuses || []; return s.length ? s[s.length - 1].timestamp || 0 : 0; }

function agentPage(id) {
  const el = h('div', {});
  let stats = null, statsErr = null, statsTimer = null, dead = false, cpuRate = null, prev = null;
  // Allocated vs used over time, kept while the page is open (the plots below the table).
  const samples = [];
  const plotBox = h('div', {class: 'plots', id: 'usage-plots'});
  let plots = null;
  const cpuTime = (list) => list.reduce((n, s) => n + (s.statistics?.cpus_user_time_secs || 0) + (s.statistics?.cpus_system_time_secs || 0), 0);
  const loadStats = async () => {
    try {
      stats = await getJSON('/webui/agent/monitor/statistics?agent_id=' + encodeURIComponent(id));
      const now = {t: performance.now() / 1000, cpu: cpuTime(stats)};
      if (prev && now.t > prev.t) cpuRate = Math.max(0, (now.cpu - prev.cpu) / (now.t - prev.t));
      prev = now;
      const a = store.index?.agents.get(id);
      if (cpuRate !== null && a) {
        samples.push({t: Date.now() / 1000, cpuAlloc: a.used_resources?.cpus || 0, cpuUsed: cpuRate,
          memAlloc: a.used_resources?.mem || 0, memUsed: stats.reduce((n, s) => n + (s.statistics?.mem_rss_bytes || 0), 0) / 1048576});
        while (samples.length > 720) samples.shift();
      }
      statsErr = null;
    } catch (e) { statsErr = e; }
    if (!dead) { p.update('stats'); statsTimer = setTimeout(loadStats, 5000); }
  };
  const tasks = tasksTable('agent-tasks');
  const p = {
    el, title: 'Agent ' + id,
    destroy() { dead = true; clearTimeout(statsTimer); if (plots) plots.destroy(); },
    update(what) {
      if (!waiting(el)) return;
      const a = store.index.agents.get(id);
      if (!a) { el.replaceChildren(h('h1', {}, 'Agent ' + id), h('p', {}, 'This agent is not registered with the master (removed, or unreachable).')); return; }
      if (statsTimer === null && !dead) { statsTimer = 0; loadStats(); }
      const used = {mem: 0};
      for (const s of stats || []) used.mem += (s.statistics?.mem_rss_bytes || 0) / 1048576;
      const mine = [...store.index.tasks.values()].filter((t) => t.slave_id === id);
      const fws = new Set(mine.map((t) => t.framework_id));
      tasks.set(mine);
      el.replaceChildren(
        h('h1', {}, 'Agent ', h('span', {class: 'mono'}, a.id)),
        kv([['Host', `${a.hostname} (${a.pid})`], ['Active', a.active ? 'yes' : 'no'], ['Version', a.version], ['Registered', fmtTime(a.registered_time)],
          a.reregistered_time ? ['Re-registered', fmtTime(a.reregistered_time)] : null,
          ['Attributes', Object.entries(a.attributes || {}).map(([k, v]) => `${k}=${v}`).join(', ') || '–'],
          ['Frameworks', [...fws].map((f) => store.index.frameworks.get(f)?.name || f).join(', ') || '–']]),
        h('h2', {}, 'Resources'),
        resourcesTable([['Total', a.resources], ['Allocated', a.used_resources], ['Offered', a.offered_resources]].filter((r) => r[1])),
        h('h2', {}, 'Used (from the agent\'s /monitor/statistics)'),
        statsErr ? h('p', {class: 'unreach', id: 'stats-error'}, 'The agent\'s statistics cannot be read: ' + statsErr.message)
          : !stats ? h('p', {class: 'muted'}, 'Reading…')
            : h('table', {id: 'used'}, h('tr', {}, h('th', {}, ''), h('th', {class: 'num'}, 'Allocated'), h('th', {class: 'num'}, 'Used'), h('th', {}, '')),
              h('tr', {}, h('td', {}, 'cpus'), h('td', {class: 'num'}, fmtNum(a.used_resources?.cpus || 0)), h('td', {class: 'num'}, cpuRate === null ? 'measuring…' : fmtNum(cpuRate)),
                h('td', {style: 'width:30%'}, bar(a.resources?.cpus || 0, cpuRate || 0, 0))),
              h('tr', {}, h('td', {}, 'mem'), h('td', {class: 'num'}, fmtMem(a.used_resources?.mem || 0)), h('td', {class: 'num'}, fmtMem(used.mem)),
                h('td', {style: 'width:30%'}, bar(a.resources?.mem || 0, used.mem, 0))),
              h('tr', {}, h('td', {}, 'containers'), h('td', {}, ''), h('td', {class: 'num'}, String(stats.length)), h('td', {}, ''))),
        plotBox,
        h('h2', {}, `Tasks (${mine.length})`), tasks.el);
      if (!plots) plots = agentUsagePlots(plotBox);
      plots.set(samples);
    },
  };
  return p;
}

// ---- Frameworks ---------------------------------------------------------------------------

function frameworksPage() {
  let q = '', which = 'active';
  const table = new VTable([
    {title: 'ID', width: '2.2fr', get: (f) => f.id, cell: (f) => h('a', {href: '#/frameworks/' + encodeURIComponent(f.id)}, f.id)},
    {title: 'Name', width: '1.4fr', get: (f) => f.name, cell: (f) => f.name},
    {title: 'Roles', width: '1fr', get: (f) => (f.roles || [f.role]).join(','), cell: (f) => (f.roles || [f.role]).join(', ')},
    {title: 'Principal', width: '1fr', get: (f) => f.principal || '', cell: (f) => f.principal || '–'},
    {title: 'Tasks (done)', width: '0.8fr', num: true, get: (f) => (f.tasks || []).length + (f.completed_tasks || []).length,
      cell: (f) => `${(f.tasks || []).length} (${(f.completed_tasks || []).length})`},
    {title: 'CPUs', width: '0.6fr', num: true, get: (f) => f.used_resources?.cpus || 0, cell: (f) => fmtNum(f.used_resources?.cpus || 0)},
    {title: 'Mem', width: '0.8fr', num: true, get: (f) => f.used_resources?.mem || 0, cell: (f) => fmtMem(f.used_resources?.mem || 0)},
    {title: 'Registered', width: '1fr', get: (f) => f.registered_time || 0, cell: (f) => fmtAgo(f.registered_time)},
  ], {name: 'frameworks', height: 480, sort: 7, desc: true});
  const fill = () => {
    const all = [...store.index.frameworks.values()].filter((f) => (which === 'active') !== f._completed);
    table.set(q ? all.filter((f) => `${f.id} ${f.name} ${f.principal} ${(f.roles || [f.role]).join(' ')}`.toLowerCase().includes(q)) : all);
  };
  const chips = h('span', {class: 'chips'}, ['active', 'completed'].map((w) => h('button', {class: w === which ? 'on' : '', onclick: (e) => {
    which = w; for (const b of chips.children) b.classList.toggle('on', b === e.target); fill(); }}, w)));
  const el = h('div', {}, h('h1', {}, 'Frameworks'), h('div', {class: 'toolbar'}, chips, filterBox('Filter by id, name, role or principal', (v) => { q = v; fill(); })), table.el);
  return {el, title: 'Frameworks', update(what) { if (what !== 'task' && store.state) fill(); }};
}

function frameworkPage(id) {
  const el = h('div', {});
  const active = tasksTable('framework-tasks'), done = tasksTable('framework-completed');
  return {
    el, title: 'Framework ' + id,
    update() {
      if (!waiting(el)) return;
      const f = store.index.frameworks.get(id);
      if (!f) { el.replaceChildren(h('h1', {}, 'Framework ' + id), h('p', {}, 'Not known to the master (or no longer kept).')); return; }
      const mine = [...store.index.tasks.values()].filter((t) => t.framework_id === id);
      active.set(mine.filter((t) => !t._completed));
      done.set(mine.filter((t) => t._completed));
      el.replaceChildren(
        h('h1', {}, 'Framework ', f.name, ' ', h('span', {class: 'mono muted'}, f.id)),
        kv([['State', f._completed ? 'completed' : f.active ? (f.connected === false ? 'disconnected' : 'active') : 'inactive'],
          ['User', f.user], ['Roles', (f.roles || [f.role]).join(', ')], ['Principal', f.principal || '–'], ['Hostname', f.hostname],
          ['Web UI', f.webui_url ? h('a', {href: f.webui_url, rel: 'noopener'}, f.webui_url) : '–'], ['Checkpoint', f.checkpoint ? 'yes' : 'no'],
          ['Failover timeout', f.failover_timeout ? fmtDuration(f.failover_timeout) : '0'], ['Registered', fmtTime(f.registered_time)],
          ['Offers outstanding', String((f.offers || []).length)]]),
        h('h2', {}, 'Resources'), resourcesTable([['Allocated', f.used_resources], ['Offered', f.offered_resources]]),
        h('h2', {}, `Active tasks (${active.rows.length})`), active.el,
        h('h2', {}, `Completed tasks (${done.rows.length})`), done.el);
    },
  };
}

// ---- Tasks --------------------------------------------------------------------------------

function tasksPage(params) {
  let q = (params.get('q') || '').toLowerCase(), which = params.get('state') || 'active';
  const table = tasksTable('tasks', 560);
  const fill = () => {
    const all = [];
    for (const t of store.index.tasks.values()) {
      if (which === 'active' ? t._completed : which === 'completed' ? !t._completed : which !== 'all' && t.state !== which) continue;
      if (q && !(t.id.toLowerCase().includes(q) || (t.name || '').toLowerCase().includes(q))) continue;
      all.push(t);
    }
    table.set(all);
  };
  const opts = ['active', 'completed', 'all', ...TASK_STATES];
  const sel = h('select', {id: 'task-state', onchange: (e) => { which = e.target.value; fill(); }}, opts.map((o) => h('option', {value: o, selected: o === which}, o)));
  const el = h('div', {}, h('h1', {}, 'Tasks'), h('div', {class: 'toolbar'}, 'Show ', sel,
    filterBox('Search by task id or name', (v) => { q = v; fill(); }, q)), table.el);
  return {el, title: 'Tasks', update() { if (store.state) fill(); }};
}

function sandboxLinks(t) {
  const a = store.index.agents.get(t.slave_id);
  if (!a) return h('span', {class: 'unreach', id: 'sandbox-unreachable'}, 'The agent is not registered (unreachable or removed): its sandbox cannot be read.');
  const exec = t.executor_id || t.id;
  const dir = `/frameworks/${t.framework_id}/executors/${exec}/runs/latest`;
  const link = (file, text) => h('a', {href: `#/sandbox?agent=${encodeURIComponent(t.slave_id)}&path=${encodeURIComponent(dir)}` + (file ? `&file=${encodeURIComponent(file)}` : ''), id: 'sandbox-' + (file || 'dir')}, text);
  return h('span', {}, link('', 'Sandbox'), ' · ', link('stdout', 'stdout'), ' · ', link('stderr', 'stderr'),
    a.active ? '' : h('span', {class: 'unreach'}, ' (the agent is inactive: the sandbox may not answer)'));
}

function taskPage(fwId, taskId) {
  const el = h('div', {});
  return {
    el, title: 'Task ' + taskId,
    update() {
      if (!waiting(el)) return;
      const t = store.index.tasks.get(fwId + '/' + taskId);
      if (!t) { el.replaceChildren(h('h1', {}, 'Task ' + taskId), h('p', {}, 'Not known to the master (or no longer kept).')); return; }
      const statuses = t.statuses || [];
      const last = statuses[statuses.length - 1] || {};
      const health = last.healthy === undefined ? '–' : last.healthy ? 'healthy' : 'unhealthy';
      el.replaceChildren(
        h('h1', {}, 'Task ', h('span', {class: 'mono'}, t.id), ' ', h('span', {id: 'task-state'}, stateEl(t.state))),
        kv([['Name', t.name], ['Framework', h('a', {href: '#/frameworks/' + encodeURIComponent(t.framework_id)}, t._fw?.name || t.framework_id)],
          ['Agent', h('a', {href: '#/agents/' + encodeURIComponent(t.slave_id)}, agentHost(t.slave_id))], ['Executor', t.executor_id || '(command executor)'],
          ['Role', t.role || '–'], ['Health', health], ['Sandbox', sandboxLinks(t)],
          ['Container', t.container ? h('span', {class: 'mono'}, JSON.stringify(t.container)) : '–'],
          ['Labels', t.labels ? (t.labels || []).map((l) => `${l.key}=${l.value}`).join(', ') : '–']]),
        h('h2', {}, 'Resources'), resourcesTable([['Task', t.resources]]),
        h('h2', {}, 'Statuses'),
        h('table', {id: 'statuses'}, h('tr', {}, h('th', {}, 'State'), h('th', {}, 'Time'), h('th', {}, 'Healthy'), h('th', {}, 'Container IPs')),
          statuses.map((s) => h('tr', {}, h('td', {}, stateEl(s.state)), h('td', {}, fmtTime(s.timestamp)), h('td', {}, s.healthy === undefined ? '' : String(s.healthy)),
            h('td', {}, (s.container_status?.network_infos || []).flatMap((n) => (n.ip_addresses || []).map((i) => i.ip_address)).join(', '))))));
    },
  };
}

// ---- Roles and offers ---------------------------------------------------------------------

function rolesPage() {
  const el = h('div', {});
  let roles = null, err = null, busy = false;
  const p = {
    el, title: 'Roles',
    update(what) {
      if (what !== 'loaded' && !busy && what !== 'task') {
        busy = true;
        getJSON('/master/roles').then((r) => { roles = r.roles || []; err = null; }, (e) => { err = e; })
          .finally(() => { busy = false; p.update('loaded'); });
      }
      if (err) { el.replaceChildren(h('h1', {}, 'Roles'), h('p', {class: 'unreach'}, err.message)); return; }
      if (!roles) { el.replaceChildren(h('h1', {}, 'Roles'), h('p', {class: 'muted'}, 'Loading…')); return; }
      el.replaceChildren(h('h1', {}, 'Roles'), h('table', {id: 'roles'},
        h('tr', {}, h('th', {}, 'Role'), h('th', {class: 'num'}, 'Weight'), h('th', {}, 'Frameworks'), h('th', {}, 'Allocated')),
        roles.map((r) => h('tr', {}, h('td', {}, r.name), h('td', {class: 'num'}, fmtNum(r.weight)), h('td', {}, (r.frameworks || []).length + ''), h('td', {}, fmtRes(r.resources))))));
    },
  };
  return p;
}

function offersPage() {
  const table = new VTable([
    {title: 'Offer', width: '2fr', get: (o) => o.id, cell: (o) => o.id},
    {title: 'Framework', width: '1.5fr', get: (o) => o._fw.name, cell: (o) => h('a', {href: '#/frameworks/' + encodeURIComponent(o.framework_id)}, o._fw.name)},
    {title: 'Agent', width: '1.5fr', get: (o) => agentHost(o.slave_id), cell: (o) => h('a', {href: '#/agents/' + encodeURIComponent(o.slave_id)}, agentHost(o.slave_id))},
    {title: 'CPUs', width: '0.6fr', num: true, get: (o) => o.resources?.cpus || 0, cell: (o) => fmtNum(o.resources?.cpus || 0)},
    {title: 'Mem', width: '0.8fr', num: true, get: (o) => o.resources?.mem || 0, cell: (o) => fmtMem(o.resources?.mem || 0)},
    {title: 'Disk', width: '0.8fr', num: true, get: (o) => o.resources?.disk || 0, cell: (o) => fmtMem(o.resources?.disk || 0)},
  ], {name: 'offers', empty: 'No offers outstanding'});
  const el = h('div', {}, h('h1', {}, 'Offers outstanding'), table.el);
  return {el, title: 'Offers', update(what) {
    if (what === 'task' || !store.state) return;
    const all = [];
    for (const f of store.state.frameworks || []) for (const o of f.offers || []) all.push({...o, _fw: f});
    table.set(all);
  }};
}

// ---- find: one box for any agent, framework or task ---------------------------------------

// An exact id (or hostname, or framework name) opens its page; anything else lists the tasks
// whose id or name contains it.
function find(q) {
  q = q.trim();
  if (!q) return;
  const idx = store.index;
  if (idx) {
    if (idx.agents.has(q)) { location.hash = '#/agents/' + encodeURIComponent(q); return; }
    if (idx.frameworks.has(q)) { location.hash = '#/frameworks/' + encodeURIComponent(q); return; }
    for (const a of idx.agents.values()) if (a.hostname === q) { location.hash = '#/agents/' + encodeURIComponent(a.id); return; }
    for (const f of idx.frameworks.values()) if (f.name === q) { location.hash = '#/frameworks/' + encodeURIComponent(f.id); return; }
    for (const t of idx.tasks.values()) {
      if (t.id === q) { location.hash = `#/tasks/${encodeURIComponent(t.framework_id)}/${encodeURIComponent(t.id)}`; return; }
    }
  }
  location.hash = '#/tasks?state=all&q=' + encodeURIComponent(q);
}
document.getElementById('find').addEventListener('submit', (e) => {
  e.preventDefault();
  find(document.getElementById('find-q').value);
});

// ---- start --------------------------------------------------------------------------------

onChange((what) => {
  if (!chrome()) return;
  if (page) page.update(what);
});
window.addEventListener('hashchange', route);
route();
start();
