// plots.js: the overview's plots of the last hour (uPlot, vendored from npm: webui/vendor/).
// Samples come from data.js (one per refresh, kept in the browser, localStorage across
// reloads): allocation shares of cpus/mem/disk/gpus, and task launch and finish rates derived
// from the master's counters.
import uPlot from '../vendor/uPlot.esm.js';
import {h} from './ui.js';

let charts = [];

function series(history) {
  const t = history.map((s) => s.t);
  const rate = (key) => history.map((s, i) => {
    if (i === 0) return null;
    const dt = s.t - history[i - 1].t;
    const d = s[key] - history[i - 1][key];
    return dt > 0 && d >= 0 ? (60 * d) / dt : null; // per minute; a master restart resets
  });
  return {
    alloc: [t, history.map((s) => s.cpu), history.map((s) => s.mem), history.map((s) => s.disk), history.map((s) => s.gpu)],
    rates: [t, rate('launched'), rate('finished'), rate('failed')],
  };
}

function chart(el, title, names, colors, yLabel, keep = true) {
  const box = h('div', {class: 'plot'}, h('h3', {}, title));
  el.append(box);
  const width = Math.max(300, (box.clientWidth || 440) - 16);
  const opts = {
    width, height: 200,
    // The window shown: the samples' span, at least the last 5 minutes, at most the hour.
    scales: {x: {time: true, range: (u, min, max) => {
      const now = Date.now() / 1000;
      return [Math.max(now - 3600, Math.min(min || now, now - 300)), now];
    }}},
    axes: [{}, {label: yLabel, size: 50}],
    series: [{}, ...names.map((n, i) => ({label: n, stroke: colors[i], width: 1.5, spanGaps: true}))],
  };
  const u = new uPlot(opts, [[], ...names.map(() => [])], box);
  if (keep) charts.push({u, box});
  return u;
}

// An agent's allocated vs used, sampled while its page is open: set(samples) with samples
// [{t, cpuAlloc, cpuUsed, memAlloc, memUsed}] (memory in MB). destroy() when the page goes.
export function agentUsagePlots(el) {
  const cpu = chart(el, 'CPUs: allocated vs used', ['allocated', 'used'], ['#3182ce', '#e53e3e'], 'cpus', false);
  const mem = chart(el, 'Memory: allocated vs used (RSS)', ['allocated', 'used'], ['#38a169', '#d69e2e'], 'MB', false);
  return {
    set(samples) {
      const t = samples.map((s) => s.t);
      cpu.setData([t, samples.map((s) => s.cpuAlloc), samples.map((s) => s.cpuUsed)]);
      mem.setData([t, samples.map((s) => s.memAlloc), samples.map((s) => s.memUsed)]);
    },
    destroy() { cpu.destroy(); mem.destroy(); },
  };
}

export function renderPlots(el, history) {
  charts.forEach((c) => c.u.destroy());
  charts = [];
  chart(el, 'Allocation (% of the cluster)', ['cpus', 'mem', 'disk', 'gpus'], ['#3182ce', '#38a169', '#d69e2e', '#805ad5'], '%');
  chart(el, 'Tasks per minute', ['launched', 'finished', 'failed/killed/lost'], ['#3182ce', '#38a169', '#e53e3e'], '/min');
  updatePlots(history);
}

export function updatePlots(history) {
  if (!charts.length) return;
  const s = series(history);
  if (charts[0].u.root.isConnected) charts[0].u.setData(s.alloc);
  if (charts[1].u.root.isConnected) charts[1].u.setData(s.rates);
}
