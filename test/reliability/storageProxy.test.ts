/**
 * The storage proxy's own behaviour, over the wire with the real Table SDK: stalls that hold a process's traffic and
 * then let it land, and the Azure-limits mode that refuses what Azure refuses and Azurite accepts, as Azure answers.
 */
import { RestError, TableClient, type TransactionAction } from '@azure/data-tables';
import { COLLECTIONS } from '../../src/domain/collections';
import { toEntity } from '../../src/store/entityMapping';
import { startAzurite, type Azurite } from '../../tools/azurite/azurite';
import { entitySize, AZURE_LIMITS } from '../../tools/storage-proxy/azureLimits';
import { startStorageProxy, type StorageProxy } from '../../tools/storage-proxy/storageProxy';
import { generateRiskDetections, generateRiskyUsers } from '../../tools/emulator';
import { emptyAggregates, merge } from '../../src/domain/aggregates';
import { EntityWriter } from '../../src/store/entityWriter';
import { cjkDetection, Clock, oddDetection, oversizeDetection, Prng } from './mutations';

const TENANT = 'b3c1f2a0-0000-4000-8000-000000000009';

let azurite: Azurite;
let proxy: StorageProxy;
let tableNo = 0;
beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startStorageProxy({ port: azurite.port }, { azureLimits: true });
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await azurite?.stop();
});
afterEach(() => {
  proxy.clearFaults();
  proxy.setAzureLimits(true);
});

async function tables(): Promise<{ viaProxy: TableClient; direct: TableClient }> {
  const name = `Proxied${++tableNo}`;
  const direct = TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true });
  await direct.createTable();
  const viaProxy = TableClient.fromConnectionString(proxy.connectionString, name, { allowInsecureConnection: true });
  return { viaProxy, direct };
}

async function refusal(promise: Promise<unknown>): Promise<{ status?: number; code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as RestError;
    // The SDK gives a transaction's error code as `code`; a single operation's is in the x-ms-error-code header.
    return { status: e.statusCode, code: e.code ?? e.response?.headers.get('x-ms-error-code'), message: e.message };
  }
  throw new Error('the request was accepted');
}

describe('stall', () => {
  it('holds matching requests until released, then forwards them: the write lands after the stall', async () => {
    const { viaProxy, direct } = await tables();
    proxy.addFault({ kind: 'stall', match: { kinds: ['write'] } });
    const write = viaProxy.createEntity({ partitionKey: 'p', rowKey: 'held', n: 1 });
    const held = await proxy.held();
    expect(held).toMatchObject({ kind: 'write', method: 'POST' });
    // Reads are not matched: they go through while the write is held, and do not see it.
    await expect(viaProxy.getEntity('p', 'held')).rejects.toMatchObject({ statusCode: 404 });
    proxy.releaseStalls();
    await write;
    expect((await direct.getEntity('p', 'held')).n).toBe(1);
  });

  it('with ms, ends by itself; requests that arrive after it go straight through', async () => {
    const { viaProxy, direct } = await tables();
    proxy.addFault({ kind: 'stall', ms: 300 });
    const stalled = viaProxy.createEntity({ partitionKey: 'p', rowKey: 'a' });
    await proxy.held();
    await stalled; // resolves only once the stall has ended (it is never released by hand)
    await viaProxy.createEntity({ partitionKey: 'p', rowKey: 'b' });
    expect((await direct.getEntity('p', 'b')).rowKey).toBe('b');
    expect(proxy.stats.faults.stall).toBeGreaterThanOrEqual(1);
  });
});

describe('Azure limits', () => {
  const longCjk = (n: number) => '漢字かな'.repeat(Math.ceil(n / 4)).slice(0, n);

  it('a string property over 64 KiB (UTF-16): 400 PropertyValueTooLarge', async () => {
    const { viaProxy } = await tables();
    const entity = { partitionKey: 'p', rowKey: 'long', text: '漢'.repeat(32_769) };
    expect(await refusal(viaProxy.createEntity(entity))).toMatchObject({ status: 400, code: 'PropertyValueTooLarge' });
    await viaProxy.createEntity({ ...entity, rowKey: 'fits', text: '漢'.repeat(32_768) });
  });

  it('more than 252 properties: 400 TooManyProperties; Azurite itself accepts them', async () => {
    const { viaProxy, direct } = await tables();
    const props = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i]));
    expect(await refusal(viaProxy.createEntity({ partitionKey: 'p', rowKey: 'many', ...props(253) }))).toMatchObject({
      status: 400,
      code: 'TooManyProperties',
    });
    await viaProxy.createEntity({ partitionKey: 'p', rowKey: 'enough', ...props(252) });
    await direct.createEntity({ partitionKey: 'p', rowKey: 'many', ...props(253) });
  });

  it('an entity over 1 MiB as Table Storage counts it: 400 EntityTooLarge, also inside a batch (named by its index); Azurite accepts it', async () => {
    const { viaProxy, direct } = await tables();
    // 17 strings of 32K UTF-16 units: each within its limit, 1.1 MB together as Azure counts (Azurite counts the
    // UTF-8 body of an update, 0.5 MB here, and nothing for an insert).
    const big = { partitionKey: 'p', rowKey: 'big', ...Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`s${i}`, 'x'.repeat(32_000)])) };
    expect(entitySize(big as Record<string, unknown>)).toBeGreaterThan(AZURE_LIMITS.maxEntityBytes);
    expect(await refusal(viaProxy.createEntity(big))).toMatchObject({ status: 400, code: 'EntityTooLarge' });
    const actions: TransactionAction[] = [
      ['create', { partitionKey: 'p', rowKey: 'small' }],
      ['upsert', big, 'Replace'],
    ];
    const inBatch = await refusal(viaProxy.submitTransaction(actions));
    expect(inBatch).toMatchObject({ status: 400, code: 'EntityTooLarge' });
    expect(inBatch.message).toMatch(/^1:The entity is larger/);
    // Nothing of the refused transaction was stored (it is atomic); Azurite alone would have stored both.
    await expect(direct.getEntity('p', 'small')).rejects.toMatchObject({ statusCode: 404 });
    await direct.submitTransaction(actions);
  });

  it('a batch body over 4 MiB as sent (UTF-8) is refused with 413 RequestBodyTooLarge although it is under 4 MiB in UTF-16', async () => {
    const { viaProxy } = await tables();
    // 100 rows of 14,000 CJK characters: 2.8 MB counted in UTF-16, 4.2 MB in UTF-8.
    const actions: TransactionAction[] = Array.from({ length: 100 }, (_, i) => [
      'create',
      { partitionKey: 'p', rowKey: `r${i}`, text: longCjk(14_000) },
    ]);
    expect(100 * 14_000 * 2).toBeLessThan(AZURE_LIMITS.maxBatchBodyBytes);
    expect(await refusal(viaProxy.submitTransaction(actions))).toMatchObject({ status: 413, code: 'RequestBodyTooLarge' });
    await viaProxy.submitTransaction(actions.slice(0, 50));
  });

  it('can be lowered (tests make a record too large with it) and turned off', async () => {
    const { viaProxy } = await tables();
    proxy.setAzureLimits({ maxEntityBytes: 10_000 });
    expect(await refusal(viaProxy.createEntity({ partitionKey: 'p', rowKey: 'r', text: 'x'.repeat(6000) }))).toMatchObject({
      code: 'EntityTooLarge',
    });
    proxy.setAzureLimits(false);
    await viaProxy.createEntity({ partitionKey: 'p', rowKey: 'r', ...Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`p${i}`, i])) });
  });

  it("the product's entities of odd, CJK and oversize records pass Azure's limits over the wire, in batches under 4 MiB", async () => {
    const { viaProxy } = await tables();
    const rng = new Prng('limits');
    const clock = new Clock();
    const now = Date.now();
    const users = generateRiskyUsers(3, { seed: 'limits', from: new Date(now - 86_400_000), to: new Date(now) });
    const records = [
      ...generateRiskDetections(20, { seed: 'limits', users, from: new Date(now - 86_400_000), to: new Date(now) }),
      ...Array.from({ length: 30 }, () => oddDetection(rng, users, clock)),
      ...Array.from({ length: 6 }, () => cjkDetection(rng, users, clock, 32_000)),
      ...Array.from({ length: 6 }, () => oversizeDetection(rng, users, clock)),
    ];
    const counts = emptyAggregates();
    const quarantined: string[] = [];
    const refusedBefore = { ...proxy.stats.refused };
    const writer = new EntityWriter(viaProxy, {
      collection: COLLECTIONS.riskDetections,
      onCommitted: (delta) => merge(counts, delta),
      quarantine: async (record, reason) => void quarantined.push(`${String(record.entity.rowKey).slice(0, 30)}: ${reason}`),
    });
    const mapped = records.map((r) => toEntity(COLLECTIONS.riskDetections, r as never, TENANT, '2026-11-01T00:00:00.0000000Z'));
    expect(mapped.filter((m) => m.adjustments.some((a) => a.includes('1 MiB'))).length).toBeGreaterThan(0);
    await writer.add(mapped);
    await writer.flush();
    // A newer version of each: updates (Azurite checks an update's size, not an insert's).
    const newer = records.map((r) =>
      toEntity(
        COLLECTIONS.riskDetections,
        { ...r, riskState: 'dismissed', lastUpdatedDateTime: clock.next() } as never,
        TENANT,
        '2026-11-01T00:00:01.0000000Z',
      ),
    );
    await writer.add(newer);
    await writer.flush();
    expect(quarantined).toEqual([]);
    expect(writer.replaced).toBe(new Set(records.map((r) => r.id)).size);
    expect(quarantined).toEqual([]);
    expect(proxy.stats.refused).toEqual(refusedBefore);
    expect(counts.total).toBe(new Set(records.map((r) => r.id)).size);
  }, 60_000);
});
