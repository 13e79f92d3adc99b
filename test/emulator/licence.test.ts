/** Licences and permissions: the 403s of unlicensed tenants and missing permissions, and the P1 data shape. */
import { type GraphEmulator, type RiskDetection, isPremiumDetection, startGraphEmulator } from '../../tools/emulator/index.js';
import { PREFER_UNKNOWN, expectGraphError, filterPath, graphGet, ids, json } from './helpers.js';

const DETECTIONS = '/v1.0/identityProtection/riskDetections';
const USERS = '/v1.0/identityProtection/riskyUsers';

let emulator: GraphEmulator;

beforeAll(async () => {
  emulator = await startGraphEmulator({ throttling: false, seed: 5 });
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.clear();
  emulator.configure({
    licence: 'P2',
    unlicensedCode: 'Authentication_RequestFromNonPremiumTenantOrB2CTenant',
    permissions: ['IdentityRiskEvent.Read.All', 'IdentityRiskyUser.Read.All'],
  });
  emulator.setThrottling({ enabled: false });
  emulator.resetStats();
  emulator.upsert('riskyUsers', { id: 'u1', riskLevel: 'high', riskState: 'atRisk', riskDetail: 'none' });
  emulator.upsert('riskDetections', [
    detection('premium', 'unfamiliarFeatures', { riskLevel: 'high', riskDetail: 'none' }),
    detection('free', 'anonymizedIPAddress', { riskLevel: 'medium', riskState: 'dismissed', riskDetail: 'adminDismissedAllRiskForUser' }),
    detection('leaked', 'leakedCredentials', { riskLevel: 'high', riskDetail: 'none' }),
    detection('travel', 'mcasImpossibleTravel', { riskLevel: 'low', riskState: 'remediated', riskDetail: 'userPerformedSecuredPasswordReset' }),
  ]);
});

function detection(id: string, riskEventType: string, fields: Partial<RiskDetection> = {}): Partial<RiskDetection> & { id: string } {
  return { id, riskEventType, riskState: 'atRisk', lastUpdatedDateTime: '2026-01-01T00:00:00Z', userId: 'u1', ...fields };
}

const byId = (response: { body: { value: RiskDetection[] } }): Record<string, RiskDetection> =>
  Object.fromEntries(response.body.value.map((r) => [r.id, r]));

describe('licence', () => {
  it('P2 (the default) serves everything as it is', async () => {
    expect(emulator.settings.licence).toBe('P2');
    const served = byId(await graphGet(emulator, DETECTIONS));
    expect(served.premium).toMatchObject({ riskEventType: 'unfamiliarFeatures', riskLevel: 'high', riskDetail: 'none' });
    expect((await graphGet(emulator, USERS)).status).toBe(200);
    expect((await graphGet(emulator, `${USERS}/u1/history`)).status).toBe(200);
  });

  it('without P2, riskyUsers, a risky user and its history answer 403 with the code seen in the wild', async () => {
    emulator.configure({ licence: 'P1' });
    for (const path of [USERS, `${USERS}/u1`, `${USERS}/u1/history`, `${USERS}/u1/history/u1`]) {
      const response = await graphGet(emulator, path);
      expect(expectGraphError(response, 403, 'Authentication_RequestFromNonPremiumTenantOrB2CTenant')).toBe(
        'Your tenant is not licensed for this feature.',
      );
    }
    emulator.configure({ unlicensedCode: 'NoLicense' });
    expect(expectGraphError(await graphGet(emulator, USERS), 403, 'NoLicense')).toBe('Tenant does not meet license requirement!');
    expect((await graphGet(emulator, DETECTIONS)).status).toBe(200);
    expect(emulator.stats().unlicensed).toBe(5);
  });

  it('P1 serves premium detections as generic, with riskLevel and riskDetail hidden, and filters on that shape', async () => {
    emulator.configure({ licence: 'P1' });
    const served = byId(await graphGet(emulator, DETECTIONS, { headers: PREFER_UNKNOWN }));
    expect(served.premium).toMatchObject({ riskEventType: 'generic', riskLevel: 'hidden', riskDetail: 'hidden', riskState: 'atRisk' });
    expect(served.travel).toMatchObject({ riskEventType: 'generic', riskLevel: 'hidden', riskDetail: 'hidden', riskState: 'remediated' });
    expect(served.free).toMatchObject({ riskEventType: 'anonymizedIPAddress', riskLevel: 'medium', riskDetail: 'adminDismissedAllRiskForUser' });
    expect(served.leaked).toMatchObject({ riskEventType: 'leakedCredentials', riskLevel: 'high' });
    expect((await graphGet(emulator, `${DETECTIONS}/premium`)).body.riskEventType).toBe('generic');

    expect(ids(await graphGet(emulator, filterPath('riskDetections', "riskEventType eq 'unfamiliarFeatures'")))).toEqual([]);
    expect(ids(await graphGet(emulator, filterPath('riskDetections', "riskEventType eq 'generic'"))).sort()).toEqual(['premium', 'travel']);
    expect(ids(await graphGet(emulator, filterPath('riskDetections', "riskLevel eq 'hidden'"))).sort()).toEqual(['premium', 'travel']);

    // The data stays as upserted (read-modify-write keeps working); asServed gives the tenant's view.
    expect(emulator.get('riskDetections', 'premium')!.riskEventType).toBe('unfamiliarFeatures');
    expect(emulator.get('riskDetections', 'premium', { asServed: true })!.riskEventType).toBe('generic');
    expect(emulator.list('riskDetections', { asServed: true }).filter((d) => d.riskEventType === 'generic')).toHaveLength(2);

    emulator.configure({ licence: 'P2' });
    expect(byId(await graphGet(emulator, DETECTIONS)).premium!.riskEventType).toBe('unfamiliarFeatures');
  });

  it('with no licence, riskDetections answer 403 too', async () => {
    emulator.configure({ licence: 'none' });
    expectGraphError(await graphGet(emulator, DETECTIONS), 403, 'Authentication_RequestFromNonPremiumTenantOrB2CTenant');
    expectGraphError(await graphGet(emulator, `${DETECTIONS}/free`), 403, 'Authentication_RequestFromNonPremiumTenantOrB2CTenant');
    expectGraphError(await graphGet(emulator, USERS), 403, 'Authentication_RequestFromNonPremiumTenantOrB2CTenant');
  });

  it('a 403 consumes the tenant budget like any answered request', async () => {
    emulator.configure({ licence: 'P1' });
    emulator.setThrottling({ enabled: true, rps: 0.01 }); // one request per 100 s: nothing here depends on speed
    expect((await graphGet(emulator, USERS)).status).toBe(403);
    expect((await graphGet(emulator, DETECTIONS)).status).toBe(429); // the 403 used the budget
    expect(emulator.stats()).toMatchObject({ accepted: 1, throttled: 1, unlicensed: 1 });
  });

  it('classes detection types as the Entra tables do (unknown, newer types count as premium)', () => {
    for (const type of [
      'unfamiliarFeatures',
      'unlikelyTravel',
      'mcasImpossibleTravel',
      'nationStateIP',
      'attemptedPrtAccess',
      'suspiciousAPITraffic',
    ]) {
      expect(isPremiumDetection(type)).toBe(true);
    }
    for (const type of ['anonymizedIPAddress', 'leakedCredentials', 'investigationsThreatIntelligence', 'adminConfirmedUserCompromised', 'generic']) {
      expect(isPremiumDetection(type)).toBe(false);
    }
    expect(isPremiumDetection('someDetectionFrom2030')).toBe(true);
  });
});

describe('permissions', () => {
  it('a collection whose permission the token lacks answers 403 Authorization_RequestDenied', async () => {
    emulator.configure({ permissions: ['IdentityRiskEvent.Read.All'] });
    expect(expectGraphError(await graphGet(emulator, USERS), 403, 'Authorization_RequestDenied')).toBe(
      'Insufficient privileges to complete the operation.',
    );
    expectGraphError(await graphGet(emulator, `${USERS}/u1/history`), 403, 'Authorization_RequestDenied');
    expect((await graphGet(emulator, DETECTIONS)).status).toBe(200);

    emulator.configure({ permissions: ['identityriskyuser.read.all'] }); // names compare case-insensitively
    expectGraphError(await graphGet(emulator, DETECTIONS), 403, 'Authorization_RequestDenied');
    expect((await graphGet(emulator, USERS)).status).toBe(200);

    emulator.configure({ permissions: [] });
    expectGraphError(await graphGet(emulator, DETECTIONS), 403, 'Authorization_RequestDenied');
    expect(emulator.stats().forbidden).toBe(4);
  });

  it('is checked before the licence: an unlicensed tenant without the permission hears about the permission', async () => {
    emulator.configure({ permissions: [], licence: 'none' });
    expectGraphError(await graphGet(emulator, USERS), 403, 'Authorization_RequestDenied');
  });

  it('401 comes first: a request without a valid token never reaches the permission check', async () => {
    emulator.configure({ permissions: [] });
    expectGraphError(await graphGet(emulator, USERS, { token: null }), 401, 'InvalidAuthenticationToken');
  });
});

describe('switches', () => {
  it('refuse bad values with a message naming them, and change nothing then', () => {
    expect(() => emulator.configure({ licence: 'E5' as never })).toThrow(/licence must be 'P2', 'P1' or 'none', got "E5"/);
    expect(() => emulator.configure({ unlicensedCode: 'Nope' as never })).toThrow(/unlicensedCode must be/);
    expect(() => emulator.configure({ permissions: 'IdentityRiskEvent.Read.All' as never })).toThrow(/permissions must be a list/);
    expect(() => emulator.configure({ licence: 'P1', permissions: [''] })).toThrow(/permissions/);
    expect(emulator.settings.licence).toBe('P2');
  });

  it('are set at start and over the admin route', async () => {
    const other = await startGraphEmulator({ throttling: false, licence: 'none', unlicensedCode: 'NoLicense', permissions: [] });
    try {
      expect(other.settings).toMatchObject({ licence: 'none', unlicensedCode: 'NoLicense', permissions: [] });
    } finally {
      await other.close();
    }
    const post = (body: unknown) => fetch(`${emulator.graphUrl}/_emulator/settings`, { method: 'POST', body: JSON.stringify(body) });
    expect(await json(post({ licence: 'P1', unlicensedCode: 'NoLicense' }))).toMatchObject({ licence: 'P1', unlicensedCode: 'NoLicense' });
    expectGraphError(await graphGet(emulator, USERS), 403, 'NoLicense');
    expect((await post({ licence: 'P3' })).status).toBe(400);
    expect((await post({ licenses: 'P1' })).status).toBe(400); // unknown switch
    expect(await json(fetch(`${emulator.graphUrl}/_emulator/settings`))).toMatchObject({ licence: 'P1' });
  });
});
