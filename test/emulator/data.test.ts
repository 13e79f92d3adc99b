/** Data generators and the live activity. */
import * as domain from '../../src/domain/enums.js';
import {
  ACTIVITY,
  DETECTION_TIMING_TYPE,
  type GraphEmulator,
  RISK_DETAIL,
  RISK_EVENT_TYPE,
  RISK_EVENT_TYPES,
  RISK_LEVEL,
  RISK_STATE,
  TOKEN_ISSUER_TYPE,
  generateRiskDetections,
  generateRiskyUsers,
  lateOfflineDetections,
  rescoredLate,
  startActivity,
  startGraphEmulator,
} from '../../tools/emulator/index.js';
import { filterPath, graphGet, ids, sleep } from './helpers.js';

const FROM = new Date('2025-10-01T00:00:00Z');
const TO = new Date('2026-01-01T00:00:00Z');
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const AFTER_SENTINEL = RISK_DETAIL.slice(RISK_DETAIL.indexOf('unknownFutureValue') + 1) as readonly string[];

describe('generateRiskDetections', () => {
  const detections = generateRiskDetections(2000, { seed: 11, from: FROM, to: TO, users: 80 });

  it('is deterministic for a seed', () => {
    expect(generateRiskDetections(50, { seed: 11, from: FROM, to: TO, users: 80 })).toEqual(detections.slice(0, 50));
    expect(generateRiskDetections(50, { seed: 12, from: FROM, to: TO, users: 80 })).not.toEqual(detections.slice(0, 50));
  });

  it('has Graph-shaped ids, timestamps in order within the range, and enum values from the reference', () => {
    const problems: string[] = [];
    const check = (ok: boolean, what: string, d: { id: string }): void => {
      if (!ok) problems.push(`${d.id}: ${what}`);
    };
    const within = (t: string | null): boolean =>
      t !== null && TIMESTAMP.test(t) && t >= '2025-10-01T00:00:00.0000000Z' && t <= '2026-01-01T00:00:00.0000000Z';
    for (const d of detections) {
      check(/^[0-9a-f]{64}$/.test(d.id), 'id', d);
      check(within(d.activityDateTime) && within(d.detectedDateTime) && within(d.lastUpdatedDateTime), 'timestamp format/range', d);
      check(d.activityDateTime! <= d.detectedDateTime! && d.detectedDateTime! <= d.lastUpdatedDateTime!, 'timestamp order', d);
      check((RISK_LEVEL as readonly string[]).includes(d.riskLevel!), 'riskLevel', d);
      check((RISK_STATE as readonly string[]).includes(d.riskState!), 'riskState', d);
      check((RISK_DETAIL as readonly string[]).includes(d.riskDetail!), 'riskDetail', d);
      check((DETECTION_TIMING_TYPE as readonly string[]).includes(d.detectionTimingType!), 'detectionTimingType', d);
      check((ACTIVITY as readonly string[]).includes(d.activity!), 'activity', d);
      check((TOKEN_ISSUER_TYPE as readonly string[]).includes(d.tokenIssuerType!), 'tokenIssuerType', d);
      if (d.activity === 'signin') {
        check(GUID.test(d.requestId!) && GUID.test(d.correlationId!) && Boolean(d.ipAddress), 'sign-in ids and ip', d);
      }
      const info = JSON.parse(d.additionalInfo!) as { Key: string; Value: unknown }[];
      check(Array.isArray(info) && info.every((item) => Object.keys(item).join() === 'Key,Value'), 'additionalInfo', d);
      if (d.riskState === 'atRisk' && d.riskLevel !== 'hidden') check(d.riskDetail === 'none', 'atRisk detail', d);
    }
    expect(problems).toEqual([]);
    expect(new Set(detections.map((d) => d.id)).size).toBe(detections.length);
    expect(new Set(detections.map((d) => d.activityDateTime!.slice(20, 27))).size).toBeGreaterThan(1900); // sub-ms digits vary
  });

  it('has the variety a sync must cope with', () => {
    const some = (predicate: (d: (typeof detections)[number]) => boolean): boolean => detections.some(predicate);
    expect(some((d) => AFTER_SENTINEL.includes(d.riskDetail!))).toBe(true);
    expect(some((d) => d.tokenIssuerType === 'AzureADBackupAuth')).toBe(true);
    expect(some((d) => d.location === null)).toBe(true);
    expect(some((d) => d.location !== null && d.location.geoCoordinates === null)).toBe(true);
    expect(some((d) => typeof d.location?.geoCoordinates?.latitude === 'number')).toBe(true);
    expect(some((d) => d.userDisplayName!.includes("'"))).toBe(true);
    expect(some((d) => d.userPrincipalName!.includes("'"))).toBe(true);
    expect(some((d) => /[^\x00-\x7f]/.test(d.userDisplayName!))).toBe(true);
    expect(some((d) => /[^\x00-\x7f]/.test(d.userPrincipalName!))).toBe(true);
    expect(some((d) => d.userPrincipalName!.includes('#EXT#'))).toBe(true);
    expect(some((d) => d.ipAddress?.includes(':') === true)).toBe(true);
    expect(some((d) => d.riskLevel === 'hidden')).toBe(true);
    const types = new Set(detections.map((d) => d.riskEventType));
    for (const type of ['anonymizedIPAddress', 'unfamiliarFeatures', 'leakedCredentials', 'unlikelyTravel', 'maliciousIPAddress', 'passwordSpray']) {
      expect(types).toContain(type);
    }
    expect(new Set(detections.map((d) => d.detectionTimingType))).toEqual(new Set(['realtime', 'offline', 'nearRealtime']));
  });

  it('shares users with generateRiskyUsers of the same seed', () => {
    const users = generateRiskyUsers(80, { seed: 11, from: FROM, to: TO });
    const byId = new Map(users.map((u) => [u.id, u]));
    const mismatched = detections.filter((d) => {
      const user = byId.get(d.userId!);
      return !user || user.userDisplayName !== d.userDisplayName || user.userPrincipalName !== d.userPrincipalName;
    });
    expect(mismatched).toEqual([]);
    const chosen = generateRiskDetections(20, { seed: 3, from: FROM, to: TO, users: users.slice(0, 2) });
    expect(new Set(chosen.map((d) => d.userId))).toEqual(new Set(users.slice(0, 2).map((u) => u.id)));
  });
});

describe('enum values', () => {
  it('are the shared lists of src/domain/enums.ts, with the current riskDetail and riskEventType members', () => {
    expect(RISK_LEVEL).toBe(domain.RISK_LEVEL);
    expect(RISK_STATE).toBe(domain.RISK_STATE);
    expect(RISK_DETAIL).toBe(domain.RISK_DETAIL);
    expect(RISK_EVENT_TYPE).toBe(domain.RISK_EVENT_TYPE);
    for (const detail of ['microsoftRevokedSessions', 'adminConfirmedAccountSafe', 'adminDismissedRiskForSignIn', 'adminDismissedRiskForAgent']) {
      expect(AFTER_SENTINEL).toContain(detail);
    }
    for (const type of [
      'mcasImpossibleTravel',
      'riskyIPAddress',
      'attemptedPrtAccess',
      'suspiciousAPITraffic',
      'suspiciousSendingPatterns',
      'userReportedSuspiciousActivity',
      'nationStateIP',
      'unfamiliarFeatures',
      'anonymizedIPAddress',
      'leakedCredentials',
      'investigationsThreatIntelligence',
      'maliciousIPAddress',
      'passwordSpray',
      'impossibleTravel',
      'newCountry',
      'tokenIssuerAnomaly',
      'anomalousToken',
      'adminConfirmedUserCompromised',
    ]) {
      expect(RISK_EVENT_TYPE).toContain(type);
    }
    const catalogued = RISK_EVENT_TYPES.map((e) => e.type);
    expect(catalogued.filter((t) => !(RISK_EVENT_TYPE as readonly string[]).includes(t))).toEqual([]);
  });

  it('the generators use current values with realistic weights, never the agent or service principal ones', () => {
    const detections = generateRiskDetections(5000, { seed: 21, from: FROM, to: TO, users: 200 });
    const count = (pick: (d: (typeof detections)[number]) => string | null) => {
      const counts = new Map<string, number>();
      for (const d of detections) counts.set(pick(d)!, (counts.get(pick(d)!) ?? 0) + 1);
      return counts;
    };
    const types = count((d) => d.riskEventType);
    for (const type of ['mcasImpossibleTravel', 'riskyIPAddress', 'nationStateIP', 'suspiciousAPITraffic', 'attemptedPrtAccess'])
      expect(types.get(type)).toBeGreaterThan(0);
    expect(types.get('unfamiliarFeatures')!).toBeGreaterThan(types.get('unlikelyTravel')!);
    expect(types.get('unlikelyTravel')!).toBeGreaterThan(types.get('nationStateIP')!);
    const details = count((d) => d.riskDetail);
    for (const detail of ['microsoftRevokedSessions', 'adminDismissedRiskForSignIn', 'adminConfirmedAccountSafe', 'userChangedPasswordOnPremises']) {
      expect(details.get(detail)).toBeGreaterThan(0);
    }
    expect(details.get('userPerformedSecuredPasswordReset')!).toBeGreaterThan(details.get('adminGeneratedTemporaryPassword')!);
    expect([...details.keys()].filter((d) => /Agent|ServicePrincipal/.test(d))).toEqual([]);
  });
});

describe('late offline detections', () => {
  let emulator: GraphEmulator;
  const users = generateRiskyUsers(5, { seed: 8, from: FROM, to: TO });
  beforeAll(async () => {
    emulator = await startGraphEmulator({ throttling: false });
  });
  afterAll(() => emulator.close());
  beforeEach(() => emulator.clear());

  it('surface now with a lastUpdatedDateTime 40 hours ago: outside a 30-minute lookback, inside a 48-hour one', async () => {
    const now = Date.now();
    const [late] = lateOfflineDetections(1, { seed: 1, users, lateByMs: 40 * 3600_000 });
    expect(late).toMatchObject({ detectionTimingType: 'offline', riskState: 'atRisk', riskDetail: 'none' });
    expect(users.map((u) => u.id)).toContain(late!.userId);
    const lastUpdated = Date.parse(late!.lastUpdatedDateTime!);
    expect(Math.abs(now - 40 * 3600_000 - lastUpdated)).toBeLessThan(60_000);
    expect(late!.detectedDateTime).toBe(late!.lastUpdatedDateTime);
    expect(late!.activityDateTime! < late!.detectedDateTime!).toBe(true);

    emulator.upsert('riskDetections', late!);
    const since = (ms: number) => filterPath('riskDetections', `lastUpdatedDateTime ge ${new Date(now - ms).toISOString()}`);
    expect(ids(await graphGet(emulator, since(30 * 60_000)))).toEqual([]);
    expect(ids(await graphGet(emulator, since(48 * 3600_000)))).toEqual([late!.id]);
  });

  it('can surface later, 40 hours after their lastUpdatedDateTime by then', async () => {
    const visibleAfterMs = 1500;
    const surfacesAt = new Date(Date.now() + visibleAfterMs);
    const detections = lateOfflineDetections(20, { seed: 2, users, lateByMs: [30 * 60_000, 48 * 3600_000], surfacesAt });
    const lateness = detections.map((d) => surfacesAt.getTime() - Date.parse(d.lastUpdatedDateTime!));
    expect(Math.min(...lateness)).toBeGreaterThanOrEqual(30 * 60_000 - 1);
    expect(Math.max(...lateness)).toBeLessThanOrEqual(48 * 3600_000 + 1);
    expect(new Set(detections.map((d) => d.riskEventType)).size).toBeGreaterThan(3);
    for (const d of detections) expect(RISK_EVENT_TYPES.some((e) => e.type === d.riskEventType && e.timing.includes('offline'))).toBe(true);
    emulator.upsert('riskDetections', detections, { visibleAfterMs });
    expect(emulator.list('riskDetections', { visibleOnly: true })).toEqual([]);
    await eventually(async () => (await graphGet(emulator, '/v1.0/identityProtection/riskDetections?$top=50')).body.value.length === 20);
  });

  it('are re-scored later with a lastUpdatedDateTime still far behind the moment it surfaces', () => {
    const [late] = lateOfflineDetections(1, { seed: 3, users, lateByMs: 47 * 3600_000 });
    const rescored = rescoredLate(late!, { seed: 1, lateByMs: 20 * 3600_000 });
    expect(rescored.id).toBe(late!.id);
    expect(rescored.riskLevel).not.toBe(late!.riskLevel);
    expect(rescored.lastUpdatedDateTime! > late!.lastUpdatedDateTime!).toBe(true);
    expect(Date.now() - Date.parse(rescored.lastUpdatedDateTime!)).toBeGreaterThan(19 * 3600_000);
    const again = rescoredLate(rescored, { lateByMs: 30 * 3600_000 }); // never before the version it replaces
    expect(again.lastUpdatedDateTime! > rescored.lastUpdatedDateTime!).toBe(true);
  });

  it('can be added from another process', async () => {
    emulator.upsert('riskyUsers', users);
    const post = (body: unknown) => fetch(`${emulator.graphUrl}/_emulator/late-offline`, { method: 'POST', body: JSON.stringify(body) });
    const response = await post({ lateByHours: 40, count: 3, userIds: [users[0]!.id] });
    expect(response.status).toBe(200);
    const { ids: added } = (await response.json()) as { ids: string[] };
    expect(added).toHaveLength(3);
    for (const id of added) {
      const d = emulator.get('riskDetections', id, { visibleOnly: true })!;
      expect(d.userId).toBe(users[0]!.id);
      expect(Math.abs(Date.now() - 40 * 3600_000 - Date.parse(d.lastUpdatedDateTime!))).toBeLessThan(60_000);
    }
    expect((await post({ lateByHours: -1 })).status).toBe(400);
    expect((await post({ lateByHours: 1, userIds: ['nobody'] })).status).toBe(400);
    emulator.clear();
    expect((await post({ lateByHours: 1 })).status).toBe(409);
  });
});

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(25);
  }
}

describe('generateRiskyUsers', () => {
  const users = generateRiskyUsers(500, { seed: 5, from: FROM, to: TO });

  it('is deterministic and Graph-shaped', () => {
    expect(generateRiskyUsers(500, { seed: 5, from: FROM, to: TO })).toEqual(users);
    expect(new Set(users.map((u) => u.userPrincipalName)).size).toBe(500);
    const keys = 'id,isDeleted,isProcessing,riskDetail,riskLastUpdatedDateTime,riskLevel,riskState,userDisplayName,userPrincipalName';
    const bad = users.filter(
      (u) =>
        Object.keys(u).sort().join() !== keys ||
        !GUID.test(u.id) ||
        typeof u.isDeleted !== 'boolean' ||
        typeof u.isProcessing !== 'boolean' ||
        !TIMESTAMP.test(u.riskLastUpdatedDateTime!) ||
        ((u.riskState === 'remediated' || u.riskState === 'dismissed') && u.riskLevel !== 'none'),
    );
    expect(bad).toEqual([]);
    expect(users.map((u) => u.userDisplayName).slice(0, 4)).toEqual(["Dónal O'Brien", 'José Müller', 'Zoë Faßbender', '李雷']);
    expect(users.some((u) => u.isDeleted)).toBe(true);
  });
});

describe('startActivity', () => {
  let emulator: GraphEmulator;
  beforeAll(async () => {
    emulator = await startGraphEmulator({ throttling: false });
  });
  afterAll(() => emulator.close());

  it('keeps the tenant changing: new detections (some late), users at risk, closures, fresh timestamps', async () => {
    const start = new Date();
    const users = generateRiskyUsers(20, { seed: 1, from: FROM, to: TO }).map((u) => ({
      ...u,
      riskState: 'atRisk',
      riskDetail: 'none',
      riskLevel: 'medium',
    }));
    emulator.upsert('riskyUsers', users);
    emulator.upsert('riskDetections', generateRiskDetections(40, { seed: 1, from: FROM, to: TO, users }));
    const activity = startActivity(emulator, {
      seed: 3,
      intervalMs: 10,
      lateProbability: 0.5,
      maxLateVisibilityMs: 5_000,
      userClosureProbability: 1,
      detectionClosureProbability: 1,
    });
    await sleep(150);
    activity.stop();

    const detections = emulator.list('riskDetections');
    const visible = emulator.list('riskDetections', { visibleOnly: true });
    expect(detections.length).toBeGreaterThan(45);
    expect(visible.length).toBeLessThan(detections.length); // some surface late
    const startStamp = start.toISOString().replace('Z', '0000Z');
    const fresh = detections.filter((d) => d.lastUpdatedDateTime! >= startStamp);
    expect(fresh.some((d) => d.riskState === 'dismissed' || d.riskState === 'confirmedSafe' || d.riskState === 'remediated')).toBe(true);
    const late = detections.filter((d) => !visible.some((v) => v.id === d.id));
    expect(late.every((d) => d.lastUpdatedDateTime! < startStamp)).toBe(true); // older than "now", yet not visible
    const closedUsers = emulator.list('riskyUsers').filter((u) => u.riskLastUpdatedDateTime! >= startStamp && u.riskState !== 'atRisk');
    expect(closedUsers.length).toBeGreaterThan(0);
    for (const u of closedUsers) expect(u.riskLevel).toBe('none');

    const count = emulator.list('riskDetections').length;
    await sleep(40);
    expect(emulator.list('riskDetections').length).toBe(count); // stopped
  });

  it('with the options: offline detections surfacing hours late, late re-scoring, and a history for every change', async () => {
    emulator.clear();
    const start = Date.now();
    const users = generateRiskyUsers(10, { seed: 2, from: FROM, to: TO }).map((u) => ({
      ...u,
      riskState: 'atRisk',
      riskDetail: 'none',
      riskLevel: 'low',
    }));
    emulator.upsert('riskyUsers', users);
    const initial = generateRiskDetections(40, { seed: 2, from: FROM, to: TO, users }).map((d) => ({
      ...d,
      riskState: 'atRisk',
      detectionTimingType: 'offline',
    }));
    emulator.upsert('riskDetections', initial);
    const initialIds = new Set(initial.map((d) => d.id));
    const activity = startActivity(emulator, {
      seed: 5,
      intervalMs: 20,
      lateProbability: 0,
      lateOfflineProbability: 1,
      lateOfflineTimeScale: 1 / 360_000, // 48 h late -> visible after 0.48 s
      rescoreProbability: 1,
      userClosureProbability: 0.5,
      detectionClosureProbability: 0,
    });
    const recent = (d: { lastUpdatedDateTime: string | null }) => Date.parse(d.lastUpdatedDateTime!) > start - 48 * 3600_000 - 60_000;
    const old = (d: { lastUpdatedDateTime: string | null }) => Date.parse(d.lastUpdatedDateTime!) < start - 30 * 60_000;
    try {
      await eventually(() => {
        const visible = emulator.list('riskDetections', { visibleOnly: true });
        const surfacedLate = visible.filter((d) => !initialIds.has(d.id) && d.detectionTimingType === 'offline' && recent(d) && old(d));
        const rescored = visible.filter((d) => initialIds.has(d.id) && recent(d) && old(d));
        const histories = users.map((u) => emulator.history(u.id, { visibleOnly: true }) ?? []);
        const raisedByDetection = histories.some((h) => h.some((i) => i.riskState === 'atRisk' && i.activity.riskEventTypes.length === 1));
        const closedBySomeone = histories.some((h) => h[0]!.riskState !== 'atRisk' && h.length > 1);
        return surfacedLate.length > 0 && rescored.length > 0 && raisedByDetection && closedBySomeone;
      });
    } finally {
      activity.stop();
    }
  });
});
