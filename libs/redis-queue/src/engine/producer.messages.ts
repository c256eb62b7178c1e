/** Messages of JobProducer's errors, in one place. */
export const producerMessages = {
  notStored: '; nothing was stored',
  partial: (p: { stored: number; total: number; size: number }) =>
    ` (${p.stored} of ${p.total} batches of up to ${p.size} were confirmed stored; the others may or may not be)`,
  outOfMemory: (queue: string) =>
    `enqueue to "${queue}": Redis is out of memory (maxmemory reached, maxmemory-policy noeviction), so nothing was ` +
    'stored; workers keep draining the queues, which frees memory: retry later, or give Redis more memory',
  notSent: (queue: string, cause: string, partial?: { stored: number; total: number; size: number }) =>
    `enqueue to "${queue}": the Redis connection could not send the job (${cause}); nothing was stored` +
    (partial ? producerMessages.partial(partial) : ''),
  unknownOutcome: (queue: string, timeout: number, cause: string, partial?: { stored: number; total: number; size: number }) =>
    `enqueue to "${queue}": Redis did not confirm within ${timeout} ms (${cause})` +
    (partial ? producerMessages.partial(partial) : '') +
    '; the job may or may not be stored, so retry with the same jobId to stay idempotent',
  noSubscriber: 'waitForResult needs the producer to have a Pub/Sub subscriber (ProducerSettings.notifications)',
  notTracked: (queue: string, id: string) =>
    `no tracked job "${id}" in queue "${queue}": waitForResult needs the job enqueued with { track: true } (or a queue tracked by default)`,
  cancelled: (queue: string, id: string) => `job ${id} of queue "${queue}" was cancelled`,
  waitTimeout: (queue: string, id: string, ms: number) => `job ${id} of queue "${queue}" did not finish within ${ms} ms`,
  tooLargeForOneCall: (bytes: number, max: number) =>
    `Invalid payload: the job encodes to ${bytes} bytes, more than one script call carries (${max}); lower the payload size`,
};
