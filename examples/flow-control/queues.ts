import { defineQueue } from 'nestjs-redis-queue';

export interface Mail {
  to: string;
  subject: string;
  body: string;
}
/** Mail through an SMTP relay that accepts 100 messages a second from the whole fleet. */
export const MailQueue = defineQueue<Mail>('mail');

export interface Charge {
  merchant: string;
  orderId: string;
  cents: number;
}
/** Card charges through a payment API that allows 25 open requests, and 10 charges a minute per merchant. */
export const ChargeQueue = defineQueue<Charge>('charges');
