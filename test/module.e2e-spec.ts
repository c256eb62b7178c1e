import { Inject, Injectable, Module, Scope } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import {
  JobContext,
  QueueHandler,
  QueueInspector,
  QueueProducer,
  RedisQueueModule,
  RedisQueueModuleOptions,
} from 'nestjs-redis-queue';
import { rawClient, redisUrl, sleep, uniquePrefix, waitFor } from './support/helpers.js';

const calls: string[] = [];

@Injectable()
class EmailHandlers {
  @QueueHandler('email')
  async send(payload: { to: string }, _job: JobContext) {
    calls.push(`email:${payload.to}`);
  }
}

@Injectable()
class OtherEmailHandlers {
  @QueueHandler('email')
  async alsoSend() {}
}

/** A handler class registered through useFactory / useValue: discovery goes by the instance. */
class FactoryHandlers {
  constructor(private readonly tag: string) {}

  @QueueHandler('from-factory')
  async run(payload: { n: number }) {
    calls.push(`${this.tag}:${payload.n}`);
  }
}

@Injectable({ scope: Scope.REQUEST })
class RequestScopedHandlers {
  @QueueHandler('request-scoped')
  async run() {
    calls.push('request-scoped');
  }
}

/** A feature module that does not import RedisQueueModule: the module is global by default. */
@Injectable()
class SignupService {
  constructor(private readonly producer: QueueProducer) {}
  signUp(to: string) {
    return this.producer.enqueue('email', { to });
  }
}

@Module({ providers: [SignupService], exports: [SignupService] })
class SignupModule {}

async function boot(imports: unknown[], providers: unknown[] = []) {
  const moduleRef = await Test.createTestingModule({ imports: imports as never[], providers: providers as never[] }).compile();
  return moduleRef.init();
}

describe('module wiring', () => {
  beforeEach(() => calls.splice(0));

  it('forRootAsync reads options from ConfigService', async () => {
    const prefix = uniquePrefix();
    const app = await boot(
      [
        RedisQueueModule.forRootAsync({
          imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix })] })],
          inject: [ConfigService],
          useFactory: (config: ConfigService): RedisQueueModuleOptions => ({
            connection: config.getOrThrow<string>('REDIS_URL'),
            prefix: config.getOrThrow<string>('QUEUE_PREFIX'),
            defaults: { attempts: 5, backoff: { type: 'exponential', delay: 1000 } },
            shutdownTimeout: 5_000,
            checkRedisConfig: false,
          }),
        }),
        SignupModule,
      ],
      [EmailHandlers],
    );
    await app.get(SignupService).signUp('ada@example.com');
    await waitFor(() => calls.includes('email:ada@example.com'), 5000, 'the handler');
    const redis = rawClient();
    expect(await redis.get(`${prefix}:{email}:seq`)).toBe('1'); // the configured prefix was used
    redis.disconnect();
    await app.close();
  });

  it('forRootAsync accepts useClass', async () => {
    const prefix = uniquePrefix();
    @Injectable()
    class QueueConfig {
      createRedisQueueOptions(): RedisQueueModuleOptions {
        return { connection: redisUrl(), prefix, checkRedisConfig: false };
      }
    }
    const app = await boot([RedisQueueModule.forRootAsync({ useClass: QueueConfig })], [EmailHandlers]);
    await app.get(QueueProducer).enqueue('email', { to: 'use-class' });
    await waitFor(() => calls.includes('email:use-class'), 5000, 'the handler');
    await app.close();
  });

  it('fails the bootstrap when two handlers claim one queue, naming both', async () => {
    await expect(
      boot([RedisQueueModule.forRoot({ connection: redisUrl(), prefix: uniquePrefix() })], [EmailHandlers, OtherEmailHandlers]),
    ).rejects.toThrow('Two handlers for queue "email": EmailHandlers.send and OtherEmailHandlers.alsoSend');
  });

  it('fails the bootstrap on an invalid option, naming it', async () => {
    await expect(
      boot([RedisQueueModule.forRoot({ connection: redisUrl(), shutdownTimeout: -5 })]),
    ).rejects.toThrow('Invalid option "shutdownTimeout": must be a number of ms from 0');
    await expect(
      boot([RedisQueueModule.forRoot({ connection: redisUrl(), consumer: false } as never)]),
    ).rejects.toThrow('Invalid option "consumer": is not a known option (did you mean "consumers"?)');
  });

  it('fails the bootstrap on invalid handler options, naming the handler', async () => {
    @Injectable()
    class BadHandlers {
      @QueueHandler('x', { concurrency: 0 })
      async run() {}
    }
    await expect(
      boot([RedisQueueModule.forRoot({ connection: redisUrl(), prefix: uniquePrefix() })], [BadHandlers]),
    ).rejects.toThrow('@QueueHandler on BadHandlers.run: Invalid option "concurrency": must be an integer from 1 to 10000');
  });

  it('discovers handlers on useFactory and useValue providers, and skips request-scoped ones', async () => {
    const app = await boot(
      [RedisQueueModule.forRoot({ connection: redisUrl(), prefix: uniquePrefix(), checkRedisConfig: false })],
      [{ provide: 'FACTORY_HANDLERS', useFactory: () => new FactoryHandlers('factory') }, RequestScopedHandlers],
    );
    const producer = app.get(QueueProducer);
    await producer.enqueue('from-factory', { n: 1 });
    await producer.enqueue('request-scoped', {});
    await waitFor(() => calls.includes('factory:1'), 5000, 'the factory handler');
    await sleep(200);
    expect(calls).not.toContain('request-scoped');
    expect((await app.get(QueueInspector).counts('request-scoped')).ready).toBe(1);
    await app.close();

    const valueApp = await boot(
      [RedisQueueModule.forRoot({ connection: redisUrl(), prefix: uniquePrefix(), checkRedisConfig: false })],
      [{ provide: FactoryHandlers, useValue: new FactoryHandlers('value') }],
    );
    await valueApp.get(QueueProducer).enqueue('from-factory', { n: 2 });
    await waitFor(() => calls.includes('value:2'), 5000, 'the useValue handler');
    await valueApp.close();
  });

  it('with consumers: false, starts no worker loop and opens no worker connection', async () => {
    const prefix = uniquePrefix();
    const app = await boot(
      [RedisQueueModule.forRoot({ connection: redisUrl(), prefix, consumers: false, checkRedisConfig: false })],
      [EmailHandlers],
    );
    await app.get(QueueProducer).enqueue('email', { to: 'nobody-home' });
    await sleep(300);
    expect(calls).toEqual([]);
    expect((await app.get(QueueInspector).counts('email')).ready).toBe(1);
    const redis = rawClient();
    const names = (await redis.client('LIST') as string).split('\n').map((line) => /name=(\S*)/.exec(line)?.[1]).filter((n) => n?.startsWith(prefix));
    expect(names).toEqual([`${prefix}:producer`]);
    redis.disconnect();
    await app.close();
  });

  it('closes every connection it opened when the app closes', async () => {
    const prefix = uniquePrefix();
    const app = await boot([RedisQueueModule.forRoot({ connection: redisUrl(), prefix, checkRedisConfig: false })], [EmailHandlers]);
    await app.get(QueueProducer).enqueue('email', { to: 'x' });
    const redis = rawClient();
    const ours = async () =>
      (await redis.client('LIST') as string).split('\n').map((line) => /name=(\S*)/.exec(line)?.[1]).filter((n) => n?.startsWith(prefix)).sort();
    await waitFor(async () => (await ours()).length === 3, 5000, 'three connections');
    // Constant in the number of queues: producer, worker commands, and one subscriber for every queue.
    expect(await ours()).toEqual([`${prefix}:producer`, `${prefix}:subscriber`, `${prefix}:worker`]);
    await app.close();
    await waitFor(async () => (await ours()).length === 0, 5000, 'all connections closed');
    redis.disconnect();
  });
});

// Keeps the Inject import meaningful for readers copying the pattern: handlers may inject anything.
void Inject;
