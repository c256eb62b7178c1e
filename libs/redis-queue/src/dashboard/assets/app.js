// The dashboard's app: routes (#/...), the live snapshot (server-sent events), and actions.
import { api } from './api.js';
import { count, h, toast } from './dom.js';
import { activityView, jobView, overviewView, PAGE_SIZE, queueView, STATES, workersView } from './views.js';

const app = {
  api,
  config: undefined,
  snapshot: undefined,
  activity: [],
  /** Dead jobs ticked on the current page. */
  selected: new Set(),
  /** Data fetched for the current view, and what it was fetched for. */
  cache: { key: '', signature: '', data: undefined },
  rerender: () => render(false),
  act,
};

/** `#/`, `#/workers`, `#/activity`, `#/queues/<q>/<state>[/<page>]`, `#/queues/<q>/jobs/<id>`. */
function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'workers') return { name: 'workers' };
  if (parts[0] === 'activity') return { name: 'activity' };
  if (parts[0] === 'queues' && parts[1]) {
    if (parts[2] === 'jobs' && parts[3]) return { name: 'job', queue: parts[1], id: parts[3] };
    const state = STATES.includes(parts[2]) ? parts[2] : 'ready';
    return { name: 'queue', queue: parts[1], state, page: Math.max(1, Number(parts[3]) || 1) };
  }
  return { name: 'overview' };
}

/** What about the live snapshot makes the current view's data stale. */
function signature(r) {
  if (!app.snapshot) return '';
  if (r.name === 'activity' || r.name === 'overview') return app.snapshot.activityAt ?? '';
  const q = app.snapshot.queues.find((o) => o.queue === r.queue);
  return q ? JSON.stringify([q.counts, q.paused, q.throughput.slice(-2)]) : '';
}

async function fetchFor(r) {
  switch (r.name) {
    case 'queue': {
      const [page, schedules] = await Promise.all([api.jobs(r.queue, r.state, (r.page - 1) * PAGE_SIZE, PAGE_SIZE), api.schedules(r.queue)]);
      return { page, schedules };
    }
    case 'job':
      return api.job(r.queue, r.id).catch((error) => {
        if (error.status === 404) return null;
        throw error;
      });
    case 'activity':
    case 'overview':
      return api.activity(r.name === 'overview' ? 8 : 200);
    default:
      return undefined;
  }
}

let rendering = 0;

/** Builds the current view; `refetch`: load its data again if the snapshot says it changed. */
async function render(refetch = true) {
  const token = ++rendering;
  const r = route();
  const key = JSON.stringify(r);
  const sig = signature(r);
  if (refetch && (app.cache.key !== key || app.cache.signature !== sig)) {
    try {
      const data = await fetchFor(r);
      if (token !== rendering) return; // a newer render started meanwhile
      app.cache = { key, signature: sig, data };
    } catch (error) {
      if (token !== rendering) return;
      show([h('div', { class: 'card' }, h('div', { class: 'empty' }, `Could not load this page: ${error.message}`))]);
      return;
    }
  }
  const data = app.cache.key === key ? app.cache.data : undefined;
  if (r.name === 'overview' || r.name === 'activity') app.activity = data ?? app.activity;
  const view =
    r.name === 'queue' && data ? queueView(app, r, data)
    : r.name === 'job' && data !== undefined ? jobView(app, r, data)
    : r.name === 'workers' ? workersView(app)
    : r.name === 'activity' ? activityView(app, app.activity)
    : overviewView(app);
  show(view);
  nav(r);
}

function show(nodes) {
  const view = document.getElementById('view');
  view.replaceChildren(...nodes.flat().filter(Boolean));
}

/** The sidebar's queue list and the search box's queues, with their counts. */
function nav(r) {
  const list = document.getElementById('queue-nav');
  list.replaceChildren(
    ...app.snapshot.queues.map((q) =>
      h(
        'a',
        { class: `queue-link${r.queue === q.queue ? ' current' : ''}`, href: `#/queues/${encodeURIComponent(q.queue)}/ready`, dataset: { queue: q.queue } },
        h('span', { class: 'name' }, q.queue, q.paused ? h('span', { class: 'paused-mark', title: 'paused' }, '❚❚') : null),
        q.counts.dead > 0
          ? h('span', { class: 'pill dead', title: 'dead jobs' }, count(q.counts.dead))
          : h('span', { class: 'pill', title: 'waiting jobs (ready and delayed)' }, count(q.counts.ready + q.counts.delayed)),
      ),
    ),
  );
  for (const link of document.querySelectorAll('[data-nav]')) link.classList.toggle('current', link.dataset.nav === r.name);
  const select = document.getElementById('search-queue');
  const names = app.snapshot.queues.map((q) => q.queue);
  if (select.options.length !== names.length || [...select.options].some((o, i) => o.value !== names[i])) {
    const keep = select.value;
    select.replaceChildren(...names.map((n) => h('option', { value: n }, n)));
    if (names.includes(keep)) select.value = keep;
  }
  if (r.queue && names.includes(r.queue) && document.activeElement !== select) select.value = r.queue;
}

/** Runs an action; `confirmFirst` asks before destructive ones. The outcome shows as a toast. */
async function act(what, run, confirmFirst = false) {
  if (app.config.readOnly) return toast('The dashboard is read-only', 'error');
  if (confirmFirst && !window.confirm(`Really ${what}?`)) return;
  try {
    const result = await run();
    toast(describe(what, result));
    app.selected.clear();
    app.snapshot = await api.snapshot();
    app.cache.signature = ''; // reload the view's data
    await render();
  } catch (error) {
    toast(`Could not ${what}: ${error.message}`, 'error');
  }
}

function describe(what, result) {
  if (result && typeof result.count === 'number') return `${what}: ${result.count} job(s)`;
  if (result && typeof result.outcome === 'string') return `${what}: ${result.outcome}`;
  if (result && result.changed === false) return `${what}: nothing to change`;
  return `${what}: done`;
}

function live() {
  const status = document.getElementById('live');
  const events = new EventSource('api/events');
  events.addEventListener('open', () => {
    status.textContent = 'live';
    status.classList.add('on');
  });
  events.addEventListener('error', () => {
    status.textContent = 'reconnecting…';
    status.classList.remove('on');
  });
  events.addEventListener('snapshot', (event) => {
    app.snapshot = JSON.parse(event.data);
    status.textContent = 'live';
    status.classList.add('on');
    void render();
  });
}

async function start() {
  [app.config, app.snapshot] = await Promise.all([api.config(), api.snapshot()]);
  document.getElementById('actor').textContent = app.config.actor;
  document.getElementById('read-only').hidden = !app.config.readOnly;
  document.getElementById('search').addEventListener('submit', (event) => {
    event.preventDefault();
    const queue = document.getElementById('search-queue').value;
    const id = document.getElementById('search-id').value.trim();
    if (queue && id) location.hash = `#/queues/${encodeURIComponent(queue)}/jobs/${encodeURIComponent(id)}`;
  });
  window.addEventListener('hashchange', () => {
    app.selected.clear();
    void render();
  });
  await render();
  live();
}

start().catch((error) => {
  document.getElementById('view').replaceChildren(h('div', { class: 'card' }, h('div', { class: 'empty' }, `The dashboard could not start: ${error.message}`)));
});
