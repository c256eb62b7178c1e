import { AddressInfo, createServer, Server, Socket, connect } from 'net';

/** One proxied connection: the worker's socket and ours to Redis. */
interface Pipe {
  slot: number;
  client: Socket;
  upstream: Socket;
  /** Not forwarding (blackholed); sockets stay open, bytes wait in buffers as on a partitioned link. */
  frozen: boolean;
  /** Frozen for good: the far end forgot this connection (half-open); it is reset when the network heals. */
  zombie: boolean;
}

/**
 * A loopback TCP proxy between the workers and Redis, one listening port per worker slot, that injects
 * network faults without touching either end:
 * - reset: every connection gets an RST (ECONNRESET on the worker side);
 * - blackhole: forwarding stops in both directions, sockets stay open and new connections hang too, as
 *   when a link drops packets; when it heals, the buffered bytes flow again (TCP retransmits; nothing is
 *   lost or reordered inside a connection);
 * - half-open: the existing connections go silent for good while new ones work (the far end lost its
 *   state, e.g. after a NAT or load-balancer timeout); when the network heals they get an RST, as the
 *   first retransmission would.
 * Nothing here answers for Redis: a silent connection looks alive to TCP keepalive (the proxy's kernel
 * acknowledges), which is exactly why clients need their own timeouts.
 */
export class FaultProxy {
  private readonly pipes = new Set<Pipe>();
  private readonly blackholed = new Set<number>();

  private constructor(
    private readonly upstreamPort: number,
    private readonly servers: Server[],
  ) {}

  static async start(upstreamPort: number, slots: number): Promise<FaultProxy> {
    const servers: Server[] = [];
    const proxy = new FaultProxy(upstreamPort, servers);
    for (let slot = 0; slot < slots; slot++) {
      const server = createServer((client) => proxy.accept(slot, client));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      servers.push(server);
    }
    return proxy;
  }

  /** The port worker `slot` connects to. */
  port(slot: number): number {
    return (this.servers[slot].address() as AddressInfo).port;
  }

  url(slot: number): string {
    return `redis://127.0.0.1:${this.port(slot)}`;
  }

  connections(slot?: number): number {
    return [...this.pipes].filter((p) => slot === undefined || p.slot === slot).length;
  }

  /** Resets every live connection of `slot` (every slot when undefined); returns how many. */
  reset(slot?: number): number {
    let count = 0;
    for (const pipe of [...this.pipes]) {
      // A half-open connection's far end is gone: nothing there can send an RST until the network heals.
      if ((slot !== undefined && pipe.slot !== slot) || pipe.zombie) continue;
      this.drop(pipe, true);
      count++;
    }
    return count;
  }

  /** Stops forwarding for `slot` (every slot when undefined), existing and new connections alike. */
  blackhole(slot?: number): number {
    const slots = slot === undefined ? this.servers.map((_, i) => i) : [slot];
    for (const s of slots) this.blackholed.add(s);
    let count = 0;
    for (const pipe of this.pipes) {
      if (slots.includes(pipe.slot)) {
        this.freeze(pipe);
        count++;
      }
    }
    return count;
  }

  /** Forwards again for `slot` (every slot when undefined): buffered bytes flow on. */
  unblackhole(slot?: number): void {
    const slots = slot === undefined ? this.servers.map((_, i) => i) : [slot];
    for (const s of slots) this.blackholed.delete(s);
    for (const pipe of this.pipes) {
      if (slots.includes(pipe.slot) && !pipe.zombie) this.thaw(pipe);
    }
  }

  /** Makes the current connections of `slot` half-open (silent for good); new connections work. */
  halfOpen(slot: number): number {
    let count = 0;
    for (const pipe of this.pipes) {
      if (pipe.slot !== slot) continue;
      pipe.zombie = true;
      this.freeze(pipe);
      count++;
    }
    return count;
  }

  /** Resets the half-open connections (of `slot`, or all); returns how many. */
  resetZombies(slot?: number): number {
    let count = 0;
    for (const pipe of [...this.pipes]) {
      if (pipe.zombie && (slot === undefined || pipe.slot === slot)) {
        this.drop(pipe, true);
        count++;
      }
    }
    return count;
  }

  /** The network is fine again: nothing blackholed, half-open connections reset. */
  heal(): void {
    this.unblackhole();
    this.resetZombies();
  }

  async close(): Promise<void> {
    for (const pipe of [...this.pipes]) this.drop(pipe, false);
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  private accept(slot: number, client: Socket): void {
    const upstream = connect(this.upstreamPort, '127.0.0.1');
    const pipe: Pipe = { slot, client, upstream, frozen: false, zombie: false };
    this.pipes.add(pipe);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.forward(pipe, client, upstream);
    this.forward(pipe, upstream, client);
    // Either side going away takes the other with it (Redis killed: the worker sees its connection close),
    // except on a half-open connection, which stays silent towards the worker whatever Redis does.
    const end = () => (pipe.zombie ? upstream.destroy() : this.drop(pipe, false));
    client.on('error', () => this.drop(pipe, false)).on('close', () => this.drop(pipe, false));
    upstream.on('error', end).on('close', end);
    if (this.blackholed.has(slot)) this.freeze(pipe);
  }

  private forward(pipe: Pipe, from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!pipe.frozen) from.resume();
    });
  }

  private freeze(pipe: Pipe): void {
    pipe.frozen = true;
    pipe.client.pause();
    pipe.upstream.pause();
  }

  private thaw(pipe: Pipe): void {
    pipe.frozen = false;
    pipe.client.resume();
    pipe.upstream.resume();
  }

  private drop(pipe: Pipe, rst: boolean): void {
    if (!this.pipes.delete(pipe)) return;
    if (rst && !pipe.client.destroyed) pipe.client.resetAndDestroy();
    else pipe.client.destroy();
    pipe.upstream.destroy();
  }
}
