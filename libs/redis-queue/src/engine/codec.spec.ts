import fc from 'fast-check';
import { assertJobId, decodeRecord, encodePayload, encodeTail, GS, recordId, SEP } from './codec.js';
import { InvalidOptionError, InvalidPayloadError, MalformedJobError } from './errors.js';

/** What the enqueue script prepends: id, attempts made, enqueued-at. */
const record = (id: string, tail: string, attemptsMade = 0, enqueuedAt = 1_700_000_000_000) =>
  `${id}${SEP}${attemptsMade}${SEP}${enqueuedAt}${SEP}${tail}`;

const hasProtoKey = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && (Object.hasOwn(value, '__proto__') || Object.values(value).some(hasProtoKey));

/** JSON values the queue stores (fc.jsonValue() also yields "__proto__" keys, which it refuses: tested below). */
const storable = fc.jsonValue().filter((value) => !hasProtoKey(value));

describe('payload encoding', () => {
  it('round-trips any JSON value through a record', () => {
    fc.assert(
      fc.property(storable, fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }), (value, attempts) => {
        const tail = encodeTail(encodePayload(value), { attempts }, undefined);
        const job = decodeRecord(record('job-1', tail, 2));
        expect(job.payload).toEqual(JSON.parse(JSON.stringify(value)));
        expect(job.options.attempts).toBe(attempts);
        expect(job.attemptsMade).toBe(2);
        expect(job.traceId).toBe('job-1');
        expect(recordId(record('job-1', tail))).toBe('job-1');
      }),
    );
  });

  it('refuses any value with a "__proto__" key at enqueue, naming where it is', () => {
    const withProto = fc
      .tuple(fc.jsonValue(), fc.jsonValue())
      .map(([inner, outer]) => JSON.parse(`{"wrap":[${JSON.stringify(outer)},{"__proto__":${JSON.stringify(inner)}}]}`));
    fc.assert(fc.property(withProto, (value) => expect(() => encodePayload(value)).toThrow('"__proto__" key')));
    expect(() => encodePayload(JSON.parse('{"user":{"__proto__":{"admin":true}}}'))).toThrow(
      'payload.user.__proto__ is a "__proto__" key',
    );
  });

  it('never emits the field separator raw', () => {
    fc.assert(fc.property(storable, (value) => expect(encodePayload(value).includes(SEP)).toBe(false)));
  });

  it.each([
    [{ id: 10n }, 'payload.id is a BigInt'],
    [{ nested: { fn: () => 1 } }, 'payload.nested.fn is a function'],
    [{ s: Symbol('x') }, 'payload.s is a symbol'],
    [{ list: [1, Number.NaN] }, 'payload.list[1] is NaN'],
    [{ m: new Map() }, 'payload.m is a Map'],
    [{ s: new Set([1]) }, 'payload.s is a Set'],
    [undefined, 'undefined cannot be stored'],
    [Infinity, 'payload is Infinity'],
  ])('rejects %p with a message naming the path', (value, message) => {
    expect(() => encodePayload(value)).toThrow(InvalidPayloadError);
    expect(() => encodePayload(value)).toThrow(message);
  });

  it('rejects cycles, naming where the structure loops', () => {
    const a: Record<string, unknown> = { b: { c: {} } };
    (a.b as Record<string, unknown>).c = a;
    expect(() => encodePayload(a)).toThrow('payload.b.c refers back to one of its parents');
  });

  it('finds cycles and shared references in deep structures too, naming the path', () => {
    // 40 levels: past the depth where the check keeps its parents in a set as well as a list.
    const root: Record<string, unknown> = {};
    let node = root;
    for (let i = 0; i < 40; i++) {
      const child = {};
      node[i % 2 ? 'list' : 'next'] = i % 2 ? [child] : child;
      node = child;
    }
    const leaf = { leaf: true };
    node.a = leaf;
    node.b = leaf; // shared, not circular
    expect(() => encodePayload(root)).not.toThrow();
    node.back = root.next;
    expect(() => encodePayload(root)).toThrow(/^Invalid payload: payload\.next\.list\[0\]\.next.*\.back refers back to one of its parents/);
    delete node.back;
    node.c = { d: 1n };
    expect(() => encodePayload(root)).toThrow(/\.c\.d is a BigInt/);
  });

  it('accepts shared (non-circular) references and Dates', () => {
    const shared = { x: 1 };
    expect(JSON.parse(encodePayload({ a: shared, b: shared, at: new Date(0) }))).toEqual({
      a: { x: 1 },
      b: { x: 1 },
      at: '1970-01-01T00:00:00.000Z',
    });
  });

  it('enforces the size cap in UTF-8 bytes', () => {
    expect(() => encodePayload({ s: 'é'.repeat(600) }, 1000)).toThrow(/1\d{3} bytes of JSON exceeds the 1000-byte cap/);
    expect(encodePayload({ s: 'e'.repeat(900) }, 1000)).toHaveLength(908);
  });
});

describe('record decoding', () => {
  const good = encodeTail('{"a":1}', {}, 'trace-7');

  it('reads every field', () => {
    expect(decodeRecord(record('abc', good, 3, 42))).toEqual({
      id: 'abc',
      attemptsMade: 3,
      enqueuedAt: 42,
      options: {},
      traceId: 'trace-7',
      payload: { a: 1 },
      ext: {},
    });
  });

  it('reads the version-2 extension after the trace id', () => {
    const tail = encodeTail('{"a":1}', { attempts: 4 }, 'trace-7', { priority: 2, timeout: 500, trackRetention: 1000, group: 'g' });
    expect(tail).toContain(GS);
    const job = decodeRecord(record('abc', tail));
    expect(job).toMatchObject({ traceId: 'trace-7', options: { attempts: 4 }, payload: { a: 1 } });
    expect(job.ext).toEqual({ priority: 2, timeout: 500, trackRetention: 1000, group: 'g' });
    // Without a trace id the job id stands in for it, extension or not.
    expect(decodeRecord(record('abc', encodeTail('1', {}, undefined, { priority: 9 }))).traceId).toBe('abc');
  });

  it('writes a plain job exactly as release 0.1 did (no extension)', () => {
    expect(encodeTail('{"a":1}', {}, undefined, {})).toBe(`${SEP}${SEP}{"a":1}`);
    expect(encodeTail('{"a":1}', { attempts: 2 }, 't')).toBe(`{"attempts":2}${SEP}t${SEP}{"a":1}`);
  });

  it('runs a record from a future release: unknown options, extension keys and a higher version are ignored', () => {
    const future = record(
      'f1',
      `{"attempts":2,"sparkle":true}${SEP}trace${GS}{"v":9,"p":3,"hologram":{"x":1}}${SEP}{"ok":true}`,
    );
    const job = decodeRecord(future);
    expect(job).toMatchObject({ id: 'f1', traceId: 'trace', options: { attempts: 2 }, payload: { ok: true } });
    expect(job.ext).toEqual({ priority: 3 });
  });

  it.each([
    ['too few fields', `abc${SEP}0${SEP}1`, 'expected 6 fields'],
    ['attempts not a number', record('abc', good).replace(`${SEP}0${SEP}`, `${SEP}x${SEP}`), 'attempts made is "x"'],
    ['enqueued-at not a number', `abc${SEP}0${SEP}soon${SEP}${good}`, 'enqueued-at is "soon"'],
    ['payload not JSON', record('abc', `${SEP}${SEP}{nope`), 'payload is not JSON'],
    ['options not JSON', record('abc', `{x${SEP}${SEP}1`), 'options is not JSON'],
    ['options not an object', record('abc', `[1]${SEP}${SEP}1`), 'options are [1], not an object'],
    ['extension not JSON', record('abc', `${SEP}t${GS}{oops${SEP}1`), 'extension is not JSON'],
    ['bad attempts option', record('abc', `{"attempts":0}${SEP}${SEP}1`), 'attempts'],
    ['__proto__ key', record('abc', `${SEP}${SEP}{"a":{"__proto__":{"admin":true}}}`), '"__proto__" key'],
  ])('rejects a record with %s', (_case, raw, message) => {
    expect(() => decodeRecord(raw)).toThrow(MalformedJobError);
    expect(() => decodeRecord(raw)).toThrow(message);
  });

  it('never throws anything but MalformedJobError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.array(fc.string(), { maxLength: 8 }), (junk, parts) => {
        for (const raw of [junk, parts.join(SEP)]) {
          try {
            decodeRecord(raw);
          } catch (error) {
            expect(error).toBeInstanceOf(MalformedJobError);
          }
        }
      }),
    );
  });
});

describe('job ids', () => {
  it.each([
    ['', 'must not be empty'],
    ['x'.repeat(201), 'at most 200 characters'],
    ['a{b}', '"{", "}" or control characters'],
    ['line\nbreak', 'control characters'],
    ['12345', 'must not be all digits'],
    [42, 'must be a string'],
  ])('rejects %p', (id, message) => {
    expect(() => assertJobId(id)).toThrow(InvalidOptionError);
    expect(() => assertJobId(id)).toThrow(message);
  });

  it('accepts ordinary ids, including numeric trace ids', () => {
    expect(() => assertJobId('order-42:welcome')).not.toThrow();
    expect(() => assertJobId('12345', 'traceId')).not.toThrow();
  });
});
