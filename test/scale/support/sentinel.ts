import { ChildProcess, spawn } from 'child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import type { RedisConnection } from 'nestjs-redis-queue';
import { freePort, RedisServer, sweepOrphanedServers } from 'nestjs-redis-queue/testing';
import { tmpdir } from 'os';
import { join } from 'path';
import { parseInfo, tryNode, until, withNode } from './admin.js';
import type { Topology } from './topology.js';

export interface TestSentinelOptions {
  /** Name of the monitored primary (ioredis `name`). Default: `rq-scale`. */
  masterName?: string;
  /** Sentinels (quorum is a majority). Default: 3. */
  sentinels?: number;
  /** `down-after-milliseconds`: how long a silent primary takes to be declared down. Default: 1000. */
  downAfterMs?: number;
  /** `failover-timeout`; a second failover of the same primary waits twice this. Default: 2000. */
  failoverTimeoutMs?: number;
}

/** The binary RedisServer runs (REDIS_SERVER_BIN, else redis-server from PATH), in Sentinel mode. */
const redisServerBinary = () => process.env.REDIS_SERVER_BIN ?? 'redis-server';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * One `redis-server <config> --sentinel` process on 127.0.0.1, in a temporary directory (Sentinel
 * rewrites its config file). The directory follows RedisServer's convention (owner.pid, redis.pid), so
 * `sweepOrphanedServers` stops it if the test process dies without cleaning up.
 */
export class SentinelProcess {
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(port: number, config: string[]): Promise<SentinelProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'rq-redis-'));
    const file = join(dir, 'sentinel.conf');
    writeFileSync(file, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `logfile ${join(dir, 'sentinel.log')}`, ...config, ''].join('\n'));
    const child = spawn(redisServerBinary(), [file, '--sentinel'], { stdio: 'ignore' });
    live.add(child);
    child.once('exit', () => live.delete(child));
    writeFileSync(join(dir, 'owner.pid'), String(process.pid));
    writeFileSync(join(dir, 'redis.pid'), `${child.pid ?? 0} ${port}`);
    const sentinel = new SentinelProcess(port, dir, child);
    try {
      await until(() => tryNode(port, (r) => r.ping()), 15_000, `sentinel on port ${port} to answer`);
    } catch (error) {
      const log = join(dir, 'sentinel.log');
      await sentinel.stop();
      throw new Error(`${(error as Error).message}\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-1000) : ''}`, { cause: error });
    }
    return sentinel;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await new Promise<void>((resolve) => {
        this.child.once('exit', () => resolve());
        this.child.kill('SIGKILL');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A primary, a replica and three sentinels monitoring them (quorum 2), on loopback ports. The servers
 * are RedisServers, so tests can kill the primary and restart it (Sentinel turns it into a replica).
 */
export class TestSentinel implements Topology {
  readonly kind = 'sentinel' as const;

  private constructor(
    readonly servers: RedisServer[],
    readonly sentinels: SentinelProcess[],
    readonly masterName: string,
  ) {}

  static async start(options: TestSentinelOptions = {}): Promise<TestSentinel> {
    const masterName = options.masterName ?? 'rq-scale';
    const count = options.sentinels ?? 3;
    sweepOrphanedServers();
    const servers: RedisServer[] = [];
    const sentinels: SentinelProcess[] = [];
    const topology = new TestSentinel(servers, sentinels, masterName);
    try {
      const primary = await RedisServer.start();
      servers.push(primary);
      servers.push(await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(primary.port)] }));
      await topology.waitForReplicaLink(servers[1], primary, 15_000);
      const config = [
        `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} ${Math.floor(count / 2) + 1}`,
        `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${masterName} ${options.failoverTimeoutMs ?? 2000}`,
        `sentinel parallel-syncs ${masterName} 1`,
      ];
      for (let i = 0; i < count; i++) sentinels.push(await startSentinel(config));
      await topology.waitHealthy(30_000);
      return topology;
    } catch (error) {
      await topology.stop();
      throw error;
    }
  }

  connection(): RedisConnection {
    return { sentinels: this.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), name: this.masterName };
  }

  /** The primary as the sentinels report it (the first that answers). */
  async currentPrimary(): Promise<RedisServer> {
    for (const sentinel of this.sentinels) {
      const address = await tryNode(sentinel.port, (r) => r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName) as Promise<string[]>);
      if (address) return this.server(Number(address[1]));
    }
    throw new Error('no sentinel answers');
  }

  primaryFor(): Promise<RedisServer> {
    return this.currentPrimary();
  }

  async replicaFor(): Promise<RedisServer> {
    const primary = await this.currentPrimary();
    const replica = this.servers.find((s) => s !== primary && s.running);
    if (!replica) throw new Error('no live replica');
    return replica;
  }

  async primaries(): Promise<RedisServer[]> {
    return [await this.currentPrimary()];
  }

  async waitForNewPrimary(_queue: string, old: RedisServer, timeoutMs: number): Promise<RedisServer> {
    return until(
      async () => {
        const primary = await this.currentPrimary();
        if (primary === old) return undefined;
        const role = await tryNode(primary.port, (r) => r.info('replication'));
        return role && parseInfo(role).get('role') === 'master' ? primary : undefined;
      },
      timeoutMs,
      `the sentinels to promote a replica in place of port ${old.port}`,
      25,
    );
  }

  async heal(): Promise<void> {
    // A restarted primary comes back as an empty primary. The sentinels would turn it into a replica of the
    // new one at their next INFO round (up to 10 s); do what an operator's config would, and say so at once.
    const primary = await this.currentPrimary();
    for (const server of this.servers.filter((s) => !s.running)) {
      await server.restart();
      await withNode(server.port, (r) => r.replicaof('127.0.0.1', primary.port));
    }
    await this.waitHealthy(30_000);
  }

  /**
   * Waits until every sentinel agrees on the primary, knows the other sentinels and one replica, and
   * the replica's link to the primary is up.
   */
  async waitHealthy(timeoutMs: number): Promise<void> {
    await until(
      async () => {
        const views = await Promise.all(
          this.sentinels.map((s) =>
            tryNode(s.port, async (r) => ({
              master: toMap((await r.call('SENTINEL', 'MASTER', this.masterName)) as string[]),
              replicas: ((await r.call('SENTINEL', 'REPLICAS', this.masterName)) as string[][]).map(toMap),
            })),
          ),
        );
        if (views.some((v) => v === undefined)) return false;
        const ok = views as NonNullable<(typeof views)[number]>[];
        const ports = new Set(ok.map((v) => v.master.get('port')));
        if (ports.size !== 1) return false;
        if (!ok.every((v) => v.master.get('flags') === 'master' && v.master.get('num-other-sentinels') === String(this.sentinels.length - 1))) return false;
        const primary = this.server(Number([...ports][0]));
        const replicas = this.servers.filter((s) => s !== primary);
        if (!ok.every((v) => replicas.every((r) => v.replicas.some((x) => x.get('port') === String(r.port) && x.get('flags') === 'slave')))) {
          return false;
        }
        for (const replica of replicas) {
          const info = await tryNode(replica.port, (r) => r.info('replication'));
          const fields = info ? parseInfo(info) : undefined;
          if (fields?.get('master_link_status') !== 'up' || fields.get('master_port') !== String(primary.port)) return false;
        }
        return true;
      },
      timeoutMs,
      'the sentinels to agree on one primary with an in-sync replica',
      100,
    );
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels.map((s) => s.stop()), ...this.servers.map((s) => s.stop())]);
  }

  server(port: number): RedisServer {
    const server = this.servers.find((s) => s.port === port);
    if (!server) throw new Error(`port ${port} is not a server of this deployment`);
    return server;
  }

  private async waitForReplicaLink(replica: RedisServer, primary: RedisServer, timeoutMs: number): Promise<void> {
    await until(
      async () => {
        const fields = parseInfo(await withNode(replica.port, (r) => r.info('replication')));
        return fields.get('master_link_status') === 'up' && fields.get('master_port') === String(primary.port);
      },
      timeoutMs,
      `the replica on port ${replica.port} to sync with ${primary.port}`,
    );
  }
}

async function startSentinel(config: string[]): Promise<SentinelProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await SentinelProcess.start(await freePort(), config);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

/** A flat [field, value, ...] reply as a map. */
function toMap(flat: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i], flat[i + 1]);
  return map;
}
