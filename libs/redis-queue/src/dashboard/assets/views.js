// The pages. Each view takes what the app knows (config, the live snapshot, fetched data) and builds
// its DOM; actions call `act`, which runs the request and shows the outcome.
import { sumThroughput, throughputChart } from './chart.js';
import { badge, card, count, h, json, relative, short, time } from './dom.js';

export const STATES = ['ready', 'delayed', 'active', 'dead', 'completed'];
export const PAGE_SIZE = 25;

const STATE_LABELS = { ready: 'Ready', delayed: 'Delayed', active: 'Active', dead: 'Dead', completed: 'Completed' };

const queueHref = (queue, state = 'ready', page = 1) => `#/queues/${encodeURIComponent(queue)}/${state}${page > 1 ? `/${page}` : ''}`;
const jobHref = (queue, id) => `#/queues/${encodeURIComponent(queue)}/jobs/${encodeURIComponent(id)}`;

/** Completed per minute over the last 5 minutes (the last one is under way). */
function perMinute(throughput, pick) {
  const last = throughput.slice(-5);
  const minutes = 4 + (Date.now() % 60_000) / 60_000;
  return Math.round((last.reduce((n, t) => n + pick(t), 0) / minutes) * 10) / 10;
}

function head(title, sub, actions, crumbs) {
  return h(
    'div',
    { class: 'page-head' },
    h('div', {}, crumbs ? h('div', { class: 'crumbs' }, crumbs) : null, h('h1', {}, title), sub ? h('div', { class: 'sub' }, sub) : null),
    actions ? h('div', { class: 'actions' }, actions) : null,
  );
}

function tile(kind, label, value, href, current) {
  const body = [h('div', { class: 'label' }, label), h('div', { class: 'value', dataset: { count: kind } }, value)];
  return href ? h('a', { class: `tile ${kind}${current ? ' current' : ''}`, href }, body) : h('div', { class: `tile ${kind}` }, body);
}

function chartCard(title, throughput) {
  return card(
    title,
    h('div', { class: 'legend' }, h('span', { class: 'completed' }, 'completed'), h('span', { class: 'failed' }, 'failed attempts'), h('span', { class: 'dead' }, 'dead')),
    h('div', { class: 'card-body' }, throughputChart(throughput)),
  );
}

function table(columns, rows, empty) {
  if (rows.length === 0) return h('div', { class: 'empty' }, empty);
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class }, c.label)))),
    h('tbody', {}, rows),
  );
}

// -- overview ---------------------------------------------------------------------------------------

export function overviewView(app) {
  const { snapshot } = app;
  const queues = snapshot.queues;
  const total = (state) => queues.reduce((n, q) => n + q.counts[state], 0);
  const all = sumThroughput(queues);
  const rows = queues.map((q) =>
    h(
      'tr',
      { dataset: { queue: q.queue } },
      h('td', {}, h('a', { href: queueHref(q.queue) }, q.queue)),
      h('td', { class: 'num' }, count(q.counts.ready)),
      h('td', { class: 'num' }, count(q.counts.delayed)),
      h('td', { class: 'num' }, count(q.counts.active)),
      h('td', { class: 'num' }, q.counts.dead > 0 ? h('a', { href: queueHref(q.queue, 'dead') }, count(q.counts.dead)) : '0'),
      h('td', { class: 'num' }, String(perMinute(q.throughput, (t) => t.completed))),
      h('td', { class: 'num' }, count(q.throughput.reduce((n, t) => n + t.failed + t.dead, 0))),
      h('td', {}, badge(q.paused ? 'paused' : 'running')),
    ),
  );
  return [
    head('Overview', `${queues.length} queue(s) · ${snapshot.workers.length} worker process(es) · updated ${new Date(snapshot.at).toLocaleTimeString()}`),
    h(
      'div',
      { class: 'tiles' },
      tile('ready', 'Ready', count(total('ready'))),
      tile('delayed', 'Delayed', count(total('delayed'))),
      tile('active', 'Active', count(total('active'))),
      tile('dead', 'Dead', count(total('dead'))),
      tile('completed', 'Completed / min', String(perMinute(all, (t) => t.completed))),
    ),
    chartCard('Throughput, last 60 minutes (all queues)', all),
    card(
      'Queues',
      null,
      h(
        'div',
        { class: 'card-body flush' },
        table(
          [
            { label: 'Queue' },
            { label: 'Ready', class: 'num' },
            { label: 'Delayed', class: 'num' },
            { label: 'Active', class: 'num' },
            { label: 'Dead', class: 'num' },
            { label: 'Done / min', class: 'num' },
            { label: 'Failed (60 min)', class: 'num' },
            { label: 'State' },
          ],
          rows,
          'No queues yet: they appear once a producer or worker used them.',
        ),
      ),
    ),
    h('div', { class: 'grid-2' }, workersCard(snapshot.workers, true), activityCard(app.activity ?? [], 8)),
  ];
}

// -- workers and activity ---------------------------------------------------------------------------

function workersCard(workers, compact = false) {
  const rows = workers.map((w) =>
    h(
      'tr',
      {},
      h('td', {}, w.host),
      h('td', { class: 'num' }, String(w.pid)),
      h('td', {}, w.queues.map((q) => `${q.queue} (${q.concurrency})`).join(', ')),
      h('td', { class: 'nowrap', title: time(w.heartbeatAt) }, relative(w.heartbeatAt)),
      compact ? null : h('td', { class: 'nowrap', title: time(w.startedAt) }, relative(w.startedAt)),
      compact ? null : h('td', { class: 'dim' }, w.version),
    ),
  );
  const columns = [{ label: 'Host' }, { label: 'PID', class: 'num' }, { label: 'Queues (concurrency)' }, { label: 'Heartbeat' }];
  if (!compact) columns.push({ label: 'Started' }, { label: 'Version' });
  return card(
    'Workers alive',
    h('span', { class: 'dim' }, `${workers.length}`),
    h(
      'div',
      { class: 'card-body flush' },
      table(columns, rows, 'No worker process is alive.'),
    ),
  );
}

function activityRows(entries, compact = false) {
  return entries.map((e) =>
    h(
      'tr',
      {},
      h('td', { class: 'nowrap', title: time(e.at) }, relative(e.at)),
      h('td', { class: 'nowrap' }, h('strong', {}, e.actor), e.source === 'cli' ? h('span', { class: 'dim' }, ' (cli)') : null),
      h('td', {}, e.action),
      h('td', {}, h('a', { href: queueHref(e.queue) }, e.queue)),
      compact ? null : h('td', { class: 'mono' }, e.all ? 'all dead' : (e.ids ?? []).slice(0, 5).join(', ') + ((e.ids?.length ?? 0) > 5 ? '…' : '')),
      h('td', { class: 'dim' }, e.outcome),
      compact || !e.ip ? null : h('td', { class: 'dim mono' }, e.ip),
    ),
  );
}

function activityCard(entries, limit) {
  return card(
    'Recent activity',
    h('a', { href: '#/activity' }, 'All'),
    h(
      'div',
      { class: 'card-body flush' },
      table([{ label: 'When' }, { label: 'Who' }, { label: 'Action' }, { label: 'Queue' }, { label: 'Outcome' }], activityRows(entries.slice(0, limit), true), 'No actions yet.'),
    ),
  );
}

export function workersView(app) {
  return [head('Workers', 'Worker processes with a heartbeat in the last 35 s'), workersCard(app.snapshot.workers)];
}

export function activityView(app, entries) {
  return [
    head('Activity', 'Every action taken from the dashboard or the rq CLI, newest first, with who took it'),
    card(
      'Actions',
      null,
      h(
        'div',
        { class: 'card-body flush' },
        table([{ label: 'When' }, { label: 'Who' }, { label: 'Action' }, { label: 'Queue' }, { label: 'Jobs' }, { label: 'Outcome' }, { label: 'From' }], activityRows(entries), 'No actions yet.'),
      ),
    ),
  ];
}

// -- a queue ----------------------------------------------------------------------------------------

export function queueView(app, route, data) {
  const overview = app.snapshot.queues.find((q) => q.queue === route.queue);
  const counts = overview?.counts ?? { ready: 0, delayed: 0, active: 0, dead: 0 };
  const readOnly = app.config.readOnly;
  const pauseButton = overview?.paused
    ? h('button', { class: 'button primary', disabled: readOnly, onclick: () => app.act(`resume "${route.queue}"`, () => app.api.resume(route.queue)) }, 'Resume')
    : h('button', { class: 'button', disabled: readOnly, onclick: () => app.act(`pause "${route.queue}"`, () => app.api.pause(route.queue)) }, 'Pause');
  const limits = [];
  if (overview?.rateLimit) limits.push(`rate limit ${overview.rateLimit.max} per ${overview.rateLimit.duration} ms`);
  if (overview?.globalConcurrency) limits.push(`at most ${overview.globalConcurrency} running`);
  const sub = [overview?.paused ? 'Paused: workers start nothing until it is resumed.' : 'Running.', ...limits].join(' · ');

  return [
    head(h('span', {}, route.queue, ' ', badge(overview?.paused ? 'paused' : 'running')), sub, [pauseButton], h('a', { href: '#/' }, 'Overview')),
    h(
      'div',
      { class: 'tiles' },
      STATES.slice(0, 4).map((s) => tile(s, STATE_LABELS[s], count(counts[s]), queueHref(route.queue, s), route.state === s)),
      tile('completed', 'Completed / min', String(perMinute(overview?.throughput ?? [], (t) => t.completed)), queueHref(route.queue, 'completed'), route.state === 'completed'),
    ),
    chartCard('Throughput, last 60 minutes', overview?.throughput ?? []),
    jobsCard(app, route, data, counts),
    data.schedules.length > 0 ? schedulesCard(data.schedules) : null,
  ];
}

function jobsCard(app, route, data, counts) {
  const { page } = data;
  const readOnly = app.config.readOnly;
  const offset = (route.page - 1) * PAGE_SIZE;
  const tabs = h(
    'div',
    { class: 'tabs', role: 'tablist' },
    STATES.map((s) =>
      h('a', { class: `tab${route.state === s ? ' current' : ''}`, href: queueHref(route.queue, s), role: 'tab' }, STATE_LABELS[s], s in counts ? h('span', { class: 'count' }, count(counts[s])) : null),
    ),
  );
  const selected = app.selected;
  const ids = page.jobs.map((j) => j.id);
  const dead = route.state === 'dead';
  const toolbar = h(
    'div',
    { class: 'toolbar' },
    h(
      'div',
      { class: 'actions' },
      dead
        ? [
            h('button', { class: 'button small primary', disabled: readOnly || selected.size === 0, onclick: () => app.act(`retry ${selected.size} dead job(s)`, () => app.api.retry(route.queue, [...selected])) }, `Retry selected (${selected.size})`),
            h('button', { class: 'button small danger', disabled: readOnly || selected.size === 0, onclick: () => app.act(`remove ${selected.size} dead job(s)`, () => app.api.remove(route.queue, [...selected])) }, `Remove selected`),
            h('button', { class: 'button small', disabled: readOnly || page.total === 0, onclick: () => app.act(`retry every dead job of "${route.queue}"`, () => app.api.retry(route.queue), true) }, 'Retry all'),
            h('button', { class: 'button small danger', disabled: readOnly || page.total === 0, onclick: () => app.act(`remove every dead job of "${route.queue}"`, () => app.api.remove(route.queue), true) }, 'Remove all'),
          ]
        : h('span', { class: 'dim' }, describeOrder(route.state)),
    ),
    pager(route, page.total, offset, page.jobs.length),
  );

  const columns = [
    dead ? { label: h('input', { type: 'checkbox', 'aria-label': 'Select all on this page', checked: ids.length > 0 && ids.every((id) => selected.has(id)), onchange: (e) => toggle(app, ids, e.target.checked) }), class: 'check' } : null,
    { label: 'Job' },
    { label: 'Attempts', class: 'num' },
    { label: route.state === 'delayed' ? 'Due' : dead ? 'Died' : route.state === 'completed' ? 'Finished' : 'Enqueued' },
    { label: dead ? 'Error' : 'Payload' },
    route.state === 'delayed' ? { label: '' } : null,
  ].filter(Boolean);
  const rows = page.jobs.map((j) =>
    h(
      'tr',
      { dataset: { job: j.id } },
      dead
        ? h('td', { class: 'check' }, h('input', { type: 'checkbox', 'aria-label': `Select job ${j.id}`, checked: selected.has(j.id), onchange: (e) => toggle(app, [j.id], e.target.checked) }))
        : null,
      h('td', { class: 'mono' }, h('a', { href: jobHref(route.queue, j.id) }, j.id), j.group ? h('span', { class: 'dim' }, ` · ${j.group}`) : null, j.priority ? h('span', { class: 'dim' }, ` · p${j.priority}`) : null),
      h('td', { class: 'num' }, String(j.attemptsMade)),
      h('td', { title: time(j.at ?? j.enqueuedAt) }, relative(j.at ?? j.enqueuedAt)),
      j.malformed
        ? h('td', { class: 'error' }, `malformed: ${j.malformed}`)
        : dead
          ? h('td', { class: 'error' }, h('div', { class: 'cell-main' }, `${j.error?.name}: ${j.error?.message}`))
          : h('td', { class: 'mono' }, h('div', { class: 'cell-main' }, short(j.payload))),
      route.state === 'delayed'
        ? h('td', {}, h('button', { class: 'button small', disabled: readOnly, onclick: () => app.act(`promote job ${j.id}`, () => app.api.promote(route.queue, j.id, j.member)) }, 'Run now'))
        : null,
    ),
  );
  return h(
    'section',
    { class: 'card' },
    tabs,
    toolbar,
    h('div', { class: 'card-body flush' }, table(columns, rows, `No ${route.state} jobs.`)),
  );
}

function toggle(app, ids, on) {
  for (const id of ids) {
    if (on) app.selected.add(id);
    else app.selected.delete(id);
  }
  app.rerender();
}

function describeOrder(state) {
  return {
    ready: 'In the order they will run',
    delayed: 'By due time, soonest first',
    active: 'Running now, by lease deadline',
    completed: 'Tracked jobs that completed, newest first',
  }[state];
}

function pager(route, total, offset, shown) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const from = shown === 0 ? 0 : offset + 1;
  return h(
    'div',
    { class: 'pager' },
    h('span', { dataset: { range: '' } }, `${count(from)}–${count(offset + shown)} of ${count(total)}`),
    h('a', { class: 'button small', href: queueHref(route.queue, route.state, 1), 'aria-disabled': route.page <= 1 }, 'First'),
    h('a', { class: 'button small', href: queueHref(route.queue, route.state, Math.max(1, route.page - 1)) }, 'Previous'),
    h('a', { class: 'button small', href: queueHref(route.queue, route.state, Math.min(pages, route.page + 1)) }, 'Next'),
    h('a', { class: 'button small', href: queueHref(route.queue, route.state, pages) }, 'Last'),
  );
}

function schedulesCard(schedules) {
  const rows = schedules.map((s) =>
    h(
      'tr',
      {},
      h('td', {}, s.name),
      h('td', { class: 'mono' }, s.cron !== undefined ? `${s.cron}${s.timeZone ? ` (${s.timeZone})` : ''}` : `every ${count(s.every)} ms`),
      h('td', { title: time(s.nextRunAt) }, relative(s.nextRunAt)),
      h('td', { title: time(s.lastRunAt) }, relative(s.lastRunAt)),
      h('td', {}, s.source),
    ),
  );
  return card('Schedules', null, h('div', { class: 'card-body flush' }, table([{ label: 'Name' }, { label: 'When' }, { label: 'Next run' }, { label: 'Last run' }, { label: 'Source' }], rows, '')));
}

// -- a job ------------------------------------------------------------------------------------------

export function jobView(app, route, job) {
  const crumbs = [h('a', { href: '#/' }, 'Overview'), ' / ', h('a', { href: queueHref(route.queue) }, route.queue)];
  if (!job) {
    return [
      head(`Job ${route.id}`, null, null, crumbs),
      card('Not found', null, h('div', { class: 'empty' }, `No job "${route.id}" in queue "${route.queue}". Dead jobs are always found; others only when enqueued with the "track" option.`)),
    ];
  }
  const readOnly = app.config.readOnly;
  const actions = [];
  if (job.state === 'dead') {
    actions.push(h('button', { class: 'button primary', disabled: readOnly, onclick: () => app.act(`retry job ${job.id}`, () => app.api.retry(job.queue, [job.id])) }, 'Retry'));
    actions.push(h('button', { class: 'button danger', disabled: readOnly, onclick: () => app.act(`remove job ${job.id}`, () => app.api.remove(job.queue, [job.id]), true) }, 'Remove'));
  }
  if (job.state === 'delayed') actions.push(h('button', { class: 'button primary', disabled: readOnly, onclick: () => app.act(`promote job ${job.id}`, () => app.api.promote(job.queue, job.id)) }, 'Run now'));
  if (['ready', 'delayed', 'active'].includes(job.state) && job.tracked && !job.cancelling) {
    actions.push(h('button', { class: 'button danger', disabled: readOnly, onclick: () => app.act(`cancel job ${job.id}`, () => app.api.cancel(job.queue, job.id), true) }, 'Cancel'));
  }
  const rows = [
    ['State', h('span', { dataset: { state: job.state } }, badge(job.state), job.cancelling ? h('span', { class: 'dim' }, ' cancelling…') : null)],
    ['Attempts', `${job.attemptsMade}${job.maxAttempts ? ` of ${job.maxAttempts}` : ''}`],
    ['Enqueued', `${time(job.enqueuedAt)} (${relative(job.enqueuedAt)})`],
    job.runAt ? ['Due', `${time(job.runAt)} (${relative(job.runAt)})`] : null,
    job.finishedAt ? ['Finished', `${time(job.finishedAt)} (${relative(job.finishedAt)})`] : null,
    job.priority !== undefined ? ['Priority', String(job.priority)] : null,
    job.group !== undefined ? ['Group', job.group] : null,
    ['Trace id', h('code', {}, job.traceId)],
    ['Tracked', job.tracked ? 'yes' : 'no (found only once dead)'],
    job.progress !== undefined ? ['Progress', progress(job.progress)] : null,
  ].filter(Boolean);
  return [
    head(h('span', {}, `Job ${job.id}`), `in queue ${job.queue}`, actions, crumbs),
    card('Details', null, h('div', { class: 'card-body' }, h('dl', { class: 'details' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])))),
    job.error
      ? card(
          'Error',
          null,
          h('div', { class: 'card-body' }, h('div', { class: 'error-title', dataset: { error: '' } }, `${job.error.name}: ${job.error.message}`), job.error.stack ? h('pre', { class: 'block error' }, job.error.stack) : null),
        )
      : null,
    card('Payload', null, h('div', { class: 'card-body' }, h('pre', { class: 'block', dataset: { payload: '' } }, json(job.payload)))),
    job.result !== undefined ? card('Result', null, h('div', { class: 'card-body' }, h('pre', { class: 'block' }, json(job.result)))) : null,
  ];
}

function progress(value) {
  if (typeof value === 'number' && value >= 0 && value <= 100) {
    const fill = h('span', {});
    fill.style.width = `${value}%`; // through the CSSOM: the page's CSP allows no inline style attributes
    return h('span', {}, h('span', { class: 'progress' }, fill), `${value}%`);
  }
  return h('code', {}, json(value, 0));
}
