/** Log lines of the Scheduler, in one place. */
export const scheduleMessages = {
  missed: (queue: string, name: string, since: Date, skip: boolean) =>
    `Queue "${queue}": schedule "${name}" missed ticks since ${since.toISOString()}; ${skip ? 'skipping them (missed: skip)' : 'running one job for them (missed: once)'}`,
  unreadable: (queue: string, reason: string) => `Queue "${queue}": could not read its schedules (${reason}); retrying`,
  fireFailed: (queue: string, name: string, reason: string) =>
    `Queue "${queue}": schedule "${name}" could not fire its tick (${reason}); retrying`,
  failed: (what: string, reason: string) => `Schedule ${what}: ${reason}`,
};
