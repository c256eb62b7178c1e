import { scriptSources } from './scripts.js';

/**
 * Lua resolves a name to a local only after its `local function` line; a call above it reads a global,
 * which Redis forbids at run time ("Script attempted to access nonexistent global variable"). Such a
 * call fails only on the path that reaches it (a recovered claim of a job cancelled while it ran was
 * one), so it is checked here on the sources, without Redis.
 */
describe('Lua scripts', () => {
  it.each([...scriptSources()])('%s calls no local function above its definition', (_command, source) => {
    const code = source
      .split('\n')
      .map((line) => line.replace(/--.*$/, '').replace(/'(?:[^'\\]|\\.)*'/g, "''"))
      .join('\n');
    const early: string[] = [];
    for (const def of code.matchAll(/local function (\w+)/g)) {
      const before = code.slice(0, def.index);
      const call = new RegExp(`(?<![\\w.:])${def[1]}\\s*\\(`).exec(before);
      if (call) early.push(`${def[1]} (called at line ${before.slice(0, call.index).split('\n').length}, defined at line ${before.split('\n').length})`);
    }
    expect(early).toEqual([]);
  });
});
