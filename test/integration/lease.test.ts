/**
 * The lease of a collection held by a live run (issue 11.5), over the wire: a CLI run that can not run the collection
 * says so and exits 3 (`--full` too); the timer treats the skip as fine. (A dead process's lease is taken at once:
 * test/integration/resilience.test.ts, kill -9.)
 */
import { TableClient } from '@azure/data-tables';
import { buildFunctions } from '../../src/app/functions';
import { fixedServices } from '../../src/app/services';
import { systemClock } from '../../src/domain/clock';
import { CollectionStateStore } from '../../src/store/syncState';
import { findRun, latestRuns } from '../../src/store/syncRuns';
import { generateRiskDetections } from '../../tools/emulator';
import { startStorageProxy } from '../../tools/storage-proxy/storageProxy';
import { startLocalHost } from '../../tools/host/localHost';
import { eventually, quietLogger, startHarness, type Harness } from '../support/harness';

describe('a collection whose lease a live run holds', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    const now = Date.now();
    h.emulator.upsert(
      'riskDetections',
      generateRiskDetections(200, { seed: 51, users: 10, from: new Date(now - 86_400_000), to: new Date(now - 60_000) }),
    );
  });
  afterAll(() => h?.close());

  it('a CLI run exits 3 saying who holds it (--full included); the timer run steps aside without failing', async () => {
    // A live run that holds the lease: its first Graph answer does not come before the test stops it.
    h.emulator.faults.add({ kind: 'slow', delayMs: 120_000, count: 1 });
    const stop = new AbortController();
    // Its request timeout outlasts the test (the harness's 5 s would let it retry and finish while a loaded machine is
    // still running the CLI below); the test stops it.
    const holder = h
      .service({ SYNC_LEASE_SECONDS: '30', GRAPH_REQUEST_TIMEOUT_SECONDS: '300' })
      .run('riskDetections', { trigger: 'holder', signal: stop.signal }, quietLogger);
    await eventually(
      async () => {
        try {
          await h.table('SyncState').getEntity(h.emulator.tenantId, 'riskDetections.lease');
          return true;
        } catch {
          return false;
        }
      },
      20_000,
      'the holder has the lease',
    );

    for (const args of [
      ['sync', '--dataset', 'riskDetections', '--json'],
      ['sync', '--dataset', 'riskDetections', '--full', '--json'],
    ]) {
      const result = await h.cli(args);
      expect(result.code).toBe(3);
      const [summary] = JSON.parse(result.stdout) as { outcome: string; error: string }[];
      expect(summary).toMatchObject({ outcome: 'skipped' });
      expect(summary!.error).toMatch(/another run holds the lease of riskDetections/);
    }

    // The every-second schedule must have fired since the CLI runs above started, or the tick finds nothing due.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const errors: string[] = [];
    const service = h.service({ SYNC_SCHEDULE_RISK_DETECTIONS: '* * * * * *' });
    const host = await startLocalHost({
      functions: buildFunctions(service.settings, fixedServices(service)),
      port: 0,
      log: { ...quietLogger, error: (m: string) => void errors.push(m) },
    });
    try {
      await host.runTimer('sync');
    } finally {
      await host.close();
    }
    expect(errors.filter((e) => /failed/.test(e))).toEqual([]);
    const runs = await latestRuns(h.table('SyncRuns'), h.emulator.tenantId, 'riskDetections', 10);
    expect(runs.some((r) => r.trigger === 'timer' && r.outcome === 'skipped')).toBe(true);
    stop.abort(new Error('stopped by the test'));
    expect((await holder).outcome).toBe('partial');
  }, 60_000);
});

/**
 * A run that holds its writes (the CLI's, while its credential is checked): it reads its lease and state meanwhile,
 * writes nothing before it may, and ends with nothing written when it may not.
 */
describe('a run that holds its writes until the credential has been checked', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    const now = Date.now();
    h.emulator.upsert('riskDetections', generateRiskDetections(60, { seed: 53, from: new Date(now - 86_400_000), to: new Date(now - 60_000) }));
    // The tables and a first run: the lease row and the state row exist.
    expect((await h.service().run('riskDetections', { trigger: 'test' }, quietLogger)).outcome).toBe('succeeded');
  });
  afterAll(() => h?.close());
  afterEach(() => jest.restoreAllMocks());

  /** The rows a run writes: the lease and state of its collection, and the SyncRuns rows. */
  const written = async () => {
    const state = h.table('SyncState');
    const lease = await state.getEntity(h.emulator.tenantId, 'riskDetections.lease');
    const collection = await state.getEntity(h.emulator.tenantId, 'riskDetections');
    let runs = 0;
    for await (const _ of h.table('SyncRuns').listEntities()) runs++;
    return { lease: lease.etag, state: collection.etag, runs };
  };

  /** Resolves once the run has read its state row (the second of its two reads), and its answer has been handled. */
  const stateRead = () =>
    new Promise<void>((resolve) => {
      const getEntity = TableClient.prototype.getEntity;
      jest.spyOn(TableClient.prototype, 'getEntity').mockImplementation(function (this: TableClient, ...args) {
        const answer = getEntity.apply(this, args);
        if (this.tableName === 'SyncState' && args[1] === 'riskDetections') void answer.finally(() => setTimeout(resolve, 200));
        return answer;
      });
    });

  it('reads its lease and state meanwhile, writes nothing before the check, then runs', async () => {
    const before = await written();
    let pass!: () => void;
    const checked = new Promise<void>((resolve) => (pass = resolve));
    const read = stateRead();
    const run = h.service().run('riskDetections', { trigger: 'test', holdWritesUntil: checked }, quietLogger);
    await read;
    expect(await written()).toEqual(before);
    pass();
    expect(await run).toMatchObject({ outcome: 'succeeded', trigger: 'test' });
    const after = await written();
    expect(after.lease).not.toBe(before.lease);
    expect(after.runs).toBe(before.runs + 1);
  });

  it('leaves no lease and no run behind when the check fails', async () => {
    const before = await written();
    let fail!: (error: Error) => void;
    const checked = new Promise<void>((_resolve, reject) => (fail = reject));
    const read = stateRead();
    const run = h.service().runAll(['riskDetections'], { trigger: 'test', holdWritesUntil: checked }, quietLogger);
    await read;
    fail(new Error('the credential can never work'));
    await expect(run).rejects.toThrow('the credential can never work');
    expect(await written()).toEqual(before);
  });

  it('takes a lease that its holder gave up while the run waited', async () => {
    const holder = new CollectionStateStore(h.table('SyncState'), h.emulator.tenantId, 'riskDetections', { leaseMs: 60_000, clock: systemClock });
    const held = await holder.tryAcquire('a-live-run');
    if (!held.acquired) throw new Error('the holder could not take the lease');
    let pass!: () => void;
    const checked = new Promise<void>((resolve) => (pass = resolve));
    const read = stateRead();
    const run = h.service().run('riskDetections', { trigger: 'test', holdWritesUntil: checked }, quietLogger);
    await read;
    // What the run read says the lease is taken; it is free by the time the run may write.
    await holder.release(held.state);
    pass();
    expect(await run).toMatchObject({ outcome: 'succeeded' });
  });

  it('held by a run of the same id in another process (a run request delivered twice) is not taken for ours', async () => {
    const store = (host: string) =>
      new CollectionStateStore(h.table('SyncState'), h.emulator.tenantId, 'riskDetections', {
        leaseMs: 60_000,
        clock: systemClock,
        process: { host, pid: 4242, pidStart: '1', isAlive: () => true },
      });
    const firstDelivery = store('instance-a');
    const first = await firstDelivery.tryAcquire('a-redelivered-run');
    if (!first.acquired) throw new Error('the first delivery could not take the lease');
    try {
      expect(await store('instance-b').tryAcquire('a-redelivered-run')).toMatchObject({
        acquired: false,
        holder: expect.stringMatching(/^a-redelivered-run \(instance-a/),
      });
      // The second delivery as the queue function runs it: skipped, and no SyncRuns row of the id to hide the first's.
      const second = await h.service().run('riskDetections', { trigger: 'api', runId: 'a-redelivered-run' }, quietLogger);
      expect(second).toMatchObject({ outcome: 'skipped', error: expect.stringMatching(/is running in another process/) });
      expect(await findRun(h.table('SyncRuns'), h.emulator.tenantId, ['riskDetections'], 'a-redelivered-run')).toBeUndefined();
    } finally {
      await firstDelivery.release(first.state);
    }
  });

  it('runs from the state as it is once it may write: another run that took the lease and saved meanwhile is seen', async () => {
    let pass!: () => void;
    const checked = new Promise<void>((resolve) => (pass = resolve));
    const read = stateRead();
    const run = h.service().run('riskDetections', { trigger: 'test', holdWritesUntil: checked }, quietLogger);
    await read;
    // While the run waits, another run takes the lease, moves the watermark back a day and gives the lease up.
    const other = new CollectionStateStore(h.table('SyncState'), h.emulator.tenantId, 'riskDetections', { leaseMs: 60_000, clock: systemClock });
    const taken = await other.tryAcquire('another-run');
    if (!taken.acquired) throw new Error('the other run could not take the lease');
    const watermark = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await other.release({ ...taken.state, watermark });
    pass();
    expect(await run).toMatchObject({ outcome: 'succeeded', watermarkBefore: watermark });
  });

  it('Ctrl+C while the credential is being checked ends the CLI at once, with nothing written', async () => {
    const proxy = await startStorageProxy({ port: h.azurite.port });
    let stateReads = 0;
    proxy.addHook({
      match: (r) => r.kind === 'read' && r.tables.includes('SyncState'),
      before: () => void stateReads++,
      once: false,
    });
    // The credential check's token request is answered only after the test is over.
    h.emulator.faults.add({ target: 'token', kind: 'slow', delayMs: 120_000, count: 1 });
    try {
      const before = await written();
      const child = h.spawnCli(['sync', '-d', 'riskDetections'], { TABLES_CONNECTION_STRING: proxy.connectionString });
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      // The tables row, the lease and the state have been read: the run waits for the credential.
      await eventually(() => stateReads >= 3, 60_000, 'the run read its lease and state');
      child.kill('SIGINT');
      expect(await exited).toBe(1);
      expect(await written()).toEqual(before);
    } finally {
      h.emulator.faults.clear();
      await proxy.close();
    }
  }, 120_000);
});
