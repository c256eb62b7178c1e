// Issue 11, defect 10 (last item): when Redis had no room for another client (`maxclients`), the module
// logged `write EPIPE` without naming the cause, leaving the operator to guess.
import { Socket, connect } from 'net';
import { Redis } from 'ioredis';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { bootApp, eventually, startOwnRedis, TestApp } from './support.js';

describe('Redis at its maxclients limit', () => {
  let server: RedisServer;
  let admin: Redis;
  const fillers: Socket[] = [];

  beforeAll(async () => {
    server = await startOwnRedis();
    admin = server.client();
    await admin.ping();
  });
  afterAll(async () => {
    for (const socket of fillers) socket.destroy();
    admin.disconnect();
    await server.stop();
  });

  it('logs that Redis refused the connection for reaching maxclients', async () => {
    // Room for the admin connection and two more; two idle sockets take those.
    await admin.config('SET', 'maxclients', '3');
    for (let i = 0; i < 2; i++) {
      const socket = connect(server.port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('error', reject));
      fillers.push(socket);
    }
    await eventually(async () => Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))?.[1]) === 3, 5000, 'Redis to be full of clients');

    let q: TestApp | undefined;
    try {
      q = await bootApp([], { connection: server.url, consumers: false }, { waitForInspector: false });
      const app = q;
      // The producer connects at bootstrap, is refused, and retries with backoff: its log must say why.
      await eventually(
        () => app.logger.matching(/max(imum)? number of clients|maxclients/i).length > 0,
        15_000,
        'a log line naming the maxclients limit',
        () => app.logger.lines,
      );
    } finally {
      await q?.close();
      await admin.config('SET', 'maxclients', '10000');
    }
  });
});
