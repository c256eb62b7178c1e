const ago = (ms: number) => (ms < 10_000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 1000)} s`);

/** What the health indicator reports, built in one place so wording stays consistent. */
export const healthMessages = {
  redisUnreachable: (reason: string) => `Redis does not answer: ${reason}`,
  pingTimeout: (ms: number) => `no reply to PING within ${ms} ms`,
  loopFailing: (queue: string, forMs: number, reason: string) =>
    `worker loop of queue "${queue}" cannot reach Redis for ${ago(forMs)} (${reason}); it retries with backoff`,
  renewFailing: (queue: string, forMs: number, reason: string) =>
    `lease renewals of queue "${queue}" have been failing for ${ago(forMs)} (${reason}): its running jobs may run again elsewhere`,
  renewLate: (queue: string, sinceMs: number, everyMs: number) =>
    `lease renewals of queue "${queue}" are late: the last ran ${ago(sinceMs)} ago (expected every ${ago(everyMs)}); the event loop may be blocked`,
  notSubscribed: (queue: string) =>
    `worker of queue "${queue}" is not subscribed to the queue's notifications (subscriber connection down): it hears of new jobs only by its timers`,
  stopped: (queue: string) => `worker loop of queue "${queue}" has stopped`,
  oldestReady: (queue: string, id: string, waitedMs: number, maxMs: number) =>
    `queue "${queue}": job ${id} has waited ${ago(waitedMs)} to start (threshold ${ago(maxMs)})`,
  tooManyDead: (queue: string, dead: number, max: number) => `queue "${queue}": ${dead} dead jobs (threshold ${max})`,
  invalidThreshold: (got: string) => `must be a non-negative number (got ${got})`,
};
