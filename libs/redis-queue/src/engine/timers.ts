/** Node's timers fire after 1 ms for any delay over 2^31-1 ms (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer that may be cleared; see setLongTimeout. */
export interface LongTimer {
  clear(): void;
}

/**
 * setTimeout for any delay: a delay beyond Node's limit is waited for in steps of at most MAX_TIMER_MS,
 * re-armed until it is due, instead of firing at once. Unref'd: it never keeps the process alive.
 */
export function setLongTimeout(callback: () => void, ms: number): LongTimer {
  const due = Date.now() + Math.max(0, ms);
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const left = due - Date.now();
    timer = setTimeout(left > MAX_TIMER_MS ? arm : callback, Math.min(Math.max(0, left), MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return { clear: () => clearTimeout(timer) };
}
