// nestjs-redis-queue/dashboard: the queues' dashboard for a Nest HTTP app (Express or Fastify).
export { RedisQueueDashboardModule } from './redis-queue-dashboard.module.js';
export type { DashboardRequest, RedisQueueDashboardOptions } from './dashboard.options.js';
export type { DashboardConfig, DashboardSnapshot } from './dashboard.service.js';
export type { ActivityAction, ActivityEntry } from '../engine/index.js';
