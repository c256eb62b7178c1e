import { INestApplicationContext, Injectable, LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueAdmin, QueueHandler, QueueHandlerOptions, QueueInspector, QueueOverrides, QueueProducer, RedisQueueModule } from 'nestjs-redis-queue';
import { redisUrl, uniquePrefix, waitFor } from '../support/helpers.js';

/** What the apps log (Nest's logger override is process-wide: one for the file). */
class Captured implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown) {
    this.lines.push(String(message));
  }
  warn(message: unknown) {
    this.lines.push(String(message));
  }
  error(message: unknown) {
    this.lines.push(String(message));
  }
}

const ran: Array<{ deployment: string; n: number }> = [];

/** A deployment: an app whose handler of `queue` declares `options` (and, optionally, a `queues` override). */
async function deploy(
  name: string,
  prefix: string,
  options: QueueHandlerOptions,
  logs: Captured,
  override?: QueueOverrides,
): Promise<INestApplicationContext> {
  @Injectable()
  class Handler {
    @QueueHandler('shared', { concurrency: 4, ...options })
    run(payload: unknown) {
      ran.push({ deployment: name, n: (payload as { n: number }).n });
    }
  }
  const moduleRef = await Test.createTestingModule({
    imports: [
      RedisQueueModule.forRoot({
        connection: redisUrl(),
        prefix,
        checkRedisConfig: false,
        ...(override ? { queues: { shared: override } } : {}),
      }),
    ],
    providers: [Handler],
  })
    .setLogger(logs)
    .compile();
  return moduleRef.init();
}

describe('two deployments of one queue declaring different limits', () => {
  const prefix = uniquePrefix('flow-deploy');
  const logs = new Captured();
  const apps: INestApplicationContext[] = [];
  let admin: QueueAdmin;
  let producer: QueueProducer;
  let inspector: QueueInspector;

  const rules = () => admin.configure('shared', {}); // an empty change: resolves with what Redis holds
  const stop = async (app: INestApplicationContext) => {
    await app.close();
    apps.splice(apps.indexOf(app), 1);
  };

  beforeAll(async () => {
    const producerApp = await Test.createTestingModule({
      imports: [RedisQueueModule.forRoot({ connection: redisUrl(), prefix, checkRedisConfig: false, consumers: false })],
    }).compile();
    apps.push(await producerApp.init());
    admin = apps[0].get(QueueAdmin);
    producer = apps[0].get(QueueProducer);
    inspector = apps[0].get(QueueInspector);
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });

  it('the last worker to start stores its rules, every worker obeys them, and a deployment that declares none removes them', async () => {
    const blue = await deploy('blue', prefix, { rateLimit: { max: 100, duration: 1000 }, globalConcurrency: 8 }, logs);
    apps.push(blue);
    await waitFor(async () => (await rules()).rateLimit?.max === 100, 10_000, "blue's rules");

    // Green starts later with a stricter limit: it overwrites blue's, for blue's workers too, and says so.
    const green = await deploy('green', prefix, { rateLimit: { max: 1, duration: 600_000 } }, logs);
    apps.push(green);
    await waitFor(async () => (await rules()).rateLimit?.max === 1, 10_000, "green's rules");
    expect(await rules()).toEqual({
      rateLimit: { max: 1, duration: 600_000 },
      globalConcurrency: null, // green declares none: that is a statement too
      groupConcurrency: null,
      groupRateLimit: null,
    });
    expect(logs.lines).toContainEqual(
      'Queue "shared": queue-wide rules set by this worker for every worker of the queue: rateLimit 100/1000ms -> 1/600000ms, globalConcurrency 8 -> none',
    );

    await producer.enqueueMany('shared', Array.from({ length: 5 }, (_, n) => ({ payload: { n } })));
    await waitFor(() => ran.length === 1, 10_000, 'the one start the window allows');
    // The ack of that job travels in a claim call that asks for more: it gets none (either deployment).
    await waitFor(async () => (await inspector.counts('shared')).active === 0, 10_000, 'the ack');
    expect(await inspector.counts('shared')).toMatchObject({ ready: 4 });
    expect(ran).toHaveLength(1);

    // Blue restarts (a rolling deploy): the last to start is blue again, and its limit is back.
    await stop(blue);
    const blue2 = await deploy('blue', prefix, { rateLimit: { max: 100, duration: 1000 }, globalConcurrency: 8 }, logs);
    apps.push(blue2);
    await waitFor(() => ran.length === 5, 10_000, "the other 4 jobs under blue's limit");
    expect(await rules()).toMatchObject({ rateLimit: { max: 100, duration: 1000 }, globalConcurrency: 8 });

    // A deployment that declares no limit at all removes them for everyone.
    const plain = await deploy('plain', prefix, {}, logs);
    apps.push(plain);
    await waitFor(async () => (await rules()).rateLimit === null, 10_000, 'the rules removed');
    expect(await rules()).toEqual({ rateLimit: null, globalConcurrency: null, groupConcurrency: null, groupRateLimit: null });
  });

  it('a rule set with QueueAdmin.configure lasts until the next worker of the queue starts', async () => {
    await admin.configure('shared', { rateLimit: { max: 3, duration: 1000 } });
    expect((await rules()).rateLimit).toEqual({ max: 3, duration: 1000 });
    const next = await deploy('next', prefix, {}, logs);
    apps.push(next);
    await waitFor(async () => (await rules()).rateLimit === null, 10_000, 'the worker to restate its (absent) rules');
  });

  it('a deployment override (module queues) is what that deployment declares', async () => {
    const tuned = await deploy('tuned', prefix, { rateLimit: { max: 100, duration: 1000 } }, logs, { rateLimit: { max: 7, duration: 2000 } });
    apps.push(tuned);
    await waitFor(async () => (await rules()).rateLimit?.max === 7, 10_000, 'the override stored');
    expect((await rules()).rateLimit).toEqual({ max: 7, duration: 2000 });
  });
});
