/** Data generators and the live activity. */
import {
  ACTIVITY,
  DETECTION_TIMING_TYPE,
  type GraphEmulator,
  RISK_DETAIL,
  RISK_LEVEL,
  RISK_STATE,
  TOKEN_ISSUER_TYPE,
  generateRiskDetections,
  generateRiskyUsers,
  startActivity,
  startGraphEmulator,
} from '../../tools/emulator/index.js';
import { sleep } from './helpers.js';

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
});
