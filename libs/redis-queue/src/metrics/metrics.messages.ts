/** Messages of the Prometheus integration, built in one place so wording stays consistent. */
export const metricsMessages = {
  missingPromClient: (reason: string) =>
    `RedisQueueMetrics needs the "prom-client" package (an optional peer of nestjs-redis-queue): npm install prom-client (${reason})`,
  alreadyRegistered: (name: string, reason: string) =>
    `RedisQueueMetrics: a metric named "${name}" is already registered in this registry (${reason}). Pass another ` +
    '`prefix` or `registry` when two apps of one process export metrics.',
  scrapeFailed: (reason: string) => `RedisQueueMetrics: could not read queue counts for this scrape: ${reason}`,
};
