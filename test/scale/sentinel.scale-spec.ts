import { QueueSentinelModule } from '../../examples/scaling/sentinel.module.js';
import { uniquePrefix } from '../support/helpers.js';
import { exampleRunsJobs } from './support/apps.js';
import { coreBehaviours } from './support/core-behaviours.js';
import { describeFigures, killPrimaryUnderLoad, killPrimaryWithLaggingReplica } from './support/failover.js';
import { Report } from './support/report.js';
import { TestSentinel } from './support/sentinel.js';

const report = new Report('Sentinel: failover');

describe('Sentinel (primary, replica, 3 sentinels)', () => {
  let sentinel: TestSentinel;
  beforeAll(async () => {
    sentinel = await TestSentinel.start({ downAfterMs: 1000, failoverTimeoutMs: 2000 });
  }, 60_000);
  afterAll(async () => {
    report.print();
    await sentinel?.stop();
  });

  describe('core behaviours', () => coreBehaviours(() => sentinel));

  it('the documented configuration (examples/scaling/sentinel.module.ts) runs jobs', async () => {
    await exampleRunsJobs(QueueSentinelModule, {
      REDIS_SENTINELS: sentinel.sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      REDIS_MASTER_NAME: sentinel.masterName,
      QUEUE_PREFIX: uniquePrefix('docs'),
    });
  });

  describe('failover: the primary is SIGKILLed and the sentinels promote the replica', () => {
    const queues = ['email', 'sms', 'push'];

    it('under load, without waitForReplicas: workers reconnect and keep processing; losses are measured', async () => {
      const f = await killPrimaryUnderLoad(sentinel, { queues, killQueue: 'email', label: 'primary SIGKILLed under load' });
      report.add(describeFigures('sentinel', f));
      expect(f.recoveredMs).toBeDefined();
      expect(f.idleWakeMs).toBeLessThan(5000);
      expect(f.hungBlockingCalls).toBe(0);
    });

    it('under load, with waitForReplicas: 1: no acknowledged job is lost', async () => {
      const f = await killPrimaryUnderLoad(sentinel, {
        queues,
        killQueue: 'email',
        waitForReplicas: { replicas: 1, timeout: 1000 },
        label: 'primary SIGKILLed under load',
      });
      report.add(describeFigures('sentinel', f));
      expect(f.lost).toBe(0);
      expect(f.recoveredMs).toBeDefined();
      expect(f.idleWakeMs).toBeLessThan(5000);
      expect(f.hungBlockingCalls).toBe(0);
    });

    it('frozen (SIGSTOP, sockets stay open) under load: producers and workers move to the new primary by themselves', async () => {
      const f = await killPrimaryUnderLoad(sentinel, { queues, killQueue: 'email', failure: 'freeze', label: 'primary frozen under load' });
      report.add(describeFigures('sentinel', f));
      expect(f.recoveredMs).toBeDefined();
      expect(f.idleWakeMs).toBeLessThan(5000);
    });

    it('with a lagging replica, without waitForReplicas: jobs acknowledged during the lag are lost', async () => {
      const f = await killPrimaryWithLaggingReplica(sentinel, { queue: 'sms', label: 'primary SIGKILLed while its replica lags' });
      report.add(describeFigures('sentinel', f));
      expect(f.lost).toBeGreaterThan(0);
    });

    it('with a lagging replica, with waitForReplicas: 1: nothing acknowledged is lost', async () => {
      const f = await killPrimaryWithLaggingReplica(sentinel, {
        queue: 'sms',
        waitForReplicas: { replicas: 1, timeout: 300 },
        label: 'primary SIGKILLed while its replica lags',
      });
      report.add(describeFigures('sentinel', f));
      expect(f.lost).toBe(0);
      expect(f.rejected.ReplicationTimeoutError).toBeGreaterThan(0);
    });
  });
});
