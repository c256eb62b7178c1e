import { RedisClient } from './redis-client.js';

/**
 * Redis's clock as this process sees it. Everything a queue shares runs on Redis's `TIME` (due times,
 * leases, rate windows); schedules compute their ticks in the process (cron), so they read `TIME` too and
 * keep this machine's offset from it between reads, and workers learn it from every claim reply to place
 * the due times that announcements carry. A process whose clock is minutes off then neither moves a
 * schedule's next tick for every instance, nor fires ticks early or late, nor wakes late for a delayed job.
 */
export class RedisClock {
  private offsetMs = 0;

  constructor(private readonly client: RedisClient) {}

  /** Reads `TIME` (one round trip): Redis's now in ms, and the offset `now()` uses until the next read. */
  async read(): Promise<number> {
    const before = Date.now();
    const [seconds, micros] = await this.client.time();
    // TIME was read somewhere in the round trip: take its middle.
    this.learn(Number(seconds) * 1000 + Number(micros) / 1000, before);
    return this.now();
  }

  /**
   * Takes the offset from a Redis time that a reply carried (a script's `TIME`), read somewhere between
   * `sentAt` and now on this machine's clock: no round trip of its own.
   */
  learn(redisMs: number, sentAt: number): void {
    if (Number.isFinite(redisMs) && redisMs > 0) this.offsetMs = redisMs - (sentAt + Date.now()) / 2;
  }

  /** Redis's now in ms by the last read's offset (this machine's clock before any read). */
  now(): number {
    return Math.round(Date.now() + this.offsetMs);
  }
}
