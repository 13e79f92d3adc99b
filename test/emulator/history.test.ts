/** /identityProtection/riskyUsers/{id}/history: kept per change of a risky user, served as Graph serves it. */
import {
  ADMIN_IDS,
  type GraphEmulator,
  type RiskyUser,
  type RiskyUserHistoryItem,
  generateRiskDetections,
  generateRiskyUsers,
  riskyUserTimeline,
  seedRiskyUsers,
  startGraphEmulator,
} from '../../tools/emulator/index.js';
import { PREFER_UNKNOWN, expectGraphError, filterPath, getAllPages, graphGet, ids, json } from './helpers.js';

const USERS = '/v1.0/identityProtection/riskyUsers';
const FROM = new Date('2026-01-01T00:00:00Z');
const TO = new Date('2026-03-01T00:00:00Z');
const ADMIN = '68ca8ec0-11f8-456b-a785-70d9936650d5';
const ID = '41a31b00-3b3b-42d9-8f1c-6d4f14e74c69';

let emulator: GraphEmulator;

beforeAll(async () => {
  emulator = await startGraphEmulator({ throttling: false, seed: 3 });
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.clear();
  emulator.configure({ historyOnlyCurrent: false, licence: 'P2' });
  emulator.setThrottling({ enabled: false });
});

const user = (fields: Partial<RiskyUser>): RiskyUser => ({
  id: ID,
  isDeleted: false,
  isProcessing: false,
  riskLastUpdatedDateTime: '2019-04-05T22:31:27Z',
  riskLevel: 'high',
  riskState: 'atRisk',
  riskDetail: 'none',
  userDisplayName: 'Allan Deyoung',
  userPrincipalName: 'AllanD@contoso.com',
  ...fields,
});

/** The Graph reference's sample: at risk after an anonymous IP sign-in, remediated by a secure password reset, twice. */
function allanDeyoung(): void {
  emulator.upsert('riskyUsers', user({}), { history: { riskEventTypes: ['anonymizedIPAddress'] } });
  const reset = { riskLevel: 'none', riskState: 'remediated', riskDetail: 'userPerformedSecuredPasswordReset' };
  emulator.upsert('riskyUsers', user({ ...reset, riskLastUpdatedDateTime: '2019-04-05T23:00:14.0973557Z' }), { history: { initiatedBy: ADMIN } });
  emulator.upsert('riskyUsers', user({ ...reset, riskLastUpdatedDateTime: '2019-05-03T03:50:34.9565578Z' }), { history: { initiatedBy: ADMIN } });
}

describe('history items', () => {
  it('are Graph-shaped: current first with the user id, older ones from the oldest with the user id and .NET ticks', async () => {
    allanDeyoung();
    const response = await graphGet(emulator, `${USERS}/${ID}/history`);
    expect(response.status).toBe(200);
    expect(response.body['@odata.context']).toBe(`${emulator.graphUrl}/v1.0/$metadata#identityProtection/riskyUsers('${ID}')/history`);
    expect(response.body).not.toHaveProperty('@odata.nextLink');
    const [current, first, second] = response.body.value as RiskyUserHistoryItem[];
    expect(current).toEqual({
      id: ID,
      isDeleted: false,
      isProcessing: false,
      riskLastUpdatedDateTime: '2019-05-03T03:50:34.9565578Z',
      riskLevel: 'none',
      riskState: 'remediated',
      riskDetail: 'userPerformedSecuredPasswordReset',
      userDisplayName: 'Allan Deyoung',
      userPrincipalName: 'AllanD@contoso.com',
      userId: ID,
      initiatedBy: ADMIN,
      activity: { riskEventTypes: [], detail: 'userPerformedSecuredPasswordReset' },
    });
    expect(first).toMatchObject({
      id: `${ID}636901002870000000`,
      riskLastUpdatedDateTime: '2019-04-05T22:31:27Z',
      riskState: 'atRisk',
      riskLevel: 'high',
      initiatedBy: null,
      activity: { riskEventTypes: ['anonymizedIPAddress'], detail: null },
    });
    // The id of the reference's third sample item, from its riskLastUpdatedDateTime.
    expect(second).toMatchObject({ id: `${ID}636901020140973557`, riskState: 'remediated', initiatedBy: ADMIN });
    expect(emulator.history(ID)!.map((i) => i.id)).toEqual([ID, first!.id, second!.id]);
  });

  it('are appended when the risk changes, not for other upserts; a note forces one, false suppresses it', () => {
    emulator.upsert('riskyUsers', user({ riskLevel: 'medium' }));
    emulator.upsert('riskyUsers', user({ riskLevel: 'medium', userDisplayName: 'Allan D.' })); // no risk change
    expect(emulator.history(ID)).toHaveLength(1);
    emulator.upsert('riskyUsers', user({ riskLevel: 'high', riskLastUpdatedDateTime: '2019-04-06T00:00:00Z' }));
    emulator.upsert('riskyUsers', user({ riskLevel: 'high', riskLastUpdatedDateTime: '2019-04-07T00:00:00Z' }), {
      history: { riskEventTypes: ['leakedCredentials'] }, // a new detection at the same level
    });
    emulator.upsert('riskyUsers', user({ riskLevel: 'low', riskLastUpdatedDateTime: '2019-04-08T00:00:00Z' }), { history: false });
    const items = emulator.history(ID)!;
    expect(items.map((i) => i.riskLevel)).toEqual(['high', 'medium', 'high']);
    expect(items[0]!.activity.riskEventTypes).toEqual(['leakedCredentials']);
    // The default activity: no event types, the riskDetail as detail (null for none).
    expect(items[1]!.activity).toEqual({ riskEventTypes: [], detail: null });
    expect(() => emulator.upsert('riskDetections', { id: 'd' }, { history: false })).toThrow(/riskyUsers only/);
  });

  it('one item can be read by its id; unknown items and users answer 404', async () => {
    allanDeyoung();
    const older = emulator.history(ID)![1]!.id;
    const item = await graphGet(emulator, `${USERS}/${ID}/history/${older}`);
    expect(item.body).toMatchObject({ id: older, riskState: 'atRisk' });
    expect(item.body['@odata.context']).toMatch(/riskyUsers\('41a31b00-3b3b-42d9-8f1c-6d4f14e74c69'\)\/history\/\$entity$/);
    expect((await graphGet(emulator, `${USERS}/${ID}/history/${ID}`)).body.riskState).toBe('remediated');
    expectGraphError(await graphGet(emulator, `${USERS}/${ID}/history/${ID}1`), 404, 'ResourceNotFound');
    expectGraphError(await graphGet(emulator, `${USERS}/nobody/history`), 404, 'ResourceNotFound');
    expectGraphError(await graphGet(emulator, `${USERS}/nobody/history/x`), 404, 'ResourceNotFound');
    expectGraphError(await graphGet(emulator, `${USERS}/${ID}/history/a/b`), 404, 'NotFound');
    expect(emulator.history('nobody')).toBeUndefined();
  });

  it('page with $top and next links, filter and select like the collections', async () => {
    const versions = Array.from({ length: 7 }, (_, i) =>
      user({ riskLevel: i % 2 ? 'low' : 'high', riskLastUpdatedDateTime: `2026-01-0${i + 1}T00:00:00Z` }),
    );
    for (const version of versions) emulator.upsert('riskyUsers', version);
    const pages = await getAllPages(emulator, `${USERS}/${ID}/history?$top=3`);
    expect(pages.map((p) => p.body.value.length)).toEqual([3, 3, 1]);
    const link = new URL(pages[0]!.body['@odata.nextLink']);
    expect(link.pathname).toBe(`${USERS}/${ID}/history`);
    expect(pages.flatMap(ids)).toEqual(emulator.history(ID)!.map((i) => i.id));

    const filtered = await graphGet(
      emulator,
      filterPath(`riskyUsers/${ID}/history`, "riskLevel eq 'low' and riskLastUpdatedDateTime ge 2026-01-03T00:00:00Z"),
    );
    expect((filtered.body.value as RiskyUserHistoryItem[]).map((i) => i.riskLastUpdatedDateTime)).toEqual([
      '2026-01-04T00:00:00Z',
      '2026-01-06T00:00:00Z',
    ]);
    const selected = await graphGet(emulator, `${USERS}/${ID}/history?$select=riskLevel,initiatedBy&$top=1`);
    expect(Object.keys(selected.body.value[0])).toEqual(['id', 'riskLevel', 'initiatedBy']);
    expectGraphError(await graphGet(emulator, `${USERS}/${ID}/history?$top=501`), 400, 'BadRequest');
    expect(expectGraphError(await graphGet(emulator, filterPath(`riskyUsers/${ID}/history`, "nope eq 'x'")), 400, 'BadRequest')).toMatch(
      /riskyUserHistoryItem/,
    );
    // A skip token of one user's history is not one of another's.
    emulator.upsert('riskyUsers', { ...versions[0]!, id: 'other' });
    const foreign = pages[0]!.body['@odata.nextLink'].replace(`/riskyUsers/${ID}/`, '/riskyUsers/other/');
    expect(expectGraphError(await graphGet(emulator, foreign), 400, 'BadRequest')).toMatch(/\$skiptoken/);
  });

  it('hide newer riskDetail members in riskDetail and activity.detail unless asked, and add eventTypes on beta', async () => {
    emulator.upsert('riskyUsers', user({ riskState: 'confirmedSafe', riskLevel: 'none', riskDetail: 'adminConfirmedAccountSafe' }), {
      history: { initiatedBy: ADMIN },
    });
    const plain = (await graphGet(emulator, `${USERS}/${ID}/history`)).body.value[0];
    expect(plain.riskDetail).toBe('unknownFutureValue');
    expect(plain.activity.detail).toBe('unknownFutureValue');
    const opted = (await graphGet(emulator, `${USERS}/${ID}/history`, { headers: PREFER_UNKNOWN })).body.value[0];
    expect(opted.activity).toEqual({ riskEventTypes: [], detail: 'adminConfirmedAccountSafe' });
    const beta = (await graphGet(emulator, `/beta/identityProtection/riskyUsers/${ID}/history`, { headers: PREFER_UNKNOWN })).body.value[0];
    expect(beta.activity).toEqual({ eventTypes: [], riskEventTypes: [], detail: 'adminConfirmedAccountSafe' });
  });

  it('switch historyOnlyCurrent (microsoftgraph/microsoft-graph-docs#16407): only the current item is returned', async () => {
    allanDeyoung();
    emulator.configure({ historyOnlyCurrent: true });
    const response = await graphGet(emulator, `${USERS}/${ID}/history`);
    expect(ids(response)).toEqual([ID]);
    const single = (await graphGet(emulator, `${USERS}/${ID}`)).body;
    const { '@odata.context': _context, ...riskyUser } = single;
    expect(response.body.value[0]).toMatchObject(riskyUser); // the same information as the riskyUser itself
    expect(emulator.history(ID)!.map((i) => i.id)).toEqual([ID]);
    await fetch(`${emulator.graphUrl}/_emulator/settings`, { method: 'POST', body: JSON.stringify({ historyOnlyCurrent: false }) });
    expect(ids(await graphGet(emulator, `${USERS}/${ID}/history`))).toHaveLength(3);
  });

  it('surface with the version that made them: a late change shows in the history once it is visible', async () => {
    emulator.upsert('riskyUsers', user({}));
    emulator.upsert('riskyUsers', user({ riskState: 'dismissed', riskLevel: 'none', riskDetail: 'adminDismissedAllRiskForUser' }), {
      visibleAfterMs: 60_000,
    });
    expect(ids(await graphGet(emulator, `${USERS}/${ID}/history`))).toEqual([ID]);
    expect(emulator.history(ID, { visibleOnly: true })!.map((i) => i.riskState)).toEqual(['atRisk']);
    expect(emulator.history(ID)!.map((i) => i.riskState)).toEqual(['dismissed', 'atRisk']);
  });

  it('go with the user: removed and cleared together', async () => {
    allanDeyoung();
    emulator.remove('riskyUsers', ID);
    expectGraphError(await graphGet(emulator, `${USERS}/${ID}/history`), 404, 'ResourceNotFound');
    emulator.upsert('riskyUsers', user({}));
    expect(emulator.history(ID)).toHaveLength(1);
  });

  it('draw on the tenant budget and honour faults aimed at them', async () => {
    allanDeyoung();
    emulator.setThrottling({ enabled: true, rps: 0.01 });
    expect((await graphGet(emulator, USERS)).status).toBe(200);
    expect((await graphGet(emulator, `${USERS}/${ID}/history`)).status).toBe(429);
    emulator.setThrottling({ enabled: false });
    emulator.faults.add({ kind: 'status', status: 503, collection: 'riskyUsers/history', count: 1 });
    expect((await graphGet(emulator, USERS)).status).toBe(200);
    expect((await graphGet(emulator, `${USERS}/${ID}/history`)).status).toBe(503);
    expect(emulator.stats().requests['riskyUsers/history']).toMatchObject({ '429': 1, '503': 1 });
  });

  it('are reachable over the admin routes', async () => {
    const post = (path: string, body: unknown) => fetch(`${emulator.graphUrl}/_emulator/${path}`, { method: 'POST', body: JSON.stringify(body) });
    expect((await post('data/riskyUsers', { records: user({}), history: { riskEventTypes: ['passwordSpray'] } })).status).toBe(200);
    expect((await post('data/riskyUsers', { records: user({ riskLevel: 'low' }), history: { bogus: 1 } })).status).toBe(400);
    const items = await json(fetch(`${emulator.graphUrl}/_emulator/history/${ID}`));
    expect(items).toEqual(emulator.history(ID));
    expect(items[0].activity.riskEventTypes).toEqual(['passwordSpray']);
    expect((await fetch(`${emulator.graphUrl}/_emulator/history/nobody`)).status).toBe(404);
  });
});

describe('generated histories', () => {
  const users = generateRiskyUsers(300, { seed: 4, from: FROM, to: TO });
  const detections = generateRiskDetections(900, { seed: 4, from: FROM, to: TO, users });

  it('end in the user as it is, rise with detections, and close by the user or an admin', () => {
    const problems: string[] = [];
    for (const u of users) {
      const timeline = riskyUserTimeline(u, { seed: 4, detections });
      const last = timeline[timeline.length - 1]!;
      if (JSON.stringify(last.record) !== JSON.stringify(u)) problems.push(`${u.id}: last version is not the user`);
      const stamps = timeline.map((v) => v.record.riskLastUpdatedDateTime!);
      if (stamps.join() !== [...stamps].sort().join()) problems.push(`${u.id}: versions out of order`);
      for (const v of timeline.slice(0, -1)) {
        if (v.record.riskState !== 'atRisk' || v.history.initiatedBy !== null || v.history.riskEventTypes!.length !== 1) {
          problems.push(`${u.id}: an earlier version is not a rise of risk`);
        }
      }
      const detail = last.history.detail;
      if (u.riskState === 'remediated' && /^user/.test(detail ?? '') && last.history.initiatedBy !== u.id)
        problems.push(`${u.id}: self-service by another`);
      if (u.riskState === 'dismissed' && /^admin/.test(detail ?? '') && !(ADMIN_IDS as readonly string[]).includes(last.history.initiatedBy!)) {
        problems.push(`${u.id}: dismissed by a non-admin`);
      }
      if (u.riskState !== 'atRisk' && timeline.length < 2) problems.push(`${u.id}: closed without ever being at risk`);
    }
    expect(problems).toEqual([]);
    const own = new Map(detections.map((d) => [d.userId, d.riskEventType]));
    expect(users.some((u) => own.has(u.id) && riskyUserTimeline(u, { seed: 4, detections })[0]!.history.riskEventTypes![0] === own.get(u.id))).toBe(
      true,
    );
    expect(riskyUserTimeline(users[0]!, { seed: 4, detections })).toEqual(riskyUserTimeline(users[0]!, { seed: 4, detections }));
  });

  it('seedRiskyUsers stores them so that the emulator serves one item per version', async () => {
    seedRiskyUsers(emulator, users.slice(0, 40), { seed: 4, detections });
    for (const u of users.slice(0, 40)) {
      const timeline = riskyUserTimeline(u, { seed: 4, detections });
      const served = (await getAllPages(emulator, `${USERS}/${u.id}/history`)).flatMap((p) => p.body.value as RiskyUserHistoryItem[]);
      expect(served).toHaveLength(timeline.length);
      expect(served[0]).toMatchObject({ id: u.id, riskState: u.riskState, riskLevel: u.riskLevel });
    }
    expect(emulator.list('riskyUsers')).toEqual(users.slice(0, 40));
  });
});
