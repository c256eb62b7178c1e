// DOM helpers. Everything shown is built with text nodes: job data never becomes markup.

/** h('a', { href, class }, child, ...): an element; children are nodes, strings or arrays of them. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== undefined) el.setAttribute(key, String(value));
  for (const child of children) if (child) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

export const count = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '–');

/** "12 s ago", "in 3 min". */
export function relative(value, now = Date.now()) {
  if (!value) return '–';
  const ms = new Date(value).getTime() - now;
  const abs = Math.abs(ms);
  const text =
    abs < 1000 ? 'now' : abs < 90_000 ? `${Math.round(abs / 1000)} s` : abs < 5_400_000 ? `${Math.round(abs / 60_000)} min` : abs < 172_800_000 ? `${Math.round(abs / 3_600_000)} h` : `${Math.round(abs / 86_400_000)} d`;
  if (text === 'now') return 'just now';
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

export const time = (value) => (value ? new Date(value).toLocaleString() : '–');

export function json(value, space = 2) {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value, null, space);
}

export function short(value, max = 90) {
  const text = json(value, 0);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function badge(state) {
  return h('span', { class: `badge badge-${state}` }, state);
}

/** A message in the corner for a few seconds. */
export function toast(message, kind = 'info') {
  const el = h('div', { class: `toast ${kind === 'error' ? 'error' : ''}` }, message);
  document.getElementById('toasts').append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 7000 : 3500);
}

export function card(title, extra, ...body) {
  return h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, title), extra), ...body);
}
