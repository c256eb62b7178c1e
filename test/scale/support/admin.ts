import { Redis } from 'ioredis';

/**
 * A short-lived admin connection to one server: no retries, no offline queue, bounded connect and
 * command times, always closed. Admin probes must fail fast when the server is gone, never hang.
 */
export async function withNode<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 1000,
    commandTimeout: 2000,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

/** `withNode`, but undefined when the server does not answer. */
export async function tryNode<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T | undefined> {
  try {
    return await withNode(port, use);
  } catch {
    return undefined;
  }
}

/** Fields of an INFO section as a map. */
export function parseInfo(info: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of info.split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  return fields;
}

/** `INFO commandstats` as command -> calls. */
export async function commandCalls(port: number): Promise<Map<string, number>> {
  const info = await withNode(port, (r) => r.info('commandstats'));
  const calls = new Map<string, number>();
  for (const [key, value] of parseInfo(info)) {
    const match = /^cmdstat_(.+)$/.exec(key);
    const count = /calls=(\d+)/.exec(value);
    if (match && count) calls.set(match[1], Number(count[1]));
  }
  return calls;
}

/** Bytes waiting in the primary's output buffers to its replicas (data not yet handed to the kernel). */
export async function replicaOutputBuffer(port: number): Promise<number> {
  const list = (await withNode(port, (r) => r.call('CLIENT', 'LIST', 'TYPE', 'replica'))) as string;
  let total = 0;
  for (const match of list.matchAll(/\bomem=(\d+)/g)) total += Number(match[1]);
  return total;
}

/** Polls `check` until it returns a truthy value; throws after `timeoutMs` naming `what`. */
export async function until<T>(check: () => Promise<T> | T, timeoutMs: number, what: string, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  const detail = lastError ? ` (last error: ${(lastError as Error).message})` : ` (last value: ${JSON.stringify(last)})`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
}

/** Stops (SIGSTOP) a process for a while, as a stalled replica (GC pause, overloaded host, slow disk). */
export function pause(pid: number | undefined): () => void {
  if (!pid) throw new Error('no process to pause');
  process.kill(pid, 'SIGSTOP');
  let resumed = false;
  return () => {
    if (resumed) return;
    resumed = true;
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  };
}
