import { svg } from './dom.js';

/**
 * Jobs per minute as stacked bars: completed, failed attempts (retried), dead; one bar a minute, oldest
 * on the left. `throughput`: [{ minute, completed, failed, dead, cancelled }].
 */
export function throughputChart(throughput) {
  const width = 960;
  const height = 220;
  const pad = { left: 40, right: 8, top: 10, bottom: 22 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const totals = throughput.map((t) => t.completed + t.failed + t.dead);
  const max = niceMax(Math.max(1, ...totals));
  const slot = innerW / Math.max(1, throughput.length);
  const bar = Math.max(2, slot * 0.72);
  const y = (v) => pad.top + innerH - (v / max) * innerH;

  const root = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Jobs per minute' });
  const grid = svg('g', { class: 'grid' });
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    grid.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }));
    grid.append(svg('text', { x: pad.left - 6, y: y(v) + 3.5, 'text-anchor': 'end' }, formatCount(v)));
  }
  root.append(grid);

  throughput.forEach((t, i) => {
    const x = pad.left + i * slot + (slot - bar) / 2;
    let base = 0;
    const g = svg('g', {});
    for (const kind of ['completed', 'failed', 'dead']) {
      const v = t[kind];
      if (v <= 0) continue;
      g.append(svg('rect', { class: kind, x, width: bar, y: y(base + v), height: Math.max(1, y(base) - y(base + v)), rx: 1.5 }));
      base += v;
    }
    const at = new Date(t.minute);
    g.append(svg('title', {}, `${at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: ${t.completed} completed, ${t.failed} failed attempts, ${t.dead} dead`));
    // A transparent hit area so the tooltip works on empty minutes too.
    g.append(svg('rect', { x: pad.left + i * slot, width: slot, y: pad.top, height: innerH, fill: 'transparent' }));
    root.append(g);
    if (i % 10 === 0 || i === throughput.length - 1) {
      const label = i === throughput.length - 1 ? 'now' : `−${throughput.length - 1 - i} min`;
      root.append(svg('text', { x: pad.left + i * slot + slot / 2, y: height - 6, 'text-anchor': 'middle' }, label));
    }
  });
  return root;
}

function niceMax(n) {
  const magnitude = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * magnitude >= n) return step * magnitude;
  return 10 * magnitude;
}

function formatCount(v) {
  if (v >= 1_000_000) return `${Math.round(v / 100_000) / 10}M`;
  if (v >= 1000) return `${Math.round(v / 100) / 10}k`;
  return String(Math.round(v));
}

/** Sums the per-minute throughput of many queues. */
export function sumThroughput(queues) {
  if (queues.length === 0) return [];
  return queues[0].throughput.map((t, i) => {
    const sum = { minute: t.minute, completed: 0, failed: 0, dead: 0, cancelled: 0 };
    for (const q of queues) {
      const m = q.throughput[i];
      if (!m) continue;
      sum.completed += m.completed;
      sum.failed += m.failed;
      sum.dead += m.dead;
      sum.cancelled += m.cancelled;
    }
    return sum;
  });
}
