/**
 * Graph as real tenants serve it (issue 10), over the wire, through the CLI and through the timer handler of the local
 * host: late offline detections found by a sweep, the phantom last next link, unlicensed tenants and missing
 * permissions, and a backfill that finishes although every next link expires between its runs.
 */
import { buildFunctions } from '../../src/app/functions';
import { fixedServices } from '../../src/app/services';
import { systemClock } from '../../src/domain/clock';
import { CollectionStateStore } from '../../src/store/syncState';
import { generateRiskDetections, generateRiskyUsers, lateOfflineDetections, rescoredLate } from '../../tools/emulator';
import { startLocalHost } from '../../tools/host/localHost';
import { quietLogger, startHarness, type Harness } from '../support/harness';

const HOUR = 3_600_000;
const now = Date.now();
const users = generateRiskyUsers(40, { seed: 31, from: new Date(now - 20 * 86_400_000), to: new Date(now - 3 * HOUR) });
const detections = generateRiskDetections(600, { seed: 31, users, from: new Date(now - 20 * 86_400_000), to: new Date(now - 3 * HOUR) });

type Summary = {
  collection: string;
  outcome: string;
  sweep: boolean;
  sweepFound?: number;
  requests: number;
  retries: number;
  action?: string;
  dataShape?: string;
};

async function cliSync(h: Harness, args: string[] = [], env: Record<string, string> = {}) {
  const result = await h.cli(['sync', '--json', ...args], env);
  return { code: result.code, stderr: result.stderr, summaries: JSON.parse(result.stdout || '[]') as Summary[] };
}

const state = (h: Harness, collection: string) =>
  new CollectionStateStore(h.table('SyncState'), h.emulator.tenantId, collection, { leaseMs: 5000, clock: systemClock }).read();

describe('late offline detections: the sweep', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert('riskDetections', detections);
  });
  afterAll(() => h?.close());

  it('an ordinary run misses a detection that surfaces 40 hours late; the sweep finds it, and says how many it found', async () => {
    expect((await cliSync(h)).code).toBe(0); // the first sync (a backfill counts as a sweep)
    const late = lateOfflineDetections(3, { users, lateByMs: 40 * HOUR, seed: 5 });
    const rescored = rescoredLate(detections[7]!, { lateByMs: 30 * HOUR, seed: 5 });
    h.emulator.upsert('riskDetections', [...late, rescored]);

    const ordinary = await cliSync(h, ['--dataset', 'riskDetections']);
    expect(ordinary.summaries[0]).toMatchObject({ outcome: 'succeeded', sweep: false });
    const stored = new Map((await h.stored('riskDetections')).map((r) => [r.id, r]));
    expect(late.some((d) => stored.has(d.id))).toBe(false); // outside the 30-minute lookback
    expect(stored.get(rescored.id)!.riskLevel).toBe(detections[7]!.riskLevel);

    const sweep = await cliSync(h, ['--sweep', '--dataset', 'riskDetections']);
    expect(sweep.code).toBe(0);
    expect(sweep.summaries[0]).toMatchObject({ outcome: 'succeeded', sweep: true, sweepFound: 4 });
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    const s = await state(h, 'riskDetections');
    expect(s.lastSweep).toMatchObject({ found: 4 });
    // The first run reads SYNC_SWEEP_LOOKBACK_HOURS (72) behind the watermark.
    const filter = decodeURIComponent(
      h.emulator
        .requestLog()
        .filter((r) => r.url.includes('riskDetections'))
        .at(-1)!.url,
    );
    expect(filter).toMatch(/lastUpdatedDateTime ge \S+/);

    const status = JSON.parse((await h.cli(['status', '--json'])).stdout) as { collection: string; lastSweep: { found: number } }[];
    expect(status.find((c) => c.collection === 'riskDetections')!.lastSweep.found).toBe(4);
  });

  it('a sweep is due every SYNC_SWEEP_HOURS: the timer run of the local host makes it by itself', async () => {
    h.emulator.upsert('riskDetections', lateOfflineDetections(2, { users, lateByMs: 50 * HOUR, seed: 6 }));
    // Every collection due at every tick; a sweep due after 1 hour of the last one: the next tick is one hour later.
    const service = h.service({ SYNC_SCHEDULE_RISK_DETECTIONS: '* * * * * *', SYNC_SWEEP_HOURS: '0.0001' });
    const host = await startLocalHost({ functions: buildFunctions(service.settings, fixedServices(service)), port: 0, log: quietLogger });
    try {
      await host.runTimer('sync');
    } finally {
      await host.close();
    }
    const s = await state(h, 'riskDetections');
    expect(s.lastRun?.outcome).toBe('succeeded');
    expect(s.lastSweep?.found).toBe(2);
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
  });
});

describe('the phantom last next link (microsoftgraph/microsoft-graph-docs#16332)', () => {
  let h: Harness;
  afterEach(() => h?.close());

  it('1,000 risky users (two full pages): the pass ends complete, exact, the watermark moved, health 200', async () => {
    h = await startHarness({ emulator: { phantomNextLink: true } });
    const thousand = generateRiskyUsers(1000, { seed: 32, from: new Date(now - 20 * 86_400_000), to: new Date(now - HOUR) });
    h.emulator.upsert('riskyUsers', thousand);
    const first = await cliSync(h, ['--dataset', 'riskyUsers'], { SYNC_LEASE_SECONDS: '60' });
    expect(first.code).toBe(0);
    expect(first.summaries.find((s) => s.collection === 'riskyUsers')).toMatchObject({ outcome: 'succeeded' });
    expect(await h.stored('riskyUsers')).toEqual(h.expected('riskyUsers'));
    const s = await state(h, 'riskyUsers');
    expect(s.watermark).toBe(
      thousand
        .map((u) => u.riskLastUpdatedDateTime as string)
        .sort()
        .at(-1),
    );
    // Confirmed by one re-read with another page size, not by failing the pass.
    expect(h.emulator.stats().requests.riskyUsers!['400']).toBe(1);
    const health = await h.cli(['status', '--json']);
    expect(JSON.parse(health.stdout)[1]).toMatchObject({ collection: 'riskyUsers', stale: false });
  }, 120_000);

  it('a next link that really expires in the middle of a pass still loses nothing', async () => {
    h = await startHarness({ emulator: { phantomNextLink: true } });
    h.emulator.upsert(
      'riskDetections',
      generateRiskDetections(3000, { seed: 33, users: 30, from: new Date(now - 9 * 86_400_000), to: new Date(now - HOUR) }),
    );
    let expired = false;
    const [summary] = await h.service().runAll(
      ['riskDetections'],
      {
        trigger: 'test',
        onProgress: (p) => {
          if (p.pages === 1 && !expired) {
            expired = true;
            h.emulator.expireSkipTokens();
          }
        },
      },
      quietLogger,
    );
    expect(summary).toMatchObject({ outcome: 'succeeded' });
    expect(summary!.restarts).toBeGreaterThanOrEqual(1);
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    expect((await state(h, 'riskDetections')).aggregates.total).toBe(3000);
  }, 120_000);
});

describe('tenants without the licence, and missing permissions', () => {
  let h: Harness;
  afterEach(() => h?.close());

  it('P1: riskyUsers and its history are `unlicensed` (one request, no retries), detections P1-shaped, exit 0, health 200', async () => {
    h = await startHarness({ emulator: { licence: 'P1' } });
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert('riskDetections', detections);
    const run = await cliSync(h);
    expect(run.code).toBe(0);
    const byName = Object.fromEntries(run.summaries.map((s) => [s.collection, s]));
    expect(byName.riskDetections).toMatchObject({ outcome: 'succeeded', dataShape: 'P1' });
    expect(byName.riskyUsers).toMatchObject({ outcome: 'unlicensed', requests: 1, retries: 0 });
    expect(byName.riskyUsers!.action).toMatch(/Microsoft Entra ID P2/);
    expect(byName.riskyUserHistory).toMatchObject({ outcome: 'unlicensed', requests: 0 }); // as its parent
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    const status = JSON.parse((await h.cli(['status', '--json'])).stdout) as { collection: string; access: string; dataShape: string | null }[];
    expect(status.map((s) => [s.collection, s.access])).toEqual([
      ['riskDetections', 'licensed'],
      ['riskyUsers', 'unlicensed'],
      ['riskyUserHistory', 'unlicensed'],
    ]);
    expect(status[0]!.dataShape).toBe('P1');

    // The timer tries an unlicensed collection again only every SYNC_UNLICENSED_RETRY_HOURS: no request now.
    h.emulator.resetStats();
    const service = h.service({ SYNC_SCHEDULE_RISK_DETECTIONS: '* * * * * *', SYNC_SCHEDULE_RISKY_USERS: '* * * * * *' });
    const host = await startLocalHost({ functions: buildFunctions(service.settings, fixedServices(service)), port: 0, log: quietLogger });
    try {
      await host.runTimer('sync');
      const health = await fetch(`${host.url}/api/health`);
      const body = (await health.json()) as { status: string; unlicensed: string[] };
      expect(health.status).toBe(200);
      expect(body.unlicensed).toEqual(['riskyUsers', 'riskyUserHistory']);
      const snapshot = (await (await fetch(`${host.url}/api/snapshot`)).json()) as {
        collections: Record<string, { access: string; dataShape: string | null }>;
      };
      expect(snapshot.collections.riskyUsers!.access).toBe('unlicensed');
      expect(snapshot.collections.riskDetections!.dataShape).toBe('P1');
    } finally {
      await host.close();
    }
    expect(h.emulator.requestLog().filter((r) => r.route === 'riskyUsers')).toHaveLength(0);
    expect((await state(h, 'riskyUsers')).lastRun?.outcome).toBe('unlicensed');
  }, 120_000);

  it('no licence at all: every collection is unlicensed, and health says nothing can be synced (503)', async () => {
    h = await startHarness({ emulator: { licence: 'none', unlicensedCode: 'NoLicense' } });
    h.emulator.upsert('riskDetections', detections.slice(0, 20));
    const run = await cliSync(h);
    expect(run.code).toBe(0);
    expect(run.summaries.map((s) => s.outcome)).toEqual(['unlicensed', 'unlicensed', 'unlicensed']);
    const service = h.service();
    const host = await startLocalHost({ functions: buildFunctions(service.settings, fixedServices(service)), port: 0, log: quietLogger });
    try {
      const health = await fetch(`${host.url}/api/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { unlicensed: string[] }).unlicensed).toEqual(['riskDetections', 'riskyUsers', 'riskyUserHistory']);
    } finally {
      await host.close();
    }
  });

  it('a missing permission: `forbidden`, naming the permission to grant; the other collection syncs; exit 0', async () => {
    h = await startHarness({ emulator: { permissions: ['IdentityRiskEvent.Read.All'] } });
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert('riskDetections', detections);
    const run = await cliSync(h);
    expect(run.code).toBe(0);
    const riskyUsers = run.summaries.find((s) => s.collection === 'riskyUsers')!;
    expect(riskyUsers).toMatchObject({ outcome: 'forbidden', requests: 1 });
    expect(run.summaries.find((s) => s.collection === 'riskyUserHistory')).toMatchObject({ outcome: 'forbidden', requests: 0 });
    expect(riskyUsers.action).toMatch(/IdentityRiskyUser\.Read\.All/);
    expect(run.summaries.find((s) => s.collection === 'riskDetections')!.outcome).toBe('succeeded');
    // Granted: the next manual run tries again at once and syncs.
    h.emulator.configure({ permissions: ['IdentityRiskEvent.Read.All', 'IdentityRiskyUser.Read.All'] });
    const again = await cliSync(h, ['--dataset', 'riskyUsers']);
    expect(again.summaries.map((s) => s.outcome)).toEqual(['succeeded', 'succeeded']);
    expect(await h.stored('riskyUsers')).toEqual(h.expected('riskyUsers'));
    expect((await state(h, 'riskyUsers')).access).toBeUndefined();
  });
});

describe('a first backfill always finishes', () => {
  let h: Harness;
  afterAll(() => h?.close());

  it('cut every few pages, every next link expired between runs: done in a bounded number of runs, exact', async () => {
    h = await startHarness();
    h.emulator.upsert(
      'riskDetections',
      generateRiskDetections(1500, { seed: 34, users: 50, from: new Date(now - 60 * 86_400_000), to: new Date(now - HOUR) }),
    );
    const service = h.service({ SYNC_CHECKPOINT_SECONDS: '0' });
    let runs = 0;
    for (; runs < 40; runs++) {
      h.emulator.expireSkipTokens(); // Graph forgot the next link the last run stopped at
      // A budget so small that a run reads one page and stops.
      const [summary] = await service.runAll(['riskDetections'], { trigger: 'test', timeBudgetMs: 1 }, quietLogger);
      expect(['succeeded', 'partial']).toContain(summary!.outcome);
      if (summary!.outcome === 'succeeded') break;
    }
    // 3 pages of 500 at one page a run: the first window halves until it fits in a run, the next ones follow.
    expect(runs).toBeLessThan(40);
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    const s = await state(h, 'riskDetections');
    expect(s.lastRun?.outcome).toBe('succeeded');
    expect(s.pass).toBeUndefined();
    expect(s.aggregates.total).toBe(1500);
  }, 300_000);
});
