/** Every user-facing message of the Nest layer, built in one place so wording stays consistent. */
export const messages = {
  duplicateHandler: (queue: string, first: string, second: string) =>
    `Two handlers for queue "${queue}": ${first} and ${second}. A queue has exactly one @QueueHandler per app; ` +
    'remove one, or give them different queues.',
  invalidHandler: (handler: string, problem: string) => `@QueueHandler on ${handler}: ${problem}`,
  requestScopedHandler: (provider: string) =>
    `${provider} is request-scoped; its @QueueHandler methods are ignored (a worker has no request). Make it a singleton.`,
  workersStarted: (queues: string[]) => `Worker loops started for ${quoted(queues)}`,
  workersStopping: (timeout: number) => `Stopping worker loops; running jobs get up to ${timeout} ms to finish`,
  workersStopped: () => 'Worker loops stopped',
  consumersDisabled: (count: number) =>
    `consumers: false, so the ${count} @QueueHandler method(s) found will not run in this app`,
  consumersSkipped: (queues: string[]) =>
    `consumers lists other queues, so the handlers of ${quoted(queues)} will not run in this app (producing to them works)`,
  unknownQueues: (option: string, queues: string[], known: string[]) =>
    `names ${queues.length === 1 ? 'a queue' : 'queues'} with no @QueueHandler in this app: ${quoted(queues)} ` +
    `(${known.length > 0 ? `handlers here: ${quoted(known)}` : 'this app has no handlers'}). ` +
    `${option} only configures queues whose handlers this app registers.`,
  codeOnlyHandlerOption: () =>
    'is part of the handler code and cannot be overridden per deployment; set it on @QueueHandler or defineQueue',
  invalidPayloadForEnqueue: (queue: string, type: string, problems: string) =>
    `Invalid payload for queue "${queue}" (${type}): ${problems}. Nothing was stored.`,
  invalidPayloadForHandler: (type: string, problems: string) => `Payload is not a valid ${type}: ${problems}`,
  payloadNotObject: (type: string, got: string) => `Payload is not a valid ${type}: ${got}`,
  notAnObject: (payload: unknown) =>
    `expected an object, got ${Array.isArray(payload) ? 'an array' : payload === null ? 'null' : typeof payload}`,
  invalidPayloadForSchema: (schema: string, problems: string) => `Payload failed its ${schema}: ${problems}`,
  classValidatorMissing: (feature: string) =>
    `${feature} is validated with class-validator, which is not installed: npm install class-validator class-transformer ` +
    '(or give a Standard Schema validator as `schema` instead)',
  classValidatorUnreachable: () =>
    'classes carry class-validator decorators, but class-validator cannot be imported from nestjs-redis-queue: ' +
    'install class-validator (and class-transformer) as dependencies of the app, next to nestjs-redis-queue',
  evictionPolicy: (policy: string, where = '') =>
    `Redis${where} maxmemory-policy is "${policy}": under memory pressure Redis may evict queue keys and lose jobs. ` +
    'Set maxmemory-policy to noeviction for queues.',
  volatileEvictionPolicy: (policy: string, where = '') =>
    `Redis${where} maxmemory-policy is "${policy}": fine for queues (their keys carry no TTL, so this policy never ` +
    'evicts them; a full Redis refuses new jobs as with noeviction, and workers keep draining).',
  noPersistence: (where = '') =>
    `Redis${where} persistence is off (no AOF, no RDB saves): a Redis restart loses every job. Turn on appendonly yes ` +
    '(appendfsync everysec) for queues that must survive restarts.',
  invalidBroadcastHandler: (handler: string, problem: string) => `@BroadcastHandler on ${handler}: ${problem}`,
  requestScopedBroadcastHandler: (provider: string) =>
    `${provider} is request-scoped; its @BroadcastHandler methods are ignored (a broadcast has no request). Make it a singleton.`,
  broadcastHandlersSubscribed: (channels: string[]) =>
    `Broadcast handlers listening on ${channels.map((c) => `"${c}"`).join(', ')}`,
  broadcastHandlerFailed: (handler: string, channel: string, reason: string) =>
    `Broadcast handler ${handler} failed on channel "${channel}": ${reason}`,
  invalidBroadcastForHandler: (handler: string, channel: string, reason: string) =>
    `Broadcast on channel "${channel}" not handled by ${handler}: ${reason}`,
  invalidPayloadForBroadcast: (channel: string, type: string, problems: string) =>
    `Invalid payload for broadcast channel "${channel}" (${type}): ${problems}. Nothing was sent.`,
  configUnreadable: (reason: string) => `Could not read the Redis configuration to check durability settings: ${reason}`,
  durabilityCheckGaveUp: (waitMs: number) =>
    `the startup durability check waits at most ${waitMs} ms for Redis, then is skipped (the app runs on)`,
  requestScopedListener: (provider: string) =>
    `${provider} is request-scoped; its @OnQueueEvent methods are ignored (an event has no request). Make it a singleton.`,
  invalidListener: (listener: string, problem: string) => `@OnQueueEvent on ${listener}: ${problem}`,
  listenersStarted: (what: string[]) => `Listening to queue events ${what.map((w) => `"${w}"`).join(', ')}`,
  scheduleRefused: (queue: string, reason: string) => `Queue "${queue}": its handler's schedule was refused: ${reason}`,
  schedulesNotStored: (queue: string, reason: string) =>
    `Queue "${queue}": could not store the schedules its handler declares yet (${reason}); retrying in the background`,
  appClosed: (what: string) => `${what}: the app was closed; its Redis connections are gone`,
};

function quoted(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(', ');
}
