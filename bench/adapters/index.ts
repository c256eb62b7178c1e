import { AdapterOptions, LibraryId, PEER_POLL_COMMANDS, ProducerAdapter, WorkerAdapter } from './adapter.js';
import { BEE_SETTINGS, beeProducer, beeWorker } from './bee-queue.js';
import { BULLMQ_SETTINGS, bullmqProducer, bullmqWorker } from './bullmq.js';
import { OURS_POLL_COMMANDS, OURS_SETTINGS, OURS_VALIDATION, oursProducer, oursWorker } from './ours.js';

export * from './adapter.js';

/** The Nest adapters load Nest and the module: only the runs that use them import them. */
const nest = () => import('./ours-nest.js');

export async function createProducer(lib: LibraryId, options: AdapterOptions): Promise<ProducerAdapter> {
  switch (lib) {
    case 'ours':
      return options.api === 'nest' ? (await nest()).oursNestProducer(options) : oursProducer(options);
    case 'bullmq':
      return bullmqProducer(options);
    case 'beeQueue':
      return beeProducer(options);
  }
}

/** The settings each library runs with (besides concurrency), for the report. */
export async function librarySettings(lib: LibraryId, options: Omit<AdapterOptions, 'url'> = {}): Promise<string> {
  switch (lib) {
    case 'ours':
      if (options.api === 'nest') return (await nest()).OURS_NEST_SETTINGS;
      return options.validate ? `${OURS_SETTINGS}; ${OURS_VALIDATION[options.validate]}` : OURS_SETTINGS;
    case 'bullmq':
      return BULLMQ_SETTINGS;
    case 'beeQueue':
      return BEE_SETTINGS;
  }
}

/** Commands one end-of-run poll of the library's worker child sends (subtracted from command counts). */
export function pollCommands(lib: LibraryId): Readonly<Record<string, number>> {
  return lib === 'ours' ? OURS_POLL_COMMANDS : PEER_POLL_COMMANDS;
}

export async function createWorker(lib: LibraryId, options: AdapterOptions): Promise<WorkerAdapter> {
  switch (lib) {
    case 'ours':
      return options.api === 'nest' ? (await nest()).oursNestWorker(options) : oursWorker(options);
    case 'bullmq':
      return bullmqWorker(options);
    case 'beeQueue':
      return beeWorker(options);
  }
}
