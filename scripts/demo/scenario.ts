/** What the demo (and its e2e test) registers, and how the SMTP sink treats the special addresses. */

/** The sink refuses this recipient for good (550): its welcome mail ends in the dead-letter set. */
export const REJECTED_ADDRESS = 'nobody@bounce.example.com';
/** The sink refuses this recipient once (451, greylisting), then accepts: its mail arrives on attempt 2. */
export const GREYLISTED_ADDRESS = 'alan@greylist.example.org';

export const SINK_RULES = { rejectAlways: [REJECTED_ADDRESS], failOnce: [GREYLISTED_ADDRESS] } as const;

export interface Registration {
  email: string;
  name: string;
  remindInSeconds?: number;
}

export const DEMO_REGISTRATIONS: readonly Registration[] = [
  { email: 'ada@example.com', name: 'Ada Lovelace' },
  { email: 'grace@example.com', name: 'Grace Hopper', remindInSeconds: 3 },
  { email: GREYLISTED_ADDRESS, name: 'Alan Turing' },
  { email: REJECTED_ADDRESS, name: 'Nobody' },
  { email: 'edsger@example.com', name: 'Edsger Dijkstra' },
];

/** A body the API must refuse with 400. */
export const INVALID_REGISTRATION = { email: 'not-an-email', name: '' };

export interface RegisterResult {
  status: number;
  body: { jobId?: string; reminderJobId?: string; message?: string | string[] };
  /** When the request was sent (before the jobs were enqueued). */
  sentAt: Date;
}

/** `POST /users` over HTTP, as any client would. */
export async function register(apiUrl: string, body: object): Promise<RegisterResult> {
  const sentAt = new Date();
  const response = await fetch(`${apiUrl}/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as RegisterResult['body'], sentAt };
}
