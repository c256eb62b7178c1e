import { DEFAULT_MAX_PAYLOAD_BYTES, encodePayload, SEP } from './codec.js';
import { describe } from './describe.js';
import { InvalidOptionError, InvalidPayloadError, RedisUnavailableError } from './errors.js';
import { publish } from './pubsub.js';
import { RedisClient, replaceIfStale, whenReady } from './redis-client.js';

/** A broadcast as its handlers see it. */
export interface BroadcastMessage<T = unknown> {
  channel: string;
  payload: T;
  /** When the producer sent it (the producer's clock). */
  sentAt: Date;
}

/** First field of every broadcast message; readers skip fields they do not know after the known ones. */
const VERSION = 'b1';

const CHANNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

export function assertBroadcastChannel(channel: unknown): asserts channel is string {
  if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel)) {
    throw new InvalidOptionError(
      'channel',
      `must be 1-100 characters of letters, digits, ".", "_", ":" or "-", starting with a letter or digit (got ${describe(channel)})`,
    );
  }
}

/**
 * The Pub/Sub channel of a broadcast channel: `<prefix>:broadcast:{<channel>}`. The hash tag makes it a
 * sharded channel on Redis Cluster, so its messages go to one shard instead of every node.
 */
export function broadcastChannel(prefix: string, channel: string): string {
  return `${prefix}:broadcast:{${channel}}`;
}

/** The message published for a broadcast: version, send time (ms) and the payload's JSON. */
export function encodeBroadcast(payload: unknown, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES, now = Date.now()): string {
  return VERSION + SEP + now + SEP + encodePayload(payload, maxBytes);
}

/** Decodes a broadcast message; anything damaged or not written by this library is an InvalidPayloadError. */
export function decodeBroadcast(channel: string, message: string): BroadcastMessage {
  const first = message.indexOf(SEP);
  const second = first < 0 ? -1 : message.indexOf(SEP, first + 1);
  if (first < 0 || second < 0 || !message.startsWith('b')) {
    throw new InvalidPayloadError('not a broadcast message of this library');
  }
  const sentAt = Number(message.slice(first + 1, second));
  if (!Number.isSafeInteger(sentAt)) throw new InvalidPayloadError(`its send time is ${describe(message.slice(first + 1, second))}`);
  const json = message.slice(second + 1);
  let payload: unknown;
  try {
    payload = JSON.parse(json);
  } catch (error) {
    throw new InvalidPayloadError(`its payload is not JSON (${(error as Error).message})`);
  }
  if (json.includes('"__proto__"') && hasProtoKey(payload)) throw new InvalidPayloadError('its payload has a "__proto__" key');
  return { channel, payload, sentAt: new Date(sentAt) };
}

/** JSON.parse keeps "__proto__" as an own key; it must not reach class-transformer or handlers. */
function hasProtoKey(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return true;
  return Object.values(value).some(hasProtoKey);
}

export interface BroadcastSettings {
  /** A connection created with the `producer` role. */
  client: RedisClient;
  prefix: string;
  /** Cap on a payload's JSON size in bytes. Default: 512 KiB. */
  maxPayloadBytes?: number;
  /** ms to wait for Redis before rejecting. Default: 5000. */
  timeout?: number;
}

/**
 * Publishes `payload` to every subscriber of `channel` at this moment. At-most-once: a subscriber that is
 * disconnected, or not subscribed yet, never gets it. Resolves once Redis has taken the message.
 */
export async function broadcast(settings: BroadcastSettings, channel: string, payload: unknown): Promise<void> {
  assertBroadcastChannel(channel);
  const message = encodeBroadcast(payload, settings.maxPayloadBytes);
  const timeout = settings.timeout ?? 5000;
  const what = `broadcast on "${channel}"`;
  await whenReady(settings.client, timeout, what);
  try {
    await publish(settings.client, broadcastChannel(settings.prefix, channel), message);
  } catch (error) {
    replaceIfStale(settings.client, error);
    if ((error as Error).message === 'Command timed out') {
      throw new RedisUnavailableError(`${what}: Redis did not answer within ${timeout} ms; the message may or may not have gone out`);
    }
    throw error;
  }
}
