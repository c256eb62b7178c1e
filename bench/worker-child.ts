// One library's worker, in a process of its own (the benchmark's "one worker process"). The main process
// drives it over IPC: start a worker in a mode, wait for its report, stop it.
import { monitorEventLoopDelay } from 'perf_hooks';
import { Api, createWorker, LibraryId, Validator, WorkerAdapter } from './adapters/index.js';
import { EmailJob, monoMs } from './payload.js';
import type { ChildReport, ChildRequest } from './protocol.js';

const lib = process.env.BENCH_LIB as LibraryId;
const url = process.env.BENCH_REDIS_URL as string;
const validate = (process.env.BENCH_VALIDATE || undefined) as Validator | undefined;
const api = (process.env.BENCH_API || 'engine') as Api;

const send = (message: ChildReport) => process.send?.(message);
// The benchmark owns this process: when it goes away, so do we.
process.on('disconnect', () => process.exit(0));

const adapter: WorkerAdapter = await createWorker(lib, { url, validate, api });

async function start(request: Extract<ChildRequest, { type: 'start' }>): Promise<void> {
  const { id, mode, expect, spec } = request;
  const cpu0 = process.cpuUsage();
  let handled = 0;
  let firstStart = 0;
  const samples: number[] = [];
  /** schedule: schedules whose first tick was seen (not counted: it may have been due before the worker ran). */
  const ticked = new Set<string>();
  let reported = false;
  const lag = mode === 'latency' ? monitorEventLoopDelay({ resolution: 1 }) : undefined;
  lag?.enable();
  const report = async (end: number, polls: number) => {
    const startedAt = (await starting) ?? undefined;
    const cpu = process.cpuUsage(cpu0);
    const loopDelayP99 = lag ? lag.percentile(99) / 1e6 : undefined;
    send({ type: 'done', id, handled, firstStart, startedAt, end, polls, samples, loopDelayP99, cpuUsec: cpu.user + cpu.system });
  };
  const finish = async () => {
    if (reported) return;
    reported = true;
    if (mode === 'schedule') {
      // Schedules go on ticking: nothing to drain.
      await report(monoMs(), 0);
      return;
    }
    // Every job has started; now wait until Redis holds none of them claimed-but-unacknowledged. Polls
    // are one command each and are reported, so the harness can take them out of the command counts.
    let polls = 0;
    if (process.env.BENCH_DEBUG) console.error(`[child ${lib}] ${mode}: finish starts`);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      polls++;
      const left = await adapter.inFlight();
      if (left === 0) break;
      if (process.env.BENCH_DEBUG && polls % 1000 === 0) console.error(`[child ${lib}] ${mode}: ${left} still in flight`);
    }
    const end = monoMs();
    lag?.disable();
    if (process.env.BENCH_DEBUG) console.error(`[child ${lib}] ${mode}: finish after ${polls} polls`);
    await report(end, polls);
  };
  const finishSoon = () =>
    setImmediate(() => finish().catch((error: Error) => send({ type: 'error', id, message: `end-of-run poll: ${error.stack ?? error.message}` })));
  const handler = async (payload: EmailJob, jobId: string): Promise<void> => {
    const epochMs = mode === 'delayed' || mode === 'schedule' ? Date.now() : 0;
    const now = epochMs || monoMs();
    if (handled === 0) firstStart = epochMs ? monoMs() : now;
    handled++;
    if (mode === 'latency' && payload.w !== 1) samples.push(now - (payload.t ?? 0));
    else if (mode === 'delayed') samples.push(now - (payload.d ?? 0));
    else if (mode === 'schedule') {
      const tick = adapter.scheduledTick?.(jobId);
      if (!tick) return;
      if (!ticked.has(tick.schedule)) ticked.add(tick.schedule);
      else samples.push(now - tick.tick);
      if (samples.length === expect) finishSoon();
      return;
    }
    if (handled === expect) finishSoon();
  };
  if (process.env.BENCH_DEBUG) {
    const timer = setInterval(() => console.error(`[child ${lib}] ${mode}: ${handled}/${expect} handled`), 1000);
    timer.unref();
  }
  // Awaited by the report too: every job may be handled before the adapter's start resolves.
  const starting = adapter.start(spec, handler);
  await starting;
  send({ type: 'started', id });
}

process.on('message', (message: ChildRequest) => {
  const run = async (): Promise<void> => {
    switch (message.type) {
      case 'start':
        return start(message);
      case 'stop':
        await adapter.stop();
        send({ type: 'stopped', id: message.id });
        return;
      case 'exit':
        await adapter.stop();
        await adapter.close();
        process.exit(0);
    }
  };
  run().catch((error: Error) => send({ type: 'error', id: 'id' in message ? message.id : 0, message: error.stack ?? error.message }));
});

send({ type: 'ready', id: 0 });
