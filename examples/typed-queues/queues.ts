import { defineQueue } from 'nestjs-redis-queue';
import * as v from 'valibot';

// Shared by the apps that produce and the apps that handle: one definition of each queue's payload.

/** A report request, checked at enqueue and again before the handler; its type comes from the schema. */
export const ReportRequest = v.object({
  month: v.pipe(v.string(), v.regex(/^\d{4}-\d{2}$/, 'must look like 2026-11')),
  format: v.optional(v.picklist(['pdf', 'csv']), 'pdf'),
  recipients: v.pipe(v.array(v.pipe(v.string(), v.email())), v.minLength(1)),
});
export const ReportQueue = defineQueue('reports', { schema: ReportRequest });

/** Type only: the compiler checks every payload, nothing runs at enqueue. */
export interface AuditEvent {
  actor: string;
  action: string;
  at: number;
}
export const AuditQueue = defineQueue<AuditEvent>('audit');
