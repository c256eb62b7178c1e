import { DynamicModule, Module } from '@nestjs/common';
import { createDashboardController } from './dashboard.controller.js';
import { RedisQueueDashboardOptions, resolveDashboardOptions } from './dashboard.options.js';
import { DASHBOARD_OPTIONS, DashboardService } from './dashboard.service.js';

/**
 * The queues' dashboard, mounted in the app's own HTTP server (Express or Fastify) at `path`, behind
 * the app's `guards`: `RedisQueueDashboardModule.forRoot({ path: 'queues', guards: [AdminGuard] })`
 * beside `RedisQueueModule`. Pages, assets and a JSON API; actions are refused with `readOnly`, and
 * each one is logged with who did it.
 */
@Module({})
export class RedisQueueDashboardModule {
  static forRoot(options: RedisQueueDashboardOptions = {}): DynamicModule {
    const resolved = resolveDashboardOptions(options);
    return {
      module: RedisQueueDashboardModule,
      imports: resolved.imports,
      controllers: [createDashboardController(resolved.path, resolved.guards)],
      providers: [{ provide: DASHBOARD_OPTIONS, useValue: resolved }, DashboardService],
    };
  }
}
