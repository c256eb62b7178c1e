import type { WorkerStart } from './adapters/adapter.js';

/** Messages between the benchmark (main process) and a worker child. */
export type WorkerMode = 'count' | 'latency' | 'delayed' | 'schedule' | 'idle';

export type ChildRequest =
  | { type: 'start'; id: number; mode: WorkerMode; expect: number; spec: WorkerStart }
  | { type: 'stop'; id: number }
  | { type: 'exit' };

export type ChildReport =
  | { type: 'ready'; id: number }
  | { type: 'started'; id: number }
  | { type: 'stopped'; id: number }
  | { type: 'error'; id: number; message: string }
  | {
      type: 'done';
      id: number;
      handled: number;
      /** First handler start, ms on the monotonic clock. */
      firstStart: number;
      /** When the adapter's timing starts if not at the first handler start (Nest: before `app.init()`), monotonic ms. */
      startedAt?: number;
      /** When Redis first showed no job in flight after the last handler start (monotonic ms). */
      end: number;
      /** Commands the child sent to detect the end (`pollCommand` of the adapter). */
      polls: number;
      /**
       * latency: ms from enqueue to handler start; delayed: ms from due time to handler start; schedule: ms
       * from the tick to handler start (the first tick of each schedule not counted).
       */
      samples: number[];
      /** latency: p99 event-loop delay of the worker process while it ran (ms). */
      loopDelayP99?: number;
      /** CPU of the worker process (user + system, every thread) from the start request to the report, µs. */
      cpuUsec: number;
    };
