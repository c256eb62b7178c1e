// The framework-free engine: used by the Nest layer, the benchmark, the fault harness and tools.
export * from './backoff.js';
export * from './broadcast.js';
export * from './codec.js';
export * from './describe.js';
export * from './errors.js';
export * from './inspector.js';
export * from './job-context.js';
export * from './job-options.js';
export * from './keys.js';
export * from './logger.js';
export * from './producer.js';
export * from './pubsub.js';
export * from './redis-client.js';
export * from './replication.js';
export * from './scripts.js';
export * from './worker.js';
