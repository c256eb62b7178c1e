/** What the dashboard says (log lines and HTTP errors), built in one place so wording stays consistent. */
export const dashboardMessages = {
  action: (actor: string, what: string, outcome: string) => `Dashboard: ${actor} ${what}: ${outcome}`,
  readOnly: 'The dashboard is read-only: actions are refused (option "readOnly")',
  missingHeader: 'Actions need the X-RQ-Dashboard header (a cross-site form cannot send it)',
  badState: (got: string, states: readonly string[]) => `state must be one of ${states.join(', ')} (got "${got}")`,
  badInteger: (field: string, got: string) => `${field} must be a non-negative integer (got "${got}")`,
  badIds: 'give "ids": an array of job ids, or "all": true',
  jobNotFound: (queue: string, id: string) =>
    `No job "${id}" in queue "${queue}" (dead jobs are always found; others only when tracked: enqueue option "track")`,
  notDelayed: (queue: string, id: string) => `Job ${id} of queue "${queue}" is not delayed`,
  noAsset: (name: string) => `No dashboard asset "${name}"`,
  activityFailed: (reason: string) => `Dashboard: could not record the action in Redis (${reason})`,
  invalidOption: (field: string, problem: string) => `RedisQueueDashboardModule: option "${field}" ${problem}`,
};
