// The dashboard's JSON API, relative to the page (its <base href> is where the dashboard is mounted).

async function call(method, path, body) {
  const init = { method, headers: { accept: 'application/json' }, credentials: 'same-origin' };
  if (method !== 'GET') {
    init.headers['content-type'] = 'application/json';
    init.headers['x-rq-dashboard'] = '1';
    init.body = JSON.stringify(body ?? {});
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const message = Array.isArray(data?.message) ? data.message.join('; ') : data?.message ?? response.statusText;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return data;
}

const q = (queue) => `api/queues/${encodeURIComponent(queue)}`;

export const api = {
  config: () => call('GET', 'api/config'),
  snapshot: () => call('GET', 'api/snapshot'),
  workers: () => call('GET', 'api/workers'),
  activity: (limit = 50) => call('GET', `api/activity?limit=${limit}`),
  jobs: (queue, state, offset, limit) => call('GET', `${q(queue)}/jobs?state=${state}&offset=${offset}&limit=${limit}`),
  job: (queue, id) => call('GET', `${q(queue)}/jobs/${encodeURIComponent(id)}`),
  schedules: (queue) => call('GET', `${q(queue)}/schedules`),
  pause: (queue) => call('POST', `${q(queue)}/pause`),
  resume: (queue) => call('POST', `${q(queue)}/resume`),
  retry: (queue, ids) => call('POST', `${q(queue)}/dead/retry`, ids ? { ids } : { all: true }),
  remove: (queue, ids) => call('POST', `${q(queue)}/dead/remove`, ids ? { ids } : { all: true }),
  cancel: (queue, id) => call('POST', `${q(queue)}/jobs/${encodeURIComponent(id)}/cancel`),
  promote: (queue, id, member) => call('POST', `${q(queue)}/jobs/${encodeURIComponent(id)}/promote`, member ? { member } : {}),
};
