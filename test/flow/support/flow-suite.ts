import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { QueueAdmin } from 'nestjs-redis-queue';
import { rawClient, uniquePrefix } from '../../support/helpers.js';
import { QueueApp, startQueueApp } from '../../support/queue-app.js';
import { FlowWorkers } from './flow-workers.js';

/** What a flow suite works with: a producer app (no consumers) on its own prefix, its QueueAdmin, a raw client. */
export interface FlowSuite {
  q: QueueApp;
  admin: QueueAdmin;
  redis: Redis;
}

/**
 * The hooks every flow suite shares: before all, the suite's app (prefix `label-<random>`), handed to `ready`;
 * after each test, every worker process it started is stopped; after all, the app and the client close.
 */
export function flowSuite(label: string, ready: (suite: FlowSuite) => void): void {
  let suite: FlowSuite | undefined;
  beforeAll(async () => {
    const q = await startQueueApp([], { prefix: uniquePrefix(label), consumers: false });
    suite = { q, admin: q.app.get(QueueAdmin), redis: rawClient() };
    ready(suite);
  });
  afterEach(() => FlowWorkers.stopAll());
  afterAll(async () => {
    suite?.redis.disconnect();
    await suite?.q.close();
  });
}
