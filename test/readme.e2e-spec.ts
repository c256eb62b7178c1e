import { readFileSync } from 'fs';
import { redisToKill } from '../examples/testing/redis-restarts.js';

const readme = readFileSync('README.md', 'utf8');

interface Block {
  /** `include`: the block is the whole file; `excerpt`: the block is copied verbatim from it. */
  kind?: 'include' | 'excerpt';
  file?: string;
  code: string;
  line: number;
}

/** Every TypeScript block of the README, with the file it claims to show (if any). */
function tsBlocks(): Block[] {
  const blocks: Block[] = [];
  const pattern = /(?:<!-- (include|excerpt): (\S+) -->\n)?```ts\n([\s\S]*?)```/g;
  for (let m = pattern.exec(readme); m; m = pattern.exec(readme)) {
    const kind = m[1] as Block['kind'];
    blocks.push({ kind, file: m[2], code: m[3], line: readme.slice(0, m.index).split('\n').length });
  }
  return blocks;
}

describe('README', () => {
  it('shows only TypeScript that exists as a compiled file of this repository', () => {
    const blocks = tsBlocks();
    expect(blocks.length).toBeGreaterThan(5);
    for (const block of blocks) {
      expect({ line: block.line, file: block.file ?? 'missing <!-- include|excerpt: path --> marker' }).toEqual({
        line: block.line,
        file: expect.stringMatching(/\.ts$/),
      });
      // The type check (npm run typecheck) compiles these files, and the packaging test (npm run
      // test:packaging) the app templates under test/packaging/templates; the README shows them as they are.
      const source = readFileSync(block.file!, 'utf8');
      if (block.kind === 'include') expect(block.code).toBe(source);
      else expect({ line: block.line, copied: source.includes(block.code) }).toEqual({ line: block.line, copied: true });
    }
  });

  it('the testing snippets run', async () => {
    const server = await redisToKill();
    expect(server.running).toBe(true);
    const client = server.client();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
    await server.stop();
  });
});
