/**
 * The writer's guarantees against Azurite: a row is never replaced by an older version of its record (whoever writes
 * it, whenever its transaction lands), a record read again as it is stored is not written, change rows are exactly
 * once per version, and a record Table Storage refuses goes to quarantine instead of failing the batch.
 */
import { RestError, TableClient, type TransactionAction } from '@azure/data-tables';
import { startAzurite, type Azurite } from '../../tools/azurite/azurite';
import { emptyAggregates, merge, type Aggregates } from '../../src/domain/aggregates';
import { COLLECTIONS } from '../../src/domain/collections';
import { toEntity, type MappedRecord } from '../../src/store/entityMapping';
import { EntityWriter, type EntityWriterOptions } from '../../src/store/entityWriter';
import { recount } from '../../src/store/partitions';
import { Quarantine } from '../../src/store/quarantine';

const TENANT = 'b3c1f2a0-0000-4000-8000-000000000002';
const detections = COLLECTIONS.riskDetections;

let azurite: Azurite;
let tableNo = 0;
beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(() => azurite?.stop());

async function freshTable(prefix = 'Fenced'): Promise<TableClient> {
  const client = TableClient.fromConnectionString(azurite.connectionString, `${prefix}${++tableNo}`, { allowInsecureConnection: true });
  await client.createTable();
  return client;
}

/** A detection updated at minute `version`, with a risk level and state. */
function version(id: string, minute: number, riskLevel: string, riskState = 'atRisk', extra: Record<string, unknown> = {}): MappedRecord {
  return toEntity(
    detections,
    {
      id,
      riskLevel,
      riskState,
      riskDetail: 'none',
      riskEventType: 'unfamiliarFeatures',
      detectedDateTime: '2026-10-10T00:00:00Z',
      lastUpdatedDateTime: new Date(Date.UTC(2026, 9, 10, 0, minute)).toISOString(),
      ...extra,
    },
    TENANT,
    new Date(Date.UTC(2026, 10, 1) + minute * 1000 + Math.floor(Math.random() * 999)).toISOString().replace('Z', '0000Z'),
  );
}

function writer(client: TableClient, counts: Aggregates, options: Partial<EntityWriterOptions> = {}) {
  return new EntityWriter(client, { collection: detections, onCommitted: (delta) => merge(counts, delta), insertFirst: false, ...options });
}

async function write(w: EntityWriter, records: MappedRecord[]) {
  await w.add(records);
  await w.flush();
}

async function rowsOf(client: TableClient) {
  const out: Record<string, unknown>[] = [];
  for await (const r of client.listEntities<Record<string, unknown>>()) out.push(r);
  return out;
}

async function row(client: TableClient, id: string) {
  return client.getEntity<Record<string, unknown>>(`${TENANT}_2026-10`, id);
}

describe('fenced writes', () => {
  it('never replaces a newer version by an older one, and leaves the counts exact', async () => {
    const client = await freshTable();
    const counts = emptyAggregates();
    await write(writer(client, counts), [version('a', 10, 'high')]);
    const late = writer(client, counts);
    await write(late, [version('a', 5, 'low')]); // an older version, read before the newer one was written
    expect((await row(client, 'a')).riskLevel).toBe('high');
    expect(late.stale).toBe(1);
    expect(counts).toEqual(await recount(client, detections, TENANT));
  });

  it("a transaction held past another writer's write is refused by the ETag and decided again: the newer version stays", async () => {
    const client = await freshTable();
    const counts = emptyAggregates();
    await write(writer(client, counts), [version('b', 1, 'low'), version('c', 1, 'low')]);
    // Run A read the rows (version 1) and holds its transaction; meanwhile run B stores version 9 of b.
    const held = TableClient.fromConnectionString(azurite.connectionString, client.tableName, { allowInsecureConnection: true });
    const submit = held.submitTransaction.bind(held);
    let first = true;
    held.submitTransaction = async (actions: TransactionAction[]) => {
      if (first) {
        first = false;
        await write(writer(client, counts), [version('b', 9, 'high')]);
      }
      return submit(actions);
    };
    const a = writer(held, counts);
    await write(a, [version('b', 5, 'medium'), version('c', 5, 'medium')]);
    expect((await row(client, 'b')).riskLevel).toBe('high'); // B's newer version survived A's held transaction
    expect((await row(client, 'c')).riskLevel).toBe('medium'); // A's version of c is the newest: written
    expect(a.stale).toBe(1);
    expect(counts).toEqual(await recount(client, detections, TENANT));
  });

  it('does not write a record read again as it is stored (its fingerprint matches)', async () => {
    const client = await freshTable();
    const counts = emptyAggregates();
    const records = Array.from({ length: 30 }, (_, i) => version(`u${i}`, 3, 'low'));
    await write(writer(client, counts), records);
    const before = await row(client, 'u7');
    const again = writer(client, counts);
    await write(
      again,
      Array.from({ length: 30 }, (_, i) => version(`u${i}`, 3, 'low')),
    );
    expect([again.unchanged, again.created, again.replaced, again.transactions]).toEqual([30, 0, 0, 0]);
    expect((await row(client, 'u7')).etag).toBe(before.etag);
  });
});

describe('change rows', () => {
  async function changeRows(table: TableClient) {
    const out: Record<string, unknown>[] = [];
    for await (const r of table.listEntities<Record<string, unknown>>()) out.push(r);
    return out;
  }

  it('one `created` row for a first version, one `changed` row per version whose tracked properties differ, none for a re-read', async () => {
    const client = await freshTable();
    const changes = await freshTable('Changes');
    const counts = emptyAggregates();
    const options = { changes: { table: changes, tenantId: TENANT, runId: 'run-1' } };
    await write(writer(client, counts, options), [version('x', 1, 'high')]);
    await write(writer(client, counts, options), [version('x', 1, 'high')]); // read again: nothing
    await write(writer(client, counts, options), [version('x', 2, 'high', 'atRisk', { ipAddress: '10.0.0.1' })]); // untracked change
    await write(writer(client, counts, options), [version('x', 3, 'high', 'dismissed')]);
    const rows = await changeRows(changes);
    expect(rows.map((r) => [r.change, r.riskState, r.previousRiskState ?? null])).toEqual([
      ['created', 'atRisk', null],
      ['changed', 'dismissed', 'atRisk'],
    ]);
    expect(rows[1]).toMatchObject({ recordId: 'x', riskLevel: 'high', previousRiskLevel: 'high', runId: 'run-1' });
    expect(String(rows[1]!.partitionKey)).toBe(`${TENANT}_2026-10`);
  });

  it('a write that dies between the change row and the data row leaves exactly one change row after the next read', async () => {
    const client = await freshTable();
    const changes = await freshTable('Changes');
    const counts = emptyAggregates();
    const options = { changes: { table: changes, tenantId: TENANT, runId: 'r' } };
    await write(writer(client, counts, options), [version('y', 1, 'low')]);
    const dying = TableClient.fromConnectionString(azurite.connectionString, client.tableName, { allowInsecureConnection: true });
    dying.submitTransaction = () => Promise.reject(new RestError('socket hang up', { statusCode: 503 }));
    await expect(write(writer(dying, counts, options), [version('y', 2, 'high')])).rejects.toThrow(/socket hang up/);
    await write(writer(client, counts, options), [version('y', 2, 'high')]); // the next run reads the same version
    await write(writer(client, counts, options), [version('y', 2, 'high')]);
    const rows = await changeRows(changes);
    expect(rows.map((r) => [r.change, r.riskLevel])).toEqual([
      ['created', 'low'],
      ['changed', 'high'],
    ]);
  });

  it('a backfill (plain inserts) writes its change rows first: one that dies on either side leaves one `created` row per record', async () => {
    const client = await freshTable();
    const changes = await freshTable('Changes');
    const counts = emptyAggregates();
    const records = () => Array.from({ length: 20 }, (_, i) => version(`n${i}`, 1, 'low'));
    // Dies before the change rows: nothing is written.
    const lostChanges = TableClient.fromConnectionString(azurite.connectionString, changes.tableName, { allowInsecureConnection: true });
    lostChanges.submitTransaction = () => Promise.reject(new RestError('connection reset', { statusCode: 503 }));
    await expect(
      write(writer(client, counts, { insertFirst: true, changes: { table: lostChanges, tenantId: TENANT, runId: 'r1' } }), records()),
    ).rejects.toThrow();
    expect(await changeRows(changes)).toHaveLength(0);
    // Dies after the change rows, before the rows.
    const lostRows = TableClient.fromConnectionString(azurite.connectionString, client.tableName, { allowInsecureConnection: true });
    lostRows.submitTransaction = () => Promise.reject(new RestError('connection reset', { statusCode: 503 }));
    await expect(
      write(writer(lostRows, counts, { insertFirst: true, changes: { table: changes, tenantId: TENANT, runId: 'r2' } }), records()),
    ).rejects.toThrow();
    expect(await changeRows(changes)).toHaveLength(20);
    // The next runs: the rows, and still one change row each.
    for (const runId of ['r3', 'r4'])
      await write(writer(client, counts, { insertFirst: true, changes: { table: changes, tenantId: TENANT, runId } }), records());
    const rows = await changeRows(changes);
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((r) => r.change))).toEqual(new Set(['created']));
    expect((await rowsOf(client)).length).toBe(20);
  });

  it('plain inserts that meet rows that exist: the guessed `created` rows are corrected (changed, or gone for a newer row)', async () => {
    const client = await freshTable();
    const changes = await freshTable('Changes');
    const counts = emptyAggregates();
    const options = (runId: string) => ({ changes: { table: changes, tenantId: TENANT, runId } });
    await write(writer(client, counts, options('r1')), [version('e1', 1, 'low'), version('e2', 9, 'high')]);
    // A backfill (insert first) that reads e1 changed, e2 older than stored, e3 new.
    await write(writer(client, counts, { ...options('r2'), insertFirst: true }), [
      version('e1', 5, 'medium'),
      version('e2', 2, 'low'),
      version('e3', 3, 'low'),
    ]);
    const rows = await changeRows(changes);
    const byRecord = (id: string) => rows.filter((r) => r.recordId === id).map((r) => r.change);
    expect(byRecord('e1')).toEqual(['created', 'changed']);
    expect(byRecord('e2')).toEqual(['created']);
    expect(byRecord('e3')).toEqual(['created']);
    expect((await row(client, 'e2')).riskLevel).toBe('high');
    expect(counts).toEqual(await recount(client, detections, TENANT));
  });
});

describe('records Table Storage refuses', () => {
  it('go to quarantine (raw JSON, reason) instead of failing the batch; the rest of the batch is stored', async () => {
    const client = await freshTable();
    const quarantineTable = await freshTable('Quarantine');
    const quarantine = new Quarantine(quarantineTable, TENANT, 'riskDetections');
    // Table Storage's own rule we stand in for: it refuses the entity holding this value.
    const strict = TableClient.fromConnectionString(azurite.connectionString, client.tableName, { allowInsecureConnection: true });
    const submit = strict.submitTransaction.bind(strict);
    strict.submitTransaction = (actions: TransactionAction[]) =>
      actions.some((a) => JSON.stringify(a[1]).includes('refuse-me'))
        ? Promise.reject(new RestError('The property value is invalid.', { statusCode: 400, code: 'InvalidInput' }))
        : submit(actions);
    const counts = emptyAggregates();
    const w = writer(strict, counts, {
      insertFirst: true,
      quarantine: (record, reason) => quarantine.put(record.raw, reason, 'run-q', new Date().toISOString()),
    });
    const records = Array.from({ length: 40 }, (_, i) => version(`q${i}`, 1, 'low', 'atRisk', i === 17 ? { userDisplayName: 'refuse-me' } : {}));
    await write(w, records);
    expect(w.quarantined).toBe(1);
    expect(w.created).toBe(39);
    const entries = await quarantine.list();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ rowKey: 'q17', reason: expect.stringMatching(/400 InvalidInput/) });
    expect((entries[0]!.raw as { userDisplayName: string }).userDisplayName).toBe('refuse-me');
    expect(counts).toEqual(await recount(client, detections, TENANT));
  });
});
