/** Every line the Pub/Sub subscriber and broadcast log or throw, built in one place. */
export const pubsubMessages = {
  connectionLost: (name: string, where: string, reason: string) =>
    `Redis Pub/Sub connection lost (${name}, ${where}): ${reason}; reconnecting with backoff, then subscribing again`,
  unresponsive: (name: string, where: string, ms: number) =>
    `Redis Pub/Sub connection (${name}, ${where}) did not answer its health check within ${ms} ms; ` +
    'replacing it (it may be silently dead)',
  restored: (name: string, where: string, ms: number, channels: number) =>
    `Redis Pub/Sub connection restored (${name}, ${where}) after ${ms} ms; ${channels} channel(s) subscribed again`,
  subscriptionsDropped: (name: string, where: string, expected: number, found: number) =>
    `Redis Pub/Sub connection (${name}, ${where}) holds ${found} of its ${expected} subscriptions; subscribing again`,
  subscribeFailed: (channels: string[], reason: string) =>
    `Could not subscribe to ${channels.length === 1 ? `channel "${channels[0]}"` : `${channels.length} channels ("${channels[0]}", ...)`}: ` +
    `${reason}; trying again at the next health check`,
  listenerFailed: (channel: string, reason: string) => `A listener of Pub/Sub channel "${channel}" threw: ${reason}`,
  closed: () => 'The Pub/Sub subscriber is closed',
  unsubscribedBeforeConfirmed: (channel: string) => `Pub/Sub channel "${channel}" was unsubscribed before Redis confirmed it`,
  malformedBroadcast: (channel: string, reason: string) => `Ignored a malformed broadcast on channel "${channel}": ${reason}`,
};
