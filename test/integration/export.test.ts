import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { generateRiskDetections, generateRiskyUsers } from '../../tools/emulator';
import { exportChunks } from '../../src/app/export';
import { csvColumns } from '../../src/api/csv';
import { COLLECTIONS } from '../../src/domain/collections';
import { normalizeDateTime } from '../../src/domain/datetime';
import type { LocalHost } from '../../tools/host/localHost';
import { startStorageProxy } from '../../tools/storage-proxy/storageProxy';
import { eventually, quietLogger, startHarness, type Harness } from '../support/harness';
import { apiUrl, startApi } from '../api/helpers';

/**
 * `risk-sync export` as an operator runs it (the CLI a child process) over what the real sync stored in Azurite from
 * the Graph emulator: the export is the table, record for record, and its CSV is the API's.
 */
const DAY = 86_400_000;
const FORMULA = '=HYPERLINK("https://evil.example","click")';
const TRICKY_NAME = 'Ann "Quote", O\'Neil\nsecond line — Zoë 李雷';

describe('risk-sync export', () => {
  let h: Harness;
  let api: LocalHost & { errors: string[] };
  let dir: string;
  const now = Date.now();
  const users = generateRiskyUsers(60, { seed: 41, from: new Date(now - 60 * DAY), to: new Date(now - 3_600_000) });
  const detections = generateRiskDetections(5000, { seed: 41, users, from: new Date(now - 60 * DAY), to: new Date(now - 3_600_000) });
  detections[0] = { ...detections[0]!, userDisplayName: TRICKY_NAME, ipAddress: FORMULA };
  const byId = (a: Record<string, unknown>, b: Record<string, unknown>) => String(a.id).localeCompare(String(b.id));
  const ndjson = (text: string) =>
    (text.endsWith('\n') ? text.slice(0, -1).split('\n') : [text]).map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeAll(async () => {
    h = await startHarness();
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert('riskDetections', detections);
    const runs = await h.service().runAll([], { trigger: 'test' }, quietLogger);
    expect(runs.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    api = await startApi(h, () => h.service());
    dir = mkdtempSync(path.join(tmpdir(), 'risk-sync-export-'));
  }, 180_000);
  afterAll(async () => {
    await api?.close();
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes every one of 5,000 stored rows as NDJSON that reads back to the table exactly, with progress on stderr', async () => {
    const stored = await h.stored('riskDetections');
    expect(stored).toHaveLength(5000);
    const out = path.join(dir, 'detections.ndjson');
    const result = await h.cli(['export', '--collection', 'riskDetections', '--out', out]);
    expect(result.stderr).not.toMatch(/AccountKey|access_token/);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(ndjson(readFileSync(out, 'utf8')).sort(byId)).toEqual(stored);
    expect(result.stderr).toMatch(/riskDetections: [\d,]+ pages?, [\d,]+ read, [\d,]+ records\/s/);
    expect(result.stderr).toMatch(/exported 5,000 riskDetections records \(ndjson, \d+ pages\) to .*detections\.ndjson in [\d.]+ s/);
    expect(readdirSync(dir)).toEqual(['detections.ndjson']); // no partial file left behind
  }, 120_000);

  it('exports to stdout only the rows whose cursor is in --since..--until (inclusive, offsets normalized)', async () => {
    const stored = await h.stored('riskDetections');
    const cursors = stored.map((r) => String(r.lastUpdatedDateTime)).sort();
    const [since, until] = [cursors[1000]!, cursors[1999]!];
    const inRange = stored.filter((r) => String(r.lastUpdatedDateTime) >= since && String(r.lastUpdatedDateTime) <= until);
    expect(inRange.length).toBeGreaterThanOrEqual(1000);
    // --until with an offset: the same instant, two hours ahead.
    const plus2 = new Date(Date.parse(`${until.slice(0, 19)}Z`) + 2 * 3_600_000).toISOString();
    const exact = `${plus2.slice(0, 19)}${until.slice(19, -1)}+02:00`;
    expect(normalizeDateTime(exact)).toBe(until);
    const result = await h.cli(['export', '-c', 'riskDetections', '--since', since, '--until', exact]);
    expect(result.code).toBe(0);
    expect(ndjson(result.stdout).sort(byId)).toEqual(inRange);
  }, 60_000);

  it('writes the API CSV, byte for byte, which parses back to the stored records with the injection guard', async () => {
    const out = path.join(dir, 'users.csv');
    const result = await h.cli(['export', '--collection', 'riskyusers', '--format', 'csv', '--out', out]);
    expect(result.code).toBe(0);
    const fromApi = await (await fetch(apiUrl(api, 'snapshot/riskyUsers', { format: 'csv' }))).text();
    expect(readFileSync(out, 'utf8')).toBe(fromApi);

    const detectionsCsv = await h.cli(['export', '--collection', 'riskDetections', '--format', 'csv']);
    expect(detectionsCsv.code).toBe(0);
    const rows = parse(detectionsCsv.stdout, { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
    const stored = await h.stored('riskDetections');
    expect(rows).toHaveLength(stored.length);
    expect(Object.keys(rows[0]!)).toEqual(csvColumns(COLLECTIONS.riskDetections!).map((c) => c.name));
    expect(rows.map((r) => r.id).sort()).toEqual(stored.map((r) => String(r.id)));
    const tricky = rows.find((r) => r.id === detections[0]!.id)!;
    expect(tricky.userDisplayName).toBe(TRICKY_NAME);
    expect(tricky.ipAddress).toBe(`'${FORMULA}`);
    const sample = stored[1234]!;
    const row = rows.find((r) => r.id === sample.id)!;
    expect(row.riskLevel).toBe(sample.riskLevel);
    expect(row.lastUpdatedDateTime).toBe(sample.lastUpdatedDateTime);
    expect(row.userPrincipalName).toBe(sample.userPrincipalName ?? '');
  }, 60_000);

  it('exports nothing (CSV: the header) from a collection not synced yet, whose table does not exist', async () => {
    const env = { TABLE_RISKY_USERS: 'NotSyncedYet' };
    const json = await h.cli(['export', '-c', 'riskyUsers'], env);
    expect([json.code, json.stdout]).toEqual([0, '']);
    expect(json.stderr).toMatch(/exported 0 riskyUsers records/);
    const csv = await h.cli(['export', '-c', 'riskyUsers', '-f', 'csv'], env);
    expect([csv.code, csv.stdout]).toEqual([
      0,
      `${csvColumns(COLLECTIONS.riskyUsers!)
        .map((c) => c.name)
        .join(',')}\r\n`,
    ]);
  }, 60_000);

  it('reads the next Table page only when the writer asks for more (never the whole table at once)', async () => {
    const model = h.service().readModel;
    let pages = 0;
    const chunks = exportChunks(model, { collection: 'riskDetections', format: 'ndjson' }, () => pages++);
    const first = await chunks.next();
    expect(pages).toBe(1);
    expect(ndjson(first.value as string)).toHaveLength(1000); // one page of Table Storage's largest size
    await chunks.next();
    expect(pages).toBe(2);
    await chunks.return(undefined);

    pages = 0;
    const csv = exportChunks(model, { collection: 'riskDetections', format: 'csv' }, () => pages++);
    expect((await csv.next()).value).toMatch(/^id,requestId,/);
    expect(pages).toBe(0); // the header needs no row
    await csv.next();
    expect(pages).toBe(1);
    await csv.return(undefined);
  });

  it('ends quietly (exit 0) when the reader of stdout closes it, as `| head` does', async () => {
    const child = h.spawnCli(['export', '-c', 'riskDetections']);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const first = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString())));
    child.stdout!.destroy();
    expect(JSON.parse(first.split('\n', 1)[0]!)).toHaveProperty('id');
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/error/);
  }, 60_000);

  it('leaves no partial file, and an older file untouched, when the store fails half way (exit 1, the reason said)', async () => {
    const proxy = await startStorageProxy({ port: h.azurite.port });
    try {
      let reads = 0;
      proxy.addHook({
        match: (r) => r.kind === 'read' && r.tables.includes('RiskDetections'),
        before: () => (++reads > 1 ? 'drop' : 'forward'),
        once: false,
      });
      const out = path.join(dir, 'failing.ndjson');
      writeFileSync(out, 'the older export\n');
      const result = await h.cli(['export', '-c', 'riskDetections', '--out', out], { TABLES_CONNECTION_STRING: proxy.connectionString });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/error: the export of riskDetections did not complete \(1,000 rows read\): \S/);
      expect(result.stderr).not.toMatch(/AccountKey|\n\s+at /);
      expect(readFileSync(out, 'utf8')).toBe('the older export\n');
      expect(readdirSync(dir).filter((f) => f.startsWith('failing'))).toEqual(['failing.ndjson']);
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('stops on Ctrl+C (SIGINT) during a read: exit 1, no file', async () => {
    const proxy = await startStorageProxy({ port: h.azurite.port });
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reads = 0;
    proxy.addHook({
      match: (r) => r.kind === 'read' && r.tables.includes('RiskDetections'),
      before: () => (++reads === 2 ? held : undefined),
      once: false,
    });
    try {
      const out = path.join(dir, 'stopped.ndjson');
      const child = h.spawnCli(['export', '-c', 'riskDetections', '--out', out], { TABLES_CONNECTION_STRING: proxy.connectionString });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      await eventually(() => reads === 2, 60_000, 'the second page read');
      child.kill('SIGINT');
      await eventually(() => stderr.includes('stopping the export'), 30_000, 'the stop notice');
      release();
      expect(await exited).toBe(1);
      expect(stderr).toMatch(/error: the export of riskDetections did not complete \(1,000 rows read\): stopped on request/);
      expect(readdirSync(dir).filter((f) => f.startsWith('stopped'))).toEqual([]);
    } finally {
      release();
      await proxy.close();
    }
  }, 120_000);

  it.each([
    [
      'an unknown collection, naming the accepted ones',
      ['--collection', 'toys'],
      /no collection 'toys': accepted collections are riskDetections, riskyUsers, riskyUserHistory/,
    ],
    ['no collection', [], /required option '-c, --collection <name>' not specified/],
    [
      'a --since that is not a date and time',
      ['-c', 'riskDetections', '--since', 'yesterday'],
      /--since yesterday is not a date and time: give ISO 8601 with a time zone/,
    ],
    [
      'an --until without a time zone',
      ['-c', 'riskDetections', '--until', '2026-01-01T00:00:00'],
      /--until 2026-01-01T00:00:00 is not a date and time/,
    ],
    [
      'a --since after --until',
      ['-c', 'riskDetections', '--since', '2026-02-01T00:00:00Z', '--until', '2026-01-01T00:00:00Z'],
      /--since \(2026-02-01T00:00:00.0000000Z\) is after --until \(2026-01-01T00:00:00.0000000Z\)/,
    ],
    ['an unknown format', ['-c', 'riskDetections', '--format', 'xml'], /argument 'xml' is invalid. Allowed choices are ndjson, csv/],
    [
      '--out in a missing directory',
      ['-c', 'riskDetections', '--out', path.join(tmpdir(), 'no-such-dir-risk-sync', 'x.ndjson')],
      /the directory .*no-such-dir-risk-sync does not exist/,
    ],
    ['--out naming a directory', ['-c', 'riskDetections', '--out', tmpdir()], /--out .* is a directory: name a file/],
  ])('exits 2 for %s', async (_what, args, message) => {
    const result = await h.cli(['export', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });
});
