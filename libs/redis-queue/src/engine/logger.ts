/** The logging the engine needs; Nest's `Logger` and `console` both fit. */
export interface QueueLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, stack?: string): void;
  debug?(message: string): void;
}

export const consoleLogger: QueueLogger = {
  log: (m) => console.log(m),
  warn: (m) => console.warn(m),
  error: (m, stack) => console.error(stack ? `${m}\n${stack}` : m),
  debug: () => undefined,
};
