import { ChildProcess, spawn, spawnSync } from 'child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { connect, createServer } from 'net';
import { tmpdir } from 'os';
import { join } from 'path';
import { Redis } from 'ioredis';
import { testingMessages } from './testing.messages.js';

/** Options of a throwaway `redis-server` process. */
export interface RedisServerOptions {
  /** Port on 127.0.0.1. Default: a free port. */
  port?: number;
  /** Turn on AOF persistence (`appendfsync everysec`), so restarts keep acknowledged jobs. Default: false. */
  appendonly?: boolean;
  /** Extra `redis-server` arguments, e.g. `['--maxmemory-policy', 'noeviction']`. */
  args?: string[];
  /** Data directory. Default: a new temporary directory, removed by `stop()`. */
  dir?: string;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

const DIR_PREFIX = 'rq-redis-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills redis-servers left behind by test processes that died without cleaning up (SIGKILL gives them no
 * chance): each server's directory records its owner's pid, and a server whose owner is gone is stopped.
 */
export function sweepOrphanedServers(): void {
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(DIR_PREFIX))) {
    const dir = join(tmpdir(), name);
    try {
      const owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
      if (!owner || alive(owner)) continue;
      const [redis, port] = readFileSync(join(dir, 'redis.pid'), 'utf8').split(' ').map(Number);
      // redis-server retitles itself "redis-server 127.0.0.1:<port>": check it is still that process.
      const cmdline = redis ? readFileSync(`/proc/${redis}/cmdline`, 'utf8') : '';
      if (cmdline.includes('redis-server') && cmdline.includes(`:${port}`)) process.kill(redis, 'SIGKILL');
    } catch {
      // not ours, already gone, or no /proc: leave it
    }
    try {
      if (existsSync(join(dir, 'owner.pid')) && !alive(Number(readFileSync(join(dir, 'owner.pid'), 'utf8')))) {
        rmSync(dir, { recursive: true, force: true });
      }
    } catch {
      // best effort
    }
  }
}

/** The `redis-server` binary to run: `REDIS_SERVER_BIN`, else `redis-server` from PATH. */
export function redisServerBinary(): string {
  return process.env.REDIS_SERVER_BIN ?? 'redis-server';
}

export function hasRedisServerBinary(): boolean {
  const probe = spawnSync(redisServerBinary(), ['--version'], { encoding: 'utf8' });
  return probe.status === 0 && /Redis server/.test(probe.stdout);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A `redis-server` child process on 127.0.0.1, in its own directory, that tests can kill and restart
 * (on the same port and data directory, so AOF survives).
 */
export class RedisServer {
  private child?: ChildProcess;
  private readonly ownDir: boolean;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly options: RedisServerOptions,
  ) {
    this.ownDir = options.dir === undefined;
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    if (!hasRedisServerBinary()) {
      throw new Error(testingMessages.redisServerMissing(redisServerBinary()));
    }
    sweepOrphanedServers();
    for (let attempt = 1; ; attempt++) {
      const dir = options.dir ?? mkdtempSync(join(tmpdir(), DIR_PREFIX));
      const server = new RedisServer(options.port ?? (await freePort()), dir, options);
      try {
        await server.launch();
        return server;
      } catch (error) {
        if (server.ownDir) rmSync(dir, { recursive: true, force: true });
        // A free port can be taken between probing and binding; try another unless one was asked for.
        if (attempt >= 3 || options.port !== undefined) throw error;
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** A new ioredis client to this server (close it yourself). */
  client(): Redis {
    return new Redis(this.port, '127.0.0.1', { maxRetriesPerRequest: 3, lazyConnect: false });
  }

  /** Kills the process (SIGKILL by default: no goodbye, no save) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    });
    live.delete(child);
  }

  /** Starts it again on the same port and directory. */
  async restart(): Promise<void> {
    if (this.child) await this.kill();
    await this.launch();
  }

  /** Stops the server and removes its directory if it made one. */
  async stop(): Promise<void> {
    await this.kill('SIGKILL');
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const logfile = join(this.dir, 'redis.log');
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--logfile', logfile,
      '--save', '',
      '--daemonize', 'no',
      '--appendonly', this.options.appendonly ? 'yes' : 'no',
      '--appendfsync', 'everysec',
      ...(this.options.args ?? []),
    ];
    const child = spawn(redisServerBinary(), args, { stdio: 'ignore' });
    live.add(child);
    this.child = child;
    if (this.ownDir) {
      writeFileSync(join(this.dir, 'owner.pid'), String(process.pid));
      writeFileSync(join(this.dir, 'redis.pid'), `${child.pid ?? 0} ${this.port}`);
    }
    let exited = false;
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (exited) break;
      if (await ping(this.port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    const log = existsSync(logfile) ? readFileSync(logfile, 'utf8').split('\n').slice(-10).join('\n') : '(no log)';
    throw new Error(`redis-server on port ${this.port} did not start:\n${log}`);
  }
}

/** True when something on the port answers PING with PONG (a bare socket: nothing lingers after). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}
