import {
  Body,
  CanActivate,
  Controller,
  ForbiddenException,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  Res,
  Sse,
  Type,
  UseGuards,
} from '@nestjs/common';
import { Observable } from 'rxjs';
import { CONTENT_SECURITY_POLICY, assets, page } from './dashboard.assets.js';
import { dashboardMessages } from './dashboard.messages.js';
import type { DashboardRequest } from './dashboard.options.js';
import { DashboardService } from './dashboard.service.js';

/** The response, Express's or Fastify's: both set headers with `header(name, value)`. */
interface DashboardResponse {
  header(name: string, value: string): unknown;
}

/** Actions must carry this header: a cross-site form or image cannot, so sessions cannot be ridden. */
const ACTION_HEADER = 'x-rq-dashboard';

function assertAction(request: DashboardRequest): void {
  if (!request.headers[ACTION_HEADER]) throw new ForbiddenException(dashboardMessages.missingHeader);
}

function secure(response: DashboardResponse, type: string): void {
  response.header('Content-Type', type);
  response.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  response.header('X-Content-Type-Options', 'nosniff');
  response.header('Referrer-Policy', 'same-origin');
}

/**
 * The dashboard's routes under `path`, behind `guards`: a class made per `forRoot` call, so that two
 * apps (or two dashboards) in one process never share a path or guards through mutable metadata.
 */
export function createDashboardController(path: string, guards: Array<Type<CanActivate> | CanActivate>): Type<unknown> {
  @Controller(path)
  @UseGuards(...guards)
  class RedisQueueDashboardController {
    constructor(private readonly dashboard: DashboardService) {}

    @Get()
    index(@Req() request: DashboardRequest, @Res({ passthrough: true }) response: DashboardResponse): string {
      secure(response, 'text/html; charset=utf-8');
      response.header('Cache-Control', 'no-store');
      return page(request.originalUrl ?? request.url ?? '/', this.dashboard.config(request).title);
    }

    @Get('assets/:name')
    asset(@Param('name') name: string, @Res({ passthrough: true }) response: DashboardResponse): string {
      const file = name === 'index.html' ? undefined : assets().get(name);
      if (!file) throw new NotFoundException(dashboardMessages.noAsset(name));
      secure(response, file.type);
      response.header('Cache-Control', 'private, max-age=3600');
      return file.body;
    }

    @Get('api/config')
    config(@Req() request: DashboardRequest) {
      return this.dashboard.config(request);
    }

    @Get('api/snapshot')
    snapshot() {
      return this.dashboard.snapshot();
    }

    @Sse('api/events')
    events(): Observable<{ type: string; data: object }> {
      return this.dashboard.live();
    }

    @Get('api/workers')
    workers() {
      return this.dashboard.workers();
    }

    @Get('api/activity')
    activity(@Query('limit') limit?: string) {
      return this.dashboard.recentActivity(limit);
    }

    @Get('api/queues/:queue/jobs')
    jobs(@Param('queue') queue: string, @Query('state') state = 'ready', @Query('offset') offset?: string, @Query('limit') limit?: string) {
      return this.dashboard.jobs(queue, state, offset, limit);
    }

    @Get('api/queues/:queue/jobs/:id')
    job(@Param('queue') queue: string, @Param('id') id: string) {
      return this.dashboard.job(queue, id);
    }

    @Get('api/queues/:queue/schedules')
    schedules(@Param('queue') queue: string) {
      return this.dashboard.schedules(queue);
    }

    @Post('api/queues/:queue/pause')
    @HttpCode(200)
    pause(@Req() request: DashboardRequest, @Param('queue') queue: string) {
      assertAction(request);
      return this.dashboard.pause(request, queue);
    }

    @Post('api/queues/:queue/resume')
    @HttpCode(200)
    resume(@Req() request: DashboardRequest, @Param('queue') queue: string) {
      assertAction(request);
      return this.dashboard.resume(request, queue);
    }

    @Post('api/queues/:queue/dead/retry')
    @HttpCode(200)
    retry(@Req() request: DashboardRequest, @Param('queue') queue: string, @Body() body: unknown) {
      assertAction(request);
      return this.dashboard.retryDead(request, queue, body);
    }

    @Post('api/queues/:queue/dead/remove')
    @HttpCode(200)
    remove(@Req() request: DashboardRequest, @Param('queue') queue: string, @Body() body: unknown) {
      assertAction(request);
      return this.dashboard.removeDead(request, queue, body);
    }

    @Post('api/queues/:queue/jobs/:id/cancel')
    @HttpCode(200)
    cancel(@Req() request: DashboardRequest, @Param('queue') queue: string, @Param('id') id: string) {
      assertAction(request);
      return this.dashboard.cancel(request, queue, id);
    }

    @Post('api/queues/:queue/jobs/:id/promote')
    @HttpCode(200)
    promote(@Req() request: DashboardRequest, @Param('queue') queue: string, @Param('id') id: string, @Body() body: unknown) {
      assertAction(request);
      return this.dashboard.promote(request, queue, id, body);
    }
  }
  return RedisQueueDashboardController;
}
