import { Redis } from 'ioredis';

/** `*`, `?`, `[`, `]` and `\` match literally in a SCAN pattern once escaped. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Deletes every key of a key prefix (`<prefix>:*`: the queues, jobs and dead letters a test left in
 * Redis) and resolves with how many there were. It walks the keyspace with SCAN: meant for tests and
 * throwaway environments, not for a production Redis. `url` is a `redis://` or `rediss://` URL.
 */
export async function deletePrefixKeys(url: string, prefix: string): Promise<number> {
  if (!prefix) throw new Error('deletePrefixKeys: prefix must be a non-empty string (refusing to delete every key)');
  const client = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: true });
  try {
    await client.connect();
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${globEscape(prefix)}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
    else client.disconnect();
  }
}
