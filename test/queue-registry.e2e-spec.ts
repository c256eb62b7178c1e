import { closeClient, consoleLogger, createClient, JobProducer, QueueInspector } from '../libs/redis-queue/src/engine/index.js';
import { redisUrl, uniquePrefix, waitFor } from './support/helpers.js';

describe('the queue registry (what the dashboard, rq status and the metrics list)', () => {
  it('lists a queue whose first job was enqueued before the producer connection was up', async () => {
    const prefix = uniquePrefix('registry');
    const client = createClient(redisUrl(), { role: 'producer', name: 'registry-test', commandTimeout: 5000, logger: consoleLogger });
    try {
      expect(client.status).not.toBe('ready');
      await new JobProducer({ client, prefix }).enqueue('early', { n: 1 });
      const inspector = new QueueInspector(client, prefix);
      expect(await waitFor(async () => (await inspector.queues()).includes('early'), 5000, 'the queue to be listed')).toBe(true);
    } finally {
      await closeClient(client);
    }
  });
});
