import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { timingSafeEqual } from 'crypto';

/** The demo's dashboard login (HTTP Basic). */
export const DASHBOARD_USER = process.env.DASHBOARD_USER ?? 'admin';
export const DASHBOARD_PASSWORD = process.env.DASHBOARD_PASSWORD ?? 'demo';

/**
 * The demo's guard in front of the dashboard: HTTP Basic, so that a browser asks for the login. A real app
 * puts its own session or JWT guard there. It sets `request.user`, which the activity log names.
 */
@Injectable()
export class DemoDashboardGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<{ headers: Record<string, string | undefined>; user?: { username: string } }>();
    const [scheme, encoded = ''] = (request.headers.authorization ?? '').split(' ');
    const [user, password = ''] = Buffer.from(encoded, 'base64').toString('utf8').split(':');
    if (scheme === 'Basic' && user === DASHBOARD_USER && same(password, DASHBOARD_PASSWORD)) {
      request.user = { username: user };
      return true;
    }
    // Express's response and Fastify's reply both set headers with header().
    http.getResponse<{ header(name: string, value: string): unknown }>().header('WWW-Authenticate', 'Basic realm="queues", charset="UTF-8"');
    throw new UnauthorizedException('Log in to see the queues');
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
