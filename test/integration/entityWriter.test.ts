/**
 * The engine's writer against Azurite: one pool of transactions across pages, full transactions across pages,
 * pages reported stored in order, the latest version of an id kept, counts that match the table.
 */
import { TableClient } from '@azure/data-tables';
import { startAzurite, type Azurite } from '../../tools/azurite/azurite';
import { count, emptyAggregates, merge, type Aggregates } from '../../src/domain/aggregates';
import { toEntity, type MappedRecord } from '../../src/store/entityMapping';
import { EntityWriter } from '../../src/store/entityWriter';
import { recount } from '../../src/store/partitions';
import { COLLECTIONS } from '../../src/domain/collections';

const TENANT = 'b3c1f2a0-0000-4000-8000-000000000001';
const detections = COLLECTIONS.riskDetections;
const LEVELS = ['low', 'medium', 'high'];

let azurite: Azurite;
let tableNo = 0;

beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(() => azurite?.stop());

async function freshTable(): Promise<TableClient> {
  const client = TableClient.fromConnectionString(azurite.connectionString, `Writer${++tableNo}`, { allowInsecureConnection: true });
  await client.createTable();
  return client;
}

/** A detection in month `month` (1-12 of 2026), updated at second `version`. */
function record(id: string, month: number, version: number, level = LEVELS[version % 3]!): MappedRecord {
  const mm = String(month).padStart(2, '0');
  const at = new Date(Date.UTC(2026, month - 1, 10) + version * 1000).toISOString();
  return toEntity(
    detections,
    { id, riskLevel: level, riskState: 'atRisk', detectedDateTime: `2026-${mm}-10T00:00:00Z`, lastUpdatedDateTime: at },
    TENANT,
    `2026-11-23T00:00:00.${String(version).padStart(3, '0')}0000Z`,
  );
}

async function rows(client: TableClient): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  for await (const row of client.listEntities<Record<string, unknown>>()) out.set(row.rowKey!, row);
  return out;
}

function writer(client: TableClient, counts: Aggregates, stored: number[], parallelism = 4, idleFlushMs?: number): EntityWriter {
  return new EntityWriter(client, {
    collection: detections,
    parallelism,
    idleFlushMs,
    onCommitted: (delta) => merge(counts, delta),
    onStored: (page) => stored.push(page),
  });
}

describe('EntityWriter', () => {
  it('fills transactions across pages and reports pages stored in order', async () => {
    const client = await freshTable();
    const counts = emptyAggregates();
    const stored: number[] = [];
    const w = writer(client, counts, stored, 4, 60_000);
    // Ten pages of 50 rows of one partition: rows wait for a full transaction of 100, two pages at a time.
    for (let p = 0; p < 10; p++) await w.add(Array.from({ length: 50 }, (_, i) => record(`p${p}-${i}`, 3, p)));
    await w.flush();
    expect(w.transactions).toBe(5);
    expect(stored).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect((await rows(client)).size).toBe(500);
    expect(counts).toEqual(await recount(client, detections, TENANT));
  });

  it('writes the rows waiting for a full transaction once the store has nothing else to do', async () => {
    const client = await freshTable();
    const counts = emptyAggregates();
    const stored: number[] = [];
    const w = writer(client, counts, stored);
    await w.add(Array.from({ length: 30 }, (_, i) => record(`idle${i}`, 9, 1)));
    for (let waited = 0; stored.length === 0 && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stored).toEqual([0]); // no flush(): the next page is not there yet, so nothing waits for it
    expect((await rows(client)).size).toBe(30);
    expect(w.transactions).toBe(1);
  });

  it('keeps the latest version of an id that comes again in later pages, and counts exactly', async () => {
    const client = await freshTable();
    const counts = emptyAggregates();
    const stored: number[] = [];
    const w = writer(client, counts, stored, 2);
    const latest = new Map<string, MappedRecord>();
    let maxAhead = 0;
    for (let p = 0; p < 8; p++) {
      const page: MappedRecord[] = [];
      // 230 new ids over 2 months (a full transaction of each is cut at once), and 40 ids of the previous page again with a later version and another level.
      for (let i = 0; i < 230; i++) page.push(record(`p${p}-${i}`, 1 + (i % 2), p));
      if (p > 0) for (let i = 0; i < 40; i++) page.push(record(`p${p - 1}-${i}`, 1 + (i % 2), p + 100));
      // An id twice in one page: the later cursor wins whatever the order.
      page.push(record(`twice-${p}`, 2, p + 200), record(`twice-${p}`, 2, p + 150));
      for (const r of page) {
        const seen = latest.get(r.entity.rowKey);
        if (!seen || r.cursor! >= seen.cursor!) latest.set(r.entity.rowKey, r);
      }
      const n = await w.add(page);
      maxAhead = Math.max(maxAhead, n - (stored.at(-1) ?? -1));
    }
    await w.flush();
    expect(maxAhead).toBeLessThanOrEqual(3); // add() returns once the page two before is stored
    expect(stored).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const table = await rows(client);
    expect(table.size).toBe(latest.size);
    for (const [id, r] of latest)
      expect([id, (table.get(id)!.lastUpdatedDateTime as Date).toISOString()]).toEqual([id, `${r.cursor!.slice(0, 23)}Z`]);
    expect(counts).toEqual(await recount(client, detections, TENANT));
  });

  it('never has two versions of a row in flight: the later one waits for the earlier transaction', async () => {
    const client = await freshTable();
    const submit = client.submitTransaction.bind(client);
    let calls = 0;
    // The first transaction is slow to answer: without the wait, the later version would land first and be overwritten.
    client.submitTransaction = async (...args: Parameters<TableClient['submitTransaction']>) => {
      if (++calls === 1) await new Promise((resolve) => setTimeout(resolve, 400));
      return submit(...args);
    };
    const counts = emptyAggregates();
    const w = writer(client, counts, []);
    await w.add(Array.from({ length: 100 }, (_, i) => record(`r${i}`, 8, 1, 'low')));
    await w.add(Array.from({ length: 100 }, (_, i) => record(`r${i}`, 8, 2, 'high')));
    await w.flush();
    const table = await rows(client);
    expect(new Set([...table.values()].map((row) => row.riskLevel))).toEqual(new Set(['high']));
    expect(counts).toEqual(await recount(client, detections, TENANT));
  });

  it('cuts a transaction before its body reaches 4 MiB as sent (UTF-8 JSON), also for CJK text', async () => {
    const client = await freshTable();
    const bodies: number[] = [];
    const submit = client.submitTransaction.bind(client);
    client.submitTransaction = (actions) => {
      bodies.push(Buffer.byteLength(JSON.stringify(actions.map((a) => a[1]))));
      return submit(actions);
    };
    const counts = emptyAggregates();
    const w = writer(client, counts, []);
    // 100,000 CJK characters: 200 KB counted in UTF-16, 300 KB on the wire. Sized in UTF-16, 17 would go in one
    // transaction: 5 MB, which Azure refuses with 413 (Azurite does not).
    const big = (i: number) =>
      toEntity(
        detections,
        { id: `big${i}`, detectedDateTime: '2026-10-10T00:00:00Z', additionalInfo: '漢'.repeat(100_000) },
        TENANT,
        '2026-11-23T00:00:00.0000000Z',
      );
    await w.add(Array.from({ length: 60 }, (_, i) => big(i)));
    await w.flush();
    expect(Math.max(...bodies)).toBeLessThan(4 * 1024 * 1024);
    expect(w.transactions).toBeGreaterThanOrEqual(5);
    const table = await rows(client);
    expect(table.size).toBe(60);
    expect(
      ['', '_part2', '_part3', '_part4'].map((part) => String(table.get('big7')![`additionalInfo${part}`] ?? '').length).reduce((a, b) => a + b),
    ).toBe(100_000);
  });

  it('counts rewritten rows as replacements, not as new rows', async () => {
    const client = await freshTable();
    const counts = emptyAggregates();
    const first = writer(client, counts, []);
    await first.add(Array.from({ length: 120 }, (_, i) => record(`r${i}`, 5, 1, 'low')));
    await first.flush();
    const second = writer(client, counts, []);
    await second.add(Array.from({ length: 150 }, (_, i) => record(`r${i}`, 5, 2, 'high')));
    await second.flush();
    const expected = emptyAggregates();
    for (let i = 0; i < 150; i++) count(expected, { riskLevel: 'high', riskState: 'atRisk' }, 1);
    expect(counts).toEqual(expected);
    expect(counts).toEqual(await recount(client, detections, TENANT));
  });

  it('stops at a failed transaction: the error surfaces, the page is never reported stored, and it says the counts may be off', async () => {
    const client = await freshTable();
    const counts = emptyAggregates();
    const stored: number[] = [];
    const w = writer(client, counts, stored);
    await w.add(Array.from({ length: 100 }, (_, i) => record(`ok${i}`, 6, 1)));
    const bad = record('bad', 7, 2);
    (bad.entity as Record<string, unknown>).huge = 'x'.repeat(70_000); // over Table Storage's 64 KiB per property
    await expect(
      (async () => {
        await w.add([bad, ...Array.from({ length: 99 }, (_, i) => record(`b${i}`, 7, 2))]);
        await w.flush();
      })(),
    ).rejects.toThrow();
    await w.settle();
    expect(w.uncertain).toBe(true);
    expect(stored).toEqual([0]);
    expect([...(await rows(client)).keys()].filter((k) => k.startsWith('b'))).toHaveLength(0);
    expect(counts).toEqual(await recount(client, detections, TENANT));
  });
});
