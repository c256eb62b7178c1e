import { ChildScript } from './support/child.js';
import { redisUrl, uniquePrefix } from './support/helpers.js';

describe('without class-validator and class-transformer installed', () => {
  it('loads and works, and names the package when a class-validator feature is used', async () => {
    const child = ChildScript.start('test/fixtures/without-class-validator.ts', {
      REDIS_URL: redisUrl(),
      RQ_PREFIX: uniquePrefix('no-cv'),
      HIDE_PACKAGES: 'class-validator,class-transformer',
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=./test/support/hide-packages.mjs`,
    });
    await child.waitForLine(/^(done|failed)/, 60_000);
    expect(await child.exited).toBe(0);
    const results = Object.fromEntries(
      child.lines.filter((line) => line.startsWith('result ')).map((line) => {
        const { step, value } = JSON.parse(line.slice('result '.length)) as { step: string; value: unknown };
        return [step, value];
      }),
    );
    expect(results['class-validator']).toMatch(/^Error: Cannot find package 'class-validator'/); // really hidden
    expect(results['invalid note']).toBe(
      'InvalidPayloadError: Invalid payload for queue "notes" (valibot schema): text: Invalid length: Expected >=1 but received 0. Nothing was stored.',
    );
    expect(results.handled).toEqual([
      { queue: 'notes', payload: { text: 'hello' } },
      { queue: 'plain', isNote: false, payload: { text: 'as a class' } },
    ]);
    expect(results.dead).toBe('Payload failed its valibot schema: text: Invalid type: Expected string but received 42');
    const missing = 'is validated with class-validator, which is not installed: npm install class-validator class-transformer';
    expect(results['class token at enqueue']).toBe(`InvalidOptionError: Invalid option "payloadType": the payloadType of queue "classes" ${missing} (or give a Standard Schema validator as \`schema\` instead)`);
    expect(results['payloadType handler']).toContain(`@QueueHandler on ClassHandlers.typed: Invalid option "payloadType": payloadType Note ${missing}`);
  });
});
