import { readFileSync } from 'fs';
import { Redis } from 'ioredis';
import { redisForTests, redisToKill } from '../examples/testing/redis-for-tests.js';

const readme = readFileSync('README.md', 'utf8');

/** Every TypeScript block of the README, with the file it claims to show (if any). */
function tsBlocks(): Array<{ include?: string; code: string; line: number }> {
  const blocks: Array<{ include?: string; code: string; line: number }> = [];
  const pattern = /(?:<!-- include: (\S+) -->\n)?```ts\n([\s\S]*?)```/g;
  for (let m = pattern.exec(readme); m; m = pattern.exec(readme)) {
    blocks.push({ include: m[1], code: m[2], line: readme.slice(0, m.index).split('\n').length });
  }
  return blocks;
}

describe('README', () => {
  it('shows only TypeScript that exists as a compiled file of this repository', () => {
    const blocks = tsBlocks();
    expect(blocks.length).toBeGreaterThan(5);
    for (const block of blocks) {
      expect({ line: block.line, include: block.include ?? 'missing <!-- include: path --> marker' }).toEqual({
        line: block.line,
        include: expect.stringMatching(/\.ts$/),
      });
      // The type check (npm run typecheck) compiles these files; here the README must match them exactly.
      expect(block.code).toBe(readFileSync(block.include!, 'utf8'));
    }
  });

  it('the testing snippets run', async () => {
    const redis = await redisForTests();
    const client = new Redis(redis.url);
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
    const server = await redisToKill();
    expect(server.running).toBe(true);
    await server.stop();
    if (redis.source !== 'env') await redis.stop();
  });
});
