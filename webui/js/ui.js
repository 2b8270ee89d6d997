// ui.js: DOM helpers, formatting, and the virtualized table every list uses.

// h('a', {href: '#/x', class: 'y'}, 'text', child...) builds an element. Strings become text
// nodes (never HTML), so data from the cluster cannot inject markup.
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

export function fmtMem(mb) {
  if (mb === undefined || mb === null || isNaN(mb)) return '–';
  if (mb >= 1024 * 1024) return (mb / 1024 / 1024).toFixed(1) + ' TB';
  if (mb >= 1024) return (mb / 1024).toFixed(1) + ' GB';
  return Math.round(mb) + ' MB';
}

export function fmtNum(n, digits = 2) {
  if (n === undefined || n === null || isNaN(n)) return '–';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

export function fmtTime(secs) {
  if (!secs) return '–';
  return new Date(secs * 1000).toLocaleString();
}

export function fmtAgo(secs) {
  if (!secs) return '–';
  const d = Date.now() / 1000 - secs;
  if (d < 0) return 'now';
  if (d < 60) return Math.round(d) + ' s ago';
  if (d < 3600) return Math.round(d / 60) + ' min ago';
  if (d < 86400) return (d / 3600).toFixed(1) + ' h ago';
  return (d / 86400).toFixed(1) + ' d ago';
}

export function fmtDuration(secs) {
  if (!secs && secs !== 0) return '–';
  const d = Math.floor(secs / 86400), hh = Math.floor((secs % 86400) / 3600);
  const mm = Math.floor((secs % 3600) / 60), ss = Math.floor(secs % 60);
  if (d) return `${d}d ${hh}h ${mm}m`;
  if (hh) return `${hh}h ${mm}m`;
  if (mm) return `${mm}m ${ss}s`;
  return `${ss}s`;
}

export function fmtRes(r) {
  if (!r) return '–';
  const parts = [`${fmtNum(r.cpus || 0)} cpus`, fmtMem(r.mem || 0), `${fmtMem(r.disk || 0)} disk`];
  if (r.gpus) parts.push(`${r.gpus} gpus`);
  return parts.join(' · ');
}

export function stateEl(state) {
  return h('span', {class: 'state ' + state}, (state || '').replace(/^TASK_/, ''));
}

// A horizontal bar: allocated (dark) and offered (light) shares of a total.
export function bar(total, allocated, offered) {
  const pct = (x) => (total > 0 ? Math.min(100, (100 * (x || 0)) / total) : 0);
  return h('div', {class: 'bar', title: `allocated ${fmtNum(allocated)} · offered ${fmtNum(offered)} of ${fmtNum(total)}`},
    h('span', {class: 'a', style: `width:${pct(allocated)}%`}),
    h('span', {class: 'o', style: `width:${pct(offered)}%`}));
}

// A virtualized, sortable table. Only the rows in view (plus a margin) are in the DOM, so a
// list of 100,000 rows costs what 40 cost. columns: [{title, width, get(row) -> sort value,
// cell(row) -> string | Node, num}]. set(rows) replaces the data and keeps the scroll
// position and sort; the caller filters before set().
export class VTable {
  constructor(columns, {height = 560, rowHeight = 28, sort = 0, desc = false, empty = 'Nothing to show', name = ''} = {}) {
    this.columns = columns;
    this.rowHeight = rowHeight;
    this.sortCol = sort;
    this.desc = desc;
    this.rows = [];
    this.emptyText = empty;
    const tpl = columns.map((c) => c.width || '1fr').join(' ');
    this.head = h('div', {class: 'vt-head', style: `grid-template-columns:${tpl}`});
    columns.forEach((c, i) => {
      const cell = h('div', {class: c.num ? 'num' : '', title: 'Sort by ' + c.title,
        onclick: () => this.sortBy(i)}, c.title);
      this.head.append(cell);
    });
    this.spacer = h('div', {});
    this.body = h('div', {class: 'vt-body', style: `max-height:${height}px`}, this.spacer);
    this.foot = h('div', {class: 'vt-foot'});
    this.el = h('div', {class: 'vt', 'data-table': name}, this.head, this.body, this.foot);
    this.tpl = tpl;
    this.pool = new Map();
    this.body.addEventListener('scroll', () => this.paint());
    this.markSorted();
  }
  markSorted() {
    [...this.head.children].forEach((c, i) => {
      c.classList.toggle('sorted', i === this.sortCol);
      c.classList.toggle('desc', i === this.sortCol && this.desc);
    });
  }
  sortBy(i) {
    if (this.sortCol === i) this.desc = !this.desc;
    else { this.sortCol = i; this.desc = false; }
    this.markSorted();
    this.set(this.rows);
  }
  set(rows) {
    const get = this.columns[this.sortCol].get;
    const dir = this.desc ? -1 : 1;
    if (get) {
      const keyed = rows.map((r) => [get(r), r]);
      keyed.sort((a, b) => (a[0] < b[0] ? -dir : a[0] > b[0] ? dir : 0));
      this.rows = keyed.map((k) => k[1]);
    } else {
      this.rows = rows;
    }
    this.spacer.style.height = this.rows.length * this.rowHeight + 'px';
    this.foot.textContent = this.rows.length ? `${this.rows.length.toLocaleString()} row${this.rows.length === 1 ? '' : 's'}` : this.emptyText;
    this.clear();
    this.paint();
  }
  clear() {
    for (const el of this.pool.values()) el.remove();
    this.pool.clear();
  }
  paint() {
    const top = this.body.scrollTop;
    const view = this.body.clientHeight || 560;
    const first = Math.max(0, Math.floor(top / this.rowHeight) - 10);
    const last = Math.min(this.rows.length, Math.ceil((top + view) / this.rowHeight) + 10);
    for (const [i, el] of this.pool) {
      if (i < first || i >= last) { el.remove(); this.pool.delete(i); }
    }
    for (let i = first; i < last; i++) {
      if (this.pool.has(i)) continue;
      const r = this.rows[i];
      const row = h('div', {class: 'vt-row', style: `top:${i * this.rowHeight}px;grid-template-columns:${this.tpl}`});
      for (const c of this.columns) row.append(h('div', {class: c.num ? 'num' : ''}, c.cell(r)));
      this.body.append(row);
      this.pool.set(i, row);
    }
  }
}

// A plain key/value table.
export function kv(pairs) {
  return h('table', {class: 'kv'}, pairs.filter((p) => p).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v ?? '–'))));
}

export function card(k, v, sub) {
  return h('div', {class: 'card'}, h('div', {class: 'k'}, k), h('div', {class: 'v'}, v), sub ? h('div', {class: 'muted'}, sub) : null);
}
