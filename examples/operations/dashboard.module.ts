import { CanActivate, ExecutionContext, Injectable, Module } from '@nestjs/common';
import { timingSafeEqual } from 'crypto';
import { RedisQueueModule } from 'nestjs-redis-queue';
import { RedisQueueDashboardModule } from 'nestjs-redis-queue/dashboard';

/**
 * Lets in requests that carry `X-Ops-Token: <user>:<token>` (in your app: its session or JWT guard). The
 * user it sets on the request is who the dashboard's activity log names.
 */
@Injectable()
export class OpsTokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: { username: string } }>();
    const [username, token = ''] = (request.headers['x-ops-token'] ?? '').split(':');
    const expected = Buffer.from(process.env.OPS_TOKEN ?? '');
    const given = Buffer.from(token);
    if (!username || expected.length === 0 || given.length !== expected.length || !timingSafeEqual(given, expected)) return false; // 403
    request.user = { username };
    return true;
  }
}

@Module({
  imports: [
    RedisQueueModule.forRoot({ connection: process.env.REDIS_URL!, prefix: process.env.QUEUE_PREFIX ?? 'rq' }),
    // GET /queues: the dashboard, behind the guard. readOnly: true refuses every action on the server.
    RedisQueueDashboardModule.forRoot({ path: 'queues', guards: [OpsTokenGuard], readOnly: false }),
  ],
})
export class DashboardAppModule {}
