// `npm run bench:scripts [-- --calls=3000]`: what one call of the enqueue script costs Redis, and of what,
// on a throwaway redis-server: Redis's own µs per EVALSHA (INFO commandstats) for a script that returns at
// once with the queue's keys, one that also builds the key table, one that also defines the shared Lua
// (_common, _record, _queue), and enqueue.lua storing one job, and one storing 50 (about what a coalesced
// call of single enqueues carries). Tells what a Redis Functions library (which defines the shared Lua once)
// could save per call, against what each job costs.
import { Packr } from 'msgpackr';
import { Redis } from 'ioredis';
import { encodeTail } from '../libs/redis-queue/src/engine/codec.js';
import { queueKeyList } from '../libs/redis-queue/src/engine/keys.js';
import { scriptSources } from '../libs/redis-queue/src/engine/scripts.js';
import { RedisServer } from '../libs/redis-queue/src/testing/redis-server.js';
import { commandStats } from './redis-stats.js';

const calls = Number(process.argv.find((a) => a.startsWith('--calls='))?.slice('--calls='.length) ?? 3000);
const server = await RedisServer.start();
const redis = new Redis(server.url);
try {
  const keys = queueKeyList('rq', 'email');
  const enqueue = scriptSources().get('rqEnqueue')!;
  const keyTable = enqueue.slice(0, enqueue.indexOf('\n'));
  const shared = enqueue.slice(0, enqueue.indexOf('local now = nowMs()'));
  const packr = new Packr({ useRecords: false, variableMapSize: true });
  const tail = encodeTail(JSON.stringify({ to: 'user@example.com', template: 'welcome', userId: 1 }), {}, undefined);
  const jobs = (n: number) => packr.pack({ tails: Array.from({ length: n }, () => tail), gen: n });
  const variants: Array<[string, string, Buffer]> = [
    ['return at once (40 keys passed)', 'return 0', jobs(1)],
    ['+ key table', `${keyTable}\nreturn 0`, jobs(1)],
    ['+ shared Lua defined', `${shared}\nreturn 0`, jobs(1)],
    ['enqueue.lua, 1 job', enqueue, jobs(1)],
    ['enqueue.lua, 50 jobs', enqueue, jobs(50)],
  ];
  console.log(`Redis µs per call, ${calls} calls each (Redis ${((await redis.info('server')).match(/redis_version:(\S+)/) ?? [])[1]}):`);
  for (const [name, lua, args] of variants) {
    const sha = (await redis.script('LOAD', lua)) as string;
    await redis.flushall();
    await redis.config('RESETSTAT');
    for (let i = 0; i < calls; i++) await redis.evalsha(sha, keys.length, ...keys, args);
    const stats = (await commandStats(redis)).evalsha;
    console.log(`  ${name.padEnd(34)} ${(stats.usec / stats.calls).toFixed(2).padStart(7)} µs`);
  }
} finally {
  redis.disconnect();
  await server.stop();
}
