import { INestApplicationContext, Injectable, LoggerService, Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { IsInt, Min } from 'class-validator';
import { Redis } from 'ioredis';
import type { BroadcastMessage } from 'nestjs-redis-queue';
import {
  BroadcastHandler,
  InvalidOptionError,
  InvalidPayloadError,
  QueueProducer,
  RedisQueueModule,
  RedisQueueModuleOptions,
} from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { PriceCache } from '../examples/broadcast/price.cache.js';
import { rawClient, redisUrl, uniquePrefix, waitFor } from './support/helpers.js';

/** Keeps what the apps log (Nest's logger override is process-wide: one for the file). */
class CapturedLog implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown, context?: string) {
    this.lines.push(`log [${context}] ${String(message)}`);
  }
  warn(message: unknown, context?: string) {
    this.lines.push(`warn [${context}] ${String(message)}`);
  }
  error(message: unknown, stack?: string, context?: string) {
    this.lines.push(`error [${context ?? stack}] ${String(message)}`);
  }
}
const captured = new CapturedLog();

const apps: INestApplicationContext[] = [];
async function startApp(prefix: string, providers: Provider[], options: Partial<RedisQueueModuleOptions> = {}) {
  const moduleRef = await Test.createTestingModule({
    imports: [RedisQueueModule.forRoot({ connection: redisUrl(), checkRedisConfig: false, ...options, prefix })],
    providers,
  })
    .setLogger(captured)
    .compile();
  const app = await moduleRef.init();
  apps.push(app);
  return app;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

class Order {
  @IsInt()
  @Min(1)
  quantity!: number;
}

describe('broadcast', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = rawClient();
  });
  afterAll(() => redis.quit());

  it('reaches every one of 3 app instances once per broadcast, sent from a consumers: false app', async () => {
    const prefix = uniquePrefix('bc');
    const received = [[], [], []] as Array<Array<{ payload: unknown; channel: string; sentAt: Date }>>;
    const instances = await Promise.all(
      received.map((into) => {
        @Injectable()
        class Listener {
          @BroadcastHandler('config-changed')
          reload(payload: { key: string; n: number }, message: BroadcastMessage) {
            into.push({ payload, channel: message.channel, sentAt: message.sentAt });
          }
        }
        return startApp(prefix, [Listener]);
      }),
    );
    const sender = await startApp(prefix, [], { consumers: false });
    const producer = sender.get(QueueProducer);
    // One subscription per instance, on the channel the README names.
    expect(await redis.call('PUBSUB', 'NUMSUB', `${prefix}:broadcast:{config-changed}`)).toEqual([`${prefix}:broadcast:{config-changed}`, 3]);

    const before = Date.now();
    for (let n = 1; n <= 3; n++) await producer.broadcast('config-changed', { key: 'feature-x', n });
    await waitFor(() => received.every((r) => r.length >= 3), 10_000, 'every instance to get 3 broadcasts');
    // A last one, so that any duplicate of the first three would have arrived before it.
    await producer.broadcast('config-changed', { key: 'marker', n: 4 });
    await waitFor(() => received.every((r) => r.length >= 4), 10_000, 'the marker');
    for (const r of received) {
      expect(r.map((m) => (m.payload as { n: number }).n)).toEqual([1, 2, 3, 4]);
      expect(r[0].channel).toBe('config-changed');
      expect(r[0].sentAt.getTime()).toBeGreaterThanOrEqual(before);
    }
    expect(instances).toHaveLength(3);
  });

  it('a throwing handler is logged by the RedisQueue logger and still runs for the next broadcast; other handlers run', async () => {
    const prefix = uniquePrefix('bc');
    const attempts: number[] = [];
    const other: number[] = [];
    @Injectable()
    class Flaky {
      @BroadcastHandler('jobs-config')
      async apply(payload: { n: number }) {
        attempts.push(payload.n);
        if (payload.n === 1) throw new Error('cannot apply config 1');
      }

      @BroadcastHandler('jobs-config')
      audit(payload: { n: number }) {
        other.push(payload.n);
      }
    }
    const app = await startApp(prefix, [Flaky]);
    const logged = captured.lines.length;
    await app.get(QueueProducer).broadcast('jobs-config', { n: 1 });
    await waitFor(() => captured.lines.slice(logged).some((l) => l.includes('cannot apply config 1')), 10_000, 'the failure log');
    await app.get(QueueProducer).broadcast('jobs-config', { n: 2 });
    await waitFor(() => attempts.length === 2 && other.length === 2, 10_000, 'the second broadcast');
    expect(attempts).toEqual([1, 2]);
    expect(other).toEqual([1, 2]);
    expect(captured.lines.slice(logged).filter((l) => l.startsWith('error'))).toEqual([
      'error [RedisQueue] Broadcast handler Flaky.apply failed on channel "jobs-config": cannot apply config 1',
    ]);
    // Two handlers of one app share one subscription.
    expect(await redis.call('PUBSUB', 'NUMSUB', `${prefix}:broadcast:{jobs-config}`)).toEqual([`${prefix}:broadcast:{jobs-config}`, 1]);
  });

  it('validates the payload before the handler (class-validator), and at broadcast for class instances', async () => {
    const prefix = uniquePrefix('bc');
    const handled: Order[] = [];
    @Injectable()
    class Orders {
      @BroadcastHandler('orders')
      placed(order: Order) {
        handled.push(order);
      }
    }
    const app = await startApp(prefix, [Orders]);
    const producer = app.get(QueueProducer);
    const logged = captured.lines.length;
    await producer.broadcast('orders', { quantity: 0 }); // a plain object: checked by the handler only
    await producer.broadcast('orders', { quantity: 2 });
    await waitFor(() => handled.length === 1, 10_000, 'the valid broadcast');
    expect(handled[0]).toBeInstanceOf(Order);
    expect(handled[0].quantity).toBe(2);
    expect(captured.lines.slice(logged).filter((l) => l.includes('not handled'))).toEqual([
      expect.stringMatching(/^warn \[RedisQueue\] Broadcast on channel "orders" not handled by Orders\.placed: .*quantity: quantity must not be less than 1/),
    ]);

    const invalid = Object.assign(new Order(), { quantity: -1 });
    const error = await producer.broadcast('orders', invalid).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as InvalidPayloadError).message).toMatch(/^Invalid payload for broadcast channel "orders" \(Order\): quantity: .*Nothing was sent\.$/);
    expect((error as InvalidPayloadError).problems.map((p) => p.path)).toEqual(['quantity']);
  });

  it('checks payloads and channel names as for jobs: JSON-safe, under the size cap, a valid name', async () => {
    const app = await startApp(uniquePrefix('bc'), [], { consumers: false, maxPayloadBytes: 1024 });
    const producer = app.get(QueueProducer);
    await expect(producer.broadcast('ok', { id: 10n })).rejects.toThrow(/payload\.id is a BigInt/);
    await expect(producer.broadcast('ok', 'x'.repeat(2000))).rejects.toThrow(/exceeds the 1024-byte cap/);
    await expect(producer.broadcast('ok', undefined)).rejects.toThrow(InvalidPayloadError);
    await expect(producer.broadcast('no spaces', {})).rejects.toThrow(InvalidOptionError);
    await expect(producer.broadcast('{tag}', {})).rejects.toThrow(/Invalid option "channel"/);
    await producer.broadcast('ok', null); // nobody listening: fine
  });

  it('a bad channel name or option in @BroadcastHandler fails the bootstrap, naming the method', async () => {
    @Injectable()
    class Bad {
      @BroadcastHandler('not ok')
      handle() {}
    }
    await expect(startApp(uniquePrefix('bc'), [Bad])).rejects.toThrow(/@BroadcastHandler on Bad\.handle: Invalid option "channel"/);
    @Injectable()
    class Typo {
      @BroadcastHandler('ok', { validat: false } as never)
      handle() {}
    }
    await expect(startApp(uniquePrefix('bc'), [Typo])).rejects.toThrow(/@BroadcastHandler on Typo\.handle: .*"validat".*did you mean "validate"/);
  });

  it('the README example: invalidating a price clears it in every instance', async () => {
    const prefix = uniquePrefix('bc');
    const caches = (await Promise.all([0, 1, 2].map(() => startApp(prefix, [PriceCache], { consumers: false })))).map((app) =>
      app.get(PriceCache),
    );
    for (const cache of caches) {
      cache.set('sku-1', 10);
      cache.set('sku-2', 20);
    }
    await caches[1].invalidate('sku-1');
    await waitFor(() => caches.every((c) => c.get('sku-1') === undefined), 10_000, 'every cache to forget sku-1');
    expect(caches.map((c) => c.get('sku-2'))).toEqual([20, 20, 20]);
    await expect(caches[0].invalidate('')).rejects.toThrow(/sku should not be empty/);
  });
});

describe('broadcast as an ACL user', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
    const admin = server.client();
    // The README's least-privilege user: its keys, and its channels (`&`), under the prefix.
    await admin.acl('SETUSER', 'shop', 'on', '>s3cret', '~shop:*', '&shop:*', '+@all', '-@dangerous', '+info');
    await admin.acl('SETUSER', 'nochannels', 'on', '>s3cret', '~shop:*', 'resetchannels', '+@all', '-@dangerous', '+info');
    admin.disconnect();
  });
  afterAll(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await server.stop();
  });

  it('works with a channel permission on the prefix (&prefix:*), and says NOPERM without one', async () => {
    const url = (user: string) => `redis://${user}:s3cret@127.0.0.1:${server.port}`;
    const caches = await Promise.all([0, 1].map(() => startApp('shop', [PriceCache], { connection: url('shop') })));
    caches.forEach((app) => app.get(PriceCache).set('sku-1', 1));
    await caches[0].get(PriceCache).invalidate('sku-1');
    await waitFor(() => caches.every((app) => app.get(PriceCache).get('sku-1') === undefined), 10_000, 'both caches to forget');

    const logged = captured.lines.length;
    const denied = await startApp('shop', [PriceCache], { connection: url('nochannels'), commandTimeout: 1000 });
    await expect(denied.get(PriceCache).invalidate('sku-1')).rejects.toThrow(/NOPERM/);
    await waitFor(() => captured.lines.slice(logged).some((l) => /Could not subscribe to channel "shop:broadcast:\{prices\}": NOPERM/.test(l)), 10_000, 'the NOPERM warning');
  });
});
