import { RedisClient } from './redis-client.js';

/** How long a claim reply's sample is kept when later ones are less precise. */
const RESAMPLE_MS = 60_000;

/**
 * Redis's clock as this process sees it. Everything a queue shares runs on Redis's `TIME` (due times,
 * leases, rate windows); schedules compute their ticks in the process (cron), so they read `TIME` too and
 * keep this machine's offset from it between reads, and workers learn it from every claim reply to place
 * the due times that announcements carry. A process whose clock is minutes off then neither moves a
 * schedule's next tick for every instance, nor fires ticks early or late, nor wakes late for a delayed job.
 */
export class RedisClock {
  /** Redis's clock minus this machine's, at the middle of the round trip of the sample kept. */
  private offsetMs = 0;
  /** That sample's round trip: Redis read its clock somewhere in it, so the offset is good to half of it. */
  private rttMs = 0;
  private sampledAt = -Infinity;

  constructor(private readonly client: RedisClient) {}

  /** Reads `TIME` (one round trip): Redis's now in ms, and the offset `now()` uses until the next read. */
  async read(): Promise<number> {
    const before = Date.now();
    const [seconds, micros] = await this.client.time();
    this.take(Number(seconds) * 1000 + Number(micros) / 1000, before, Date.now());
    return this.now();
  }

  /**
   * Learns from a Redis time that a reply carried (a script's `TIME`), read somewhere between `sentAt` and
   * now on this machine's clock, with no round trip of its own. A reply can wait in this process before it
   * is read (a busy event loop), which widens the window: the sample with the shortest round trip is kept,
   * and replaced by any after a minute (clocks drift, and get stepped).
   */
  learn(redisMs: number, sentAt: number): void {
    const now = Date.now();
    if (!Number.isFinite(redisMs) || redisMs <= 0) return;
    if (now - sentAt <= this.rttMs || now - this.sampledAt > RESAMPLE_MS) this.take(redisMs, sentAt, now);
  }

  /** Redis's now in ms by the offset kept (this machine's clock before any sample). */
  now(): number {
    return Math.round(Date.now() + this.offsetMs);
  }

  /** ms until Redis's clock reads `redisMs`, at the most (by the sample's uncertainty): a wait that never ends late. */
  msUntil(redisMs: number): number {
    return redisMs - (Date.now() + this.offsetMs + this.rttMs / 2);
  }

  private take(redisMs: number, sentAt: number, receivedAt: number): void {
    // TIME was read somewhere in the round trip: take its middle.
    this.offsetMs = redisMs - (sentAt + receivedAt) / 2;
    this.rttMs = receivedAt - sentAt;
    this.sampledAt = receivedAt;
  }
}
