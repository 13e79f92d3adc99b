/** The engine's pure parts: page mapping, Graph query building and refusal semantics, count drift. */
import { COLLECTIONS } from '../../src/domain/collections';
import { GraphRequestError } from '../../src/graph/errors';
import { accessProblem, firstPageUrl, isRefusedNextLink } from '../../src/graph/query';
import { drift } from '../../src/store/partitions';
import { mapPage } from '../../src/sync/pageMapping';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SYNCED = '2026-11-30T00:00:00.0000000Z';

describe('mapPage', () => {
  const detections = COLLECTIONS.riskDetections!;

  it('maps a page: rows, the highest and lowest cursor, adjusted records, P1-shaped ones', () => {
    const page = mapPage(
      detections,
      [
        { id: 'a', lastUpdatedDateTime: '2026-11-02T10:00:00Z', riskLevel: 'high' },
        { id: 'b/with slash', lastUpdatedDateTime: '2026-11-01T10:00:00.5Z', riskEventType: 'generic', riskLevel: 'hidden' },
        { id: 'c', lastUpdatedDateTime: null },
      ],
      TENANT,
      SYNCED,
    );
    expect(page.rows.map((r) => r.entity.rowKey)).toEqual(['a', '~b%2fwith slash', 'c']);
    expect(page.maxCursor).toBe('2026-11-02T10:00:00.0000000Z');
    expect(page.minCursor).toBe('2026-11-01T10:00:00.5000000Z');
    expect(page.adjusted).toEqual([{ rowKey: '~b%2fwith slash', adjustments: [expect.stringMatching(/RowKey is ~/)] }]);
    expect(page.p1Shaped).toBe(1);
    expect(page.unmappable).toEqual([]);
  });

  it('puts aside what can not be a row at all, with the reason, and keeps the rest', () => {
    const page = mapPage(detections, [null, 'text', [1], { riskLevel: 'low' }, { id: 'ok' }], TENANT, SYNCED);
    expect(page.rows.map((r) => r.entity.rowKey)).toEqual(['ok']);
    expect(page.unmappable.map((u) => u.reason)).toEqual([
      'a riskDetections record is not a JSON object',
      'a riskDetections record is not a JSON object',
      'a riskDetections record is not a JSON object',
      "a riskDetections record has no 'id'",
    ]);
  });

  it('gives a record the same fingerprint whenever Graph serves it the same, another when anything changed', () => {
    const one = mapPage(detections, [{ id: 'x', riskLevel: 'low', ipAddress: '10.0.0.1' }], TENANT, SYNCED).rows[0]!;
    const again = mapPage(detections, [{ id: 'x', riskLevel: 'low', ipAddress: '10.0.0.1' }], TENANT, '2026-12-01T00:00:00.0000000Z').rows[0]!;
    const changed = mapPage(detections, [{ id: 'x', riskLevel: 'low', ipAddress: '10.0.0.2' }], TENANT, SYNCED).rows[0]!;
    expect(again.hash).toBe(one.hash);
    expect(changed.hash).not.toBe(one.hash);
    expect(one.tracked).toEqual({ riskState: null, riskLevel: 'low', riskDetail: null, riskEventType: null });
  });
});

describe('Graph queries', () => {
  it('writes the first page with $top and an encoded $filter, datetimes unquoted', () => {
    expect(firstPageUrl('https://graph.microsoft.com', '/identityProtection/riskDetections', { top: 500 })).toBe(
      'https://graph.microsoft.com/v1.0/identityProtection/riskDetections?$top=500',
    );
    expect(
      firstPageUrl('https://graph.microsoft.us', '/identityProtection/riskyUsers', {
        top: 499,
        filter: 'riskLastUpdatedDateTime ge 2026-11-01T00:00:00.0000000Z and riskLastUpdatedDateTime lt 2026-11-02T00:00:00.0000000Z',
      }),
    ).toBe(
      'https://graph.microsoft.us/v1.0/identityProtection/riskyUsers?$top=499&$filter=riskLastUpdatedDateTime%20ge%202026-11-01T00%3A00%3A00.0000000Z%20and%20riskLastUpdatedDateTime%20lt%202026-11-02T00%3A00%3A00.0000000Z',
    );
    expect(firstPageUrl('https://x', '/identityProtection/riskyUsers/u1/history', {})).toBe(
      'https://x/v1.0/identityProtection/riskyUsers/u1/history',
    );
  });

  it('a refused next link is a 400, 404 or 410 (the phantom link answers 400 with an empty message); throttling, auth and 5xx are not', () => {
    for (const status of [400, 404, 410]) expect(isRefusedNextLink(new GraphRequestError(status, 'BadRequest', ''))).toBe(true);
    for (const status of [401, 403, 429, 500, 503]) expect(isRefusedNextLink(new GraphRequestError(status, 'X', 'y'))).toBe(false);
    expect(isRefusedNextLink(new Error('socket hang up'))).toBe(false);
  });

  it('tells an unlicensed tenant from a missing permission, and names what to do', () => {
    const need = { collection: 'riskyUsers', permission: 'IdentityRiskyUser.Read.All', licence: 'Microsoft Entra ID P2' };
    expect(
      accessProblem(
        new GraphRequestError(403, 'Authentication_RequestFromNonPremiumTenantOrB2CTenant', 'Your tenant is not licensed for this feature.'),
        need,
      ),
    ).toMatchObject({
      state: 'unlicensed',
      action: expect.stringMatching(/needs Microsoft Entra ID P2/),
    });
    expect(accessProblem(new GraphRequestError(403, 'NoLicense', 'Tenant does not meet license requirement!'), need)).toMatchObject({
      state: 'unlicensed',
    });
    expect(
      accessProblem(new GraphRequestError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.'), need),
    ).toMatchObject({
      state: 'forbidden',
      action: expect.stringMatching(/IdentityRiskyUser\.Read\.All/),
    });
    expect(accessProblem(new GraphRequestError(400, 'BadRequest', 'x'), need)).toBeUndefined();
    expect(accessProblem(new Error('x'), need)).toBeUndefined();
  });
});

describe('drift', () => {
  it('counts how many rows two sets of counts differ by, per value and in total', () => {
    expect(drift({ total: 3, by: { riskLevel: { high: 2, low: 1 } } }, { total: 3, by: { riskLevel: { high: 2, low: 1 } } })).toBe(0);
    expect(drift({ total: 3, by: { riskLevel: { high: 3 } } }, { total: 4, by: { riskLevel: { high: 2, low: 2 } } })).toBe(1 + 1 + 2);
  });
});
