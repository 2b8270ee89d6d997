// sandbox.js: browse a sandbox on an agent, view a file, follow it live, download it.
// Every request goes through the master (/webui/agent/files/*?agent_id=...), which forwards it
// to the agent's /files endpoints: same origin, same TLS and credentials as the rest of the page.
import {getJSON} from './data.js';
import {h, fmtMem} from './ui.js';

const TAIL = 64 * 1024; // bytes shown when a file is opened (its end)
const CHUNK = 256 * 1024; // bytes read per request while following

function filesUrl(what, agent, params) {
  const q = new URLSearchParams({agent_id: agent, ...params});
  return `/webui/agent/files/${what}?${q}`;
}

// The path's components, each a link to its directory; above a run's sandbox
// (/frameworks/F/executors/E/runs/R) nothing is attached on the agent, so those are plain text.
function crumbs(agent, path) {
  const parts = path.split('/').filter(Boolean);
  const root = parts[0] === 'frameworks' && parts.length >= 6 ? 6 : 1;
  const out = [];
  let acc = '';
  parts.forEach((p, i) => {
    acc += '/' + p;
    out.push(i + 1 >= root ? h('a', {href: `#/sandbox?agent=${encodeURIComponent(agent)}&path=${encodeURIComponent(acc)}`}, p) : h('span', {}, p),
      h('span', {class: 'muted'}, '/'));
  });
  return h('div', {class: 'crumbs mono'}, out);
}

export function sandboxPage(params) {
  const agent = params.get('agent') || '';
  const path = params.get('path') || '';
  const file = params.get('file');
  const el = h('div', {id: 'sandbox'});
  let dead = false, timer = null;

  const fail = (what, e) => {
    const why = e.status === 503 || e.status === 502 ? ' The agent is unreachable now; try again once it is back.'
      : e.status === 404 ? ' The sandbox is gone (garbage-collected) or the agent was removed.' : '';
    el.append(h('p', {class: 'unreach', id: 'sandbox-error'},
      `${what} failed: ${e.status ? `${e.status} ${e.body}` : e.message}.${why}`));
  };

  async function browse() {
    el.replaceChildren(h('h1', {}, 'Sandbox'), h('p', {class: 'muted'}, 'Agent ', h('a', {href: '#/agents/' + encodeURIComponent(agent)}, agent)), crumbs(agent, path));
    let list;
    try { list = await getJSON(filesUrl('browse', agent, {path})); } catch (e) { fail('Listing', e); return; }
    list.sort((a, b) => (b.mode[0] === 'd') - (a.mode[0] === 'd') || a.path.localeCompare(b.path));
    el.append(h('table', {id: 'files'}, h('tr', {}, h('th', {}, 'Mode'), h('th', {}, 'Name'), h('th', {class: 'num'}, 'Size'), h('th', {}, 'Modified'), h('th', {}, '')),
      list.map((f) => {
        const name = f.path.split('/').pop();
        const isDir = f.mode[0] === 'd';
        const href = isDir ? `#/sandbox?agent=${encodeURIComponent(agent)}&path=${encodeURIComponent(path + '/' + name)}`
          : `#/sandbox?agent=${encodeURIComponent(agent)}&path=${encodeURIComponent(path)}&file=${encodeURIComponent(name)}`;
        return h('tr', {}, h('td', {class: 'mono'}, f.mode), h('td', {}, h('a', {href, 'data-file': name}, name + (isDir ? '/' : ''))),
          h('td', {class: 'num'}, isDir ? '' : fmtMem(f.size / 1048576)), h('td', {}, new Date(f.mtime * 1000).toLocaleString()),
          h('td', {}, isDir ? '' : h('a', {href: filesUrl('download', agent, {path: path + '/' + name})}, 'download')));
      })));
  }

  async function view() {
    const full = path + '/' + file;
    const pre = h('pre', {class: 'log', id: 'log'});
    const follow = h('input', {type: 'checkbox', id: 'follow', checked: true});
    const status = h('span', {class: 'muted', id: 'log-status'});
    el.replaceChildren(h('h1', {}, file), crumbs(agent, path),
      h('div', {class: 'toolbar'}, h('label', {}, follow, ' follow'), h('a', {href: filesUrl('download', agent, {path: full}), id: 'download'}, 'download'), status), pre);
    let offset;
    try {
      const head = await getJSON(filesUrl('read', agent, {path: full, offset: -1}));
      offset = Math.max(0, head.offset - TAIL);
      if (offset > 0) pre.append(`[… ${offset.toLocaleString()} earlier bytes not shown; download for the whole file]\n`);
    } catch (e) { fail('Reading', e); return; }
    let errors = 0;
    const step = async () => {
      if (dead) return;
      try {
        const r = await getJSON(filesUrl('read', agent, {path: full, offset, length: CHUNK}));
        errors = 0;
        if (r.data && r.data.length) {
          const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.append(r.data);
          offset = r.offset + new TextEncoder().encode(r.data).length;
          if (atBottom) pre.scrollTop = pre.scrollHeight;
          // More may be waiting: read again at once.
          if (r.data.length >= CHUNK / 2) { timer = setTimeout(step, 0); return; }
        }
        status.textContent = `${offset.toLocaleString()} bytes` + (follow.checked ? ' · following' : '');
      } catch (e) {
        errors++;
        status.textContent = `read failed (${e.message}); retrying`;
      }
      if (follow.checked) timer = setTimeout(step, Math.min(30000, 1000 * 2 ** errors));
    };
    follow.addEventListener('change', () => { if (follow.checked) step(); });
    step();
  }

  return {
    el, title: 'Sandbox',
    destroy() { dead = true; clearTimeout(timer); },
    update(what) {
      if (what !== 'route') return;
      if (!agent || !path) { el.replaceChildren(h('p', {}, 'No sandbox chosen: open one from a task\'s page.')); return; }
      if (file) view(); else browse();
    },
  };
}
