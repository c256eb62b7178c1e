import { spawn } from 'child_process';
import calculateSlot from 'cluster-key-slot';
import type { ClusterConnection } from 'nestjs-redis-queue';
import { freePort, RedisServer } from 'nestjs-redis-queue/testing';
import { parseInfo, tryNode, until } from './admin.js';
import type { Topology } from './topology.js';

export interface TestClusterOptions {
  /** Primaries (each owns an equal share of the 16384 slots). Default: 3. */
  primaries?: number;
  /** Replicas per primary. Default: 1. */
  replicasPerPrimary?: number;
  /** `cluster-node-timeout` in ms: how long a silent node takes to be declared failed. Default: 1000. */
  nodeTimeout?: number;
  /** Extra `redis-server` arguments for every node. */
  args?: string[];
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeState {
  id: string;
  port: number;
  role: 'primary' | 'replica';
  /** Id of the primary it replicates (replicas only). */
  primaryId?: string;
  /** Flagged `fail` or `fail?` by the node we asked. */
  failing: boolean;
  connected: boolean;
  slots: Array<[number, number]>;
}

const START_TIMEOUT = 30_000;

/** The slot a queue's keys live in (every key of a queue shares its `{queue}` hash tag). */
export function queueSlot(queue: string): number {
  return calculateSlot(`rq:{${queue}}:ready`);
}

/**
 * A Redis Cluster of `redis-server --cluster-enabled yes` processes on loopback ports, created with
 * `redis-cli --cluster create`. Nodes are RedisServers, so tests can kill and restart them (a restarted
 * node keeps its `nodes.conf` and rejoins, as a replica if its slots were failed over meanwhile).
 */
export class TestCluster implements Topology {
  readonly kind = 'cluster' as const;

  private constructor(
    readonly servers: RedisServer[],
    readonly options: Required<TestClusterOptions>,
  ) {}

  static async start(options: TestClusterOptions = {}): Promise<TestCluster> {
    const resolved: Required<TestClusterOptions> = {
      primaries: options.primaries ?? 3,
      replicasPerPrimary: options.replicasPerPrimary ?? 1,
      nodeTimeout: options.nodeTimeout ?? 1000,
      args: options.args ?? [],
    };
    const count = resolved.primaries * (1 + resolved.replicasPerPrimary);
    const started = await Promise.allSettled(Array.from({ length: count }, () => startNode(resolved)));
    const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const cluster = new TestCluster(servers, resolved);
    try {
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      await run(
        'redis-cli',
        [
          '--cluster', 'create',
          ...servers.map((s) => `127.0.0.1:${s.port}`),
          '--cluster-replicas', String(resolved.replicasPerPrimary),
          '--cluster-yes',
        ],
        START_TIMEOUT,
      );
      await cluster.waitHealthy(START_TIMEOUT);
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** Every node as a seed: ioredis needs one that answers, and learns the rest from CLUSTER SLOTS. */
  get seeds(): Array<{ host: string; port: number }> {
    return this.servers.map((s) => ({ host: '127.0.0.1', port: s.port }));
  }

  connection(options: ClusterConnection['options'] = {}): ClusterConnection {
    return { cluster: this.seeds, options };
  }

  /** The cluster's view (CLUSTER NODES) from the first running node that answers. */
  async nodes(skip?: RedisServer): Promise<ClusterNodeState[]> {
    for (const server of this.servers.filter((s) => s.running && s !== skip)) {
      const text = await tryNode(server.port, (r) => r.cluster('NODES') as Promise<string>);
      if (text) return parseNodes(text);
    }
    throw new Error('no cluster node answers');
  }

  async primaryFor(queue: string, skip?: RedisServer): Promise<RedisServer> {
    const slot = queueSlot(queue);
    const owner = (await this.nodes(skip)).find((n) => n.role === 'primary' && n.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!owner) throw new Error(`no primary owns slot ${slot} (queue "${queue}")`);
    return this.server(owner.port);
  }

  async replicaFor(queue: string): Promise<RedisServer> {
    const primary = await this.primaryFor(queue);
    const nodes = await this.nodes();
    const primaryId = nodes.find((n) => n.port === primary.port)!.id;
    const replica = nodes.find((n) => n.primaryId === primaryId && !n.failing);
    if (!replica) throw new Error(`the primary of "${queue}" (port ${primary.port}) has no live replica`);
    return this.server(replica.port);
  }

  async primaries(): Promise<RedisServer[]> {
    const nodes = await this.nodes();
    return nodes.filter((n) => n.role === 'primary' && n.slots.length > 0 && !n.failing).map((n) => this.server(n.port));
  }

  async waitForNewPrimary(queue: string, old: RedisServer, timeoutMs: number): Promise<RedisServer> {
    return until(
      async () => {
        const primary = await this.primaryFor(queue, old);
        if (primary.port === old.port) return undefined;
        // The old primary may be dead, or alive but frozen: ask only the others.
        const ok = await Promise.all(
          this.servers.filter((s) => s.running && s !== old).map((s) => tryNode(s.port, (r) => r.cluster('INFO') as Promise<string>)),
        );
        return ok.every((info) => info?.includes('cluster_state:ok')) ? primary : undefined;
      },
      timeoutMs,
      `a replica to take over the slot of "${queue}" from port ${old.port}`,
      25,
    );
  }

  async heal(): Promise<void> {
    await Promise.all(this.servers.filter((s) => !s.running).map((s) => s.restart()));
    await this.waitHealthy(START_TIMEOUT);
  }

  /**
   * Waits until every node is up, says cluster_state:ok, sees every other node connected and none
   * failing, agrees on who owns the slots, and every primary has a replica whose link is up.
   */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const count = this.servers.length;
    await until(
      async () => {
        const views = await Promise.all(
          this.servers.map((s) =>
            tryNode(s.port, async (r) => ({
              info: (await r.cluster('INFO')) as string,
              nodes: parseNodes((await r.cluster('NODES')) as string),
              replication: parseInfo(await r.info('replication')),
            })),
          ),
        );
        if (views.some((v) => v === undefined)) return false;
        const ok = views as NonNullable<(typeof views)[number]>[];
        if (!ok.every((v) => v.info.includes('cluster_state:ok') && v.info.includes(`cluster_known_nodes:${count}`))) return false;
        if (!ok.every((v) => v.nodes.every((n) => n.connected && !n.failing))) return false;
        const owners = ok.map((v) => JSON.stringify(v.nodes.filter((n) => n.slots.length > 0).map((n) => [n.port, n.slots]).sort()));
        if (new Set(owners).size !== 1) return false;
        const primaries = ok[0].nodes.filter((n) => n.role === 'primary' && n.slots.length > 0);
        if (primaries.length !== this.options.primaries) return false;
        for (const primary of primaries) {
          const replicas = ok[0].nodes.filter((n) => n.primaryId === primary.id);
          const inSync = replicas.filter((n) => {
            const view = ok[this.servers.findIndex((s) => s.port === n.port)];
            return view.replication.get('master_link_status') === 'up' && view.replication.get('master_port') === String(primary.port);
          });
          if (inSync.length < this.options.replicasPerPrimary) return false;
        }
        return true;
      },
      timeoutMs,
      'the cluster to be healthy (state ok, all nodes connected, every primary with an in-sync replica)',
      100,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }

  server(port: number): RedisServer {
    const server = this.servers.find((s) => s.port === port);
    if (!server) throw new Error(`port ${port} is not a node of this cluster`);
    return server;
  }
}

async function startNode(options: Required<TestClusterOptions>): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    // The cluster bus defaults to port + 10000, which may be taken or past 65535: pick it too.
    let bus = await freePort();
    while (bus === port) bus = await freePort();
    try {
      return await RedisServer.start({
        port,
        args: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', String(options.nodeTimeout),
          '--cluster-port', String(bus),
          ...options.args,
        ],
      });
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

export function parseNodes(text: string): ClusterNodeState[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, address, flags, primaryId, , , , link, ...slots] = line.split(' ');
      const flagList = flags.split(',');
      return {
        id,
        port: Number(/:(\d+)@/.exec(address)?.[1]),
        role: flagList.includes('master') ? 'primary' : 'replica',
        primaryId: primaryId === '-' ? undefined : primaryId,
        failing: flagList.includes('fail') || flagList.includes('fail?'),
        connected: link === 'connected',
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [a, b] = s.split('-').map(Number);
            return [a, b ?? a] as [number, number];
          }),
      } satisfies ClusterNodeState;
    });
}

/** Runs a command to completion with a time limit; rejects with its output when it fails. */
function run(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? code}):\n${output.slice(-2000)}`));
    });
  });
}
