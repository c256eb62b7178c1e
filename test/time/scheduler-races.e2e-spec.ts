// The Scheduler (engine/schedules.ts) driven directly, with real Redis and a real PubSub, to pin down two
// orderings that a loaded machine produces now and then: both leave a process that never ticks a
// schedule again. The orderings are forced here by wrapping the connection (a slow SUBSCRIBE; a schedule
// changed between a fire and the read that follows it), so the tests are deterministic.
import { Redis } from 'ioredis';
import { PubSub } from '../../libs/redis-queue/src/engine/pubsub.js';
import { QueueNotifications } from '../../libs/redis-queue/src/engine/notifications.js';
import { QueueLogger } from '../../libs/redis-queue/src/engine/logger.js';
import { notifyChannel, queueKeys } from '../../libs/redis-queue/src/engine/keys.js';
import { parseSchedule, Scheduler, ScheduleStore } from '../../libs/redis-queue/src/engine/schedules.js';
import { StoredSchedule } from '../../libs/redis-queue/src/engine/inspector.js';
import { deferred, rawClient, redisUrl, sleep, uniquePrefix, waitFor } from '../support/helpers.js';

const quiet: QueueLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** The PubSub, with each subscription made 500 ms late (a subscriber connection still connecting). */
function slowSubscriptions(pubsub: PubSub): { notifications: QueueNotifications; subscribed: Promise<void> } {
  const subscribed = deferred();
  const notifications: QueueNotifications = {
    subscribe(channel, listener) {
      let stop: (() => void) | undefined;
      let stopped = false;
      setTimeout(() => {
        if (stopped) return;
        stop = pubsub.subscribe(channel, listener);
        void pubsub.whenSubscribed(channel).then(() => subscribed.resolve());
      }, 500);
      return () => {
        stopped = true;
        stop?.();
      };
    },
    whenSubscribed: async (channel) => {
      await subscribed.promise;
      return pubsub.whenSubscribed(channel);
    },
    onResubscribed: (listener) => pubsub.onResubscribed(listener),
  };
  return { notifications, subscribed: subscribed.promise };
}

/**
 * Runs `before` inside the first read of schedule `name` that follows a fire (the only place the
 * Scheduler uses HGET), before the read itself.
 */
function beforeReadAfterFire(client: Redis, name: string, before: () => Promise<void>): Promise<void> {
  const done = deferred();
  let armed = true;
  const hget = client.hget.bind(client) as (key: string, field: string) => Promise<string | null>;
  (client as unknown as { hget: typeof hget }).hget = async (key: string, field: string) => {
    if (armed && field === name) {
      armed = false;
      await before();
      done.resolve();
    }
    return hget(key, field);
  };
  return done.promise;
}

describe('Scheduler orderings', () => {
  const closers: Array<() => unknown> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  function setup(prefix: string) {
    const commands = rawClient();
    const producer = rawClient();
    const pubsub = new PubSub({ connection: redisUrl(), name: `${prefix}:subscriber`, logger: quiet });
    closers.push(() => commands.quit(), () => producer.quit(), () => pubsub.close());
    const store = new ScheduleStore(producer, prefix);
    const stored = async (name: string) => {
      const json = await producer.hget(queueKeys(prefix, 'report').schedules, name);
      return json === null ? undefined : (JSON.parse(json) as StoredSchedule);
    };
    const start = (notifications: QueueNotifications, client: Redis = commands) => {
      const scheduler = new Scheduler({ client, notifications, prefix, queues: ['report'], logger: quiet });
      scheduler.start();
      closers.push(() => scheduler.stop());
      return scheduler;
    };
    return { commands, producer, pubsub, store, stored, start };
  }

  it('ticks a schedule stored before it started, and one stored once its subscription is in place (however late)', async () => {
    const prefix = uniquePrefix('sched-order');
    const { pubsub, store, stored, start } = setup(prefix);
    await store.upsert('report', 'before', parseSchedule({ every: 1000 }, 'api'));
    const { notifications, subscribed } = slowSubscriptions(pubsub);
    start(notifications);
    await subscribed;
    await store.upsert('report', 'after', parseSchedule({ every: 1000 }, 'api'));
    await waitFor(async () => (await stored('before'))?.last !== undefined && (await stored('after'))?.last !== undefined, 10_000, 'both to tick');
  });

  it('keeps ticking when the read after a fire is slow (the harness of the test below, without the change)', async () => {
    const prefix = uniquePrefix('sched-slow-read');
    const { commands, pubsub, store, stored, start } = setup(prefix);
    await store.upsert('report', 'steady', parseSchedule({ every: 1000 }, 'api'));
    const delayed = beforeReadAfterFire(commands, 'steady', () => sleep(400));
    start(pubsub);
    await delayed;
    const tick = (await stored('steady'))!.next!;
    await waitFor(async () => ((await stored('steady'))?.next ?? 0) > tick + 1000, 10_000, 'two more ticks');
  });

  // BUG (schedules.ts Scheduler.start): the Scheduler subscribes to the queue's channel and reads the
  // schedules at once, but never reads them again once the subscription is in place (QueueWorker does:
  // `whenSubscribed(channel).then(poke)`; the QueueNotifications contract says what was published before
  // was not heard). A schedule stored in between (by schedule() right after an instance started, e.g. in
  // another provider's onApplicationBootstrap) is never armed by that instance, until some later change
  // or a resubscription. With one instance, the schedule never fires. Here SUBSCRIBE is made slow.
  it('ticks a schedule stored after its first read but before its subscription was in place', async () => {
    const prefix = uniquePrefix('sched-subscribe');
    const { pubsub, store, stored, start } = setup(prefix);
    const { notifications, subscribed } = slowSubscriptions(pubsub);
    start(notifications);
    await sleep(100); // its first read of the schedules is done: there were none
    await store.upsert('report', 'late', parseSchedule({ every: 1000 }, 'api')); // its "changed" goes unheard
    await subscribed;
    await waitFor(async () => (await stored('late'))?.last !== undefined, 8000, 'the schedule to tick');
  });

  // BUG (schedules.ts Scheduler.arm): after fire() the Scheduler re-reads the schedule and arms its next
  // tick, but arm() returns early when the stored `next` equals the tick already armed (the one that just
  // fired). If the schedule is changed between the fire and that read, before its tick (upsert sets
  // `next` back to that same tick and drops the job enqueued ahead), both the re-read and the load
  // triggered by "changed" find `next` === the armed tick and arm nothing: this process never ticks the
  // schedule again (until another change or a restart), and the tick's job, dropped, never comes back.
  // With one instance the schedule stops for good. Here the change is made inside that window.
  it('keeps ticking a schedule changed right after it fired a tick', async () => {
    const prefix = uniquePrefix('sched-window');
    const { commands, producer, pubsub, store, stored, start } = setup(prefix);
    await store.upsert('report', 'window', parseSchedule({ every: 2000, payload: { v: 1 } }, 'api'));
    // Change the schedule before that read, and let the "changed" notice be handled first.
    const changed = beforeReadAfterFire(commands, 'window', async () => {
      const listener = rawClient();
      await listener.subscribe(notifyChannel(prefix, 'report'));
      const heard = new Promise<void>((resolve) => listener.on('message', (_channel, message) => message === 's' && resolve()));
      await store.upsert('report', 'window', parseSchedule({ every: 2000, payload: { v: 2 } }, 'api'));
      await heard;
      listener.disconnect();
      await sleep(200); // the Scheduler's own load on "changed" runs
    });
    start(pubsub);
    await changed;
    const tick = (await stored('window'))!.next!;
    // The changed schedule's tick fires (again, with v2), and the next one after it.
    await waitFor(async () => ((await stored('window'))?.next ?? 0) > tick + 2000, 10_000, 'two more ticks');
    const jobs = await producer.zrange(queueKeys(prefix, 'report').delayed, 0, -1);
    expect(jobs.length + (await producer.llen(queueKeys(prefix, 'report').ready))).toBeGreaterThan(0);
  });
});
