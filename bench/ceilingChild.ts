/**
 * The ceiling of the storage path, in its own process like the sync:
 * `node dist/bench/ceilingChild.js --source RiskDetections --target <new table>`.
 *
 * Reads every row the sync wrote (untimed, `disableTypeConversion: true` so typed values stay `{value, type}` and are
 * written back with the same EDM types), then rewrites them into a new, empty table with ideal batching: grouped by
 * PartitionKey, 100 `create` actions per entity group transaction, 4 transactions in flight. Only the writing is
 * timed. TABLES_CONNECTION_STRING comes from the environment. Prints `BENCH_RESULT <json>`.
 */
import { TableClient, type TransactionAction } from '@azure/data-tables';
import { Command } from 'commander';
import { wireValue } from '../src/store/edm';
import { RESULT_PREFIX, type CeilingChildResult } from './childProtocol';
import { ownCpuMs, processCpuMs } from './cpu';

const BATCH = 100;
const IN_FLIGHT = 4;

type Row = Record<string, unknown> & { partitionKey: string; rowKey: string };

/** The properties to write back: drop the service's own (etag, Timestamp, odata.* annotations). */
function writable(raw: Record<string, unknown>): Row {
  const row: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name === 'etag' || name === 'timestamp' || name === 'Timestamp' || name.startsWith('odata.')) continue;
    row[name] = value;
  }
  row.partitionKey = String(wireValue(row.partitionKey));
  row.rowKey = String(wireValue(row.rowKey));
  return row as Row;
}

async function main(argv: string[]): Promise<number> {
  const opts = new Command('ceilingChild')
    .requiredOption('--source <table>', 'table the sync wrote')
    .requiredOption('--target <table>', 'new table to write into')
    .option('--azurite-pid <pid>', "Azurite's process id, to report its CPU time while writing", Number)
    .parse(argv)
    .opts<{ source: string; target: string; azuritePid?: number }>();
  const connection = process.env.TABLES_CONNECTION_STRING;
  if (!connection) throw new Error('TABLES_CONNECTION_STRING is not set');
  const client = (table: string) => TableClient.fromConnectionString(connection, table, { allowInsecureConnection: true });
  const source = client(opts.source);
  const target = client(opts.target);

  const readStart = performance.now();
  const byPartition = new Map<string, Row[]>();
  let rows = 0;
  for await (const raw of source.listEntities<Record<string, unknown>>({ disableTypeConversion: true })) {
    const row = writable(raw);
    let list = byPartition.get(row.partitionKey);
    if (!list) byPartition.set(row.partitionKey, (list = []));
    list.push(row);
    rows++;
  }
  const readMs = performance.now() - readStart;

  const batches: TransactionAction[][] = [];
  for (const list of byPartition.values()) {
    for (let i = 0; i < list.length; i += BATCH) batches.push(list.slice(i, i + BATCH).map((row): TransactionAction => ['create', row]));
  }
  await target.createTable();

  const cpuBefore = ownCpuMs();
  const azuriteBefore = processCpuMs(opts.azuritePid);
  const writeStart = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++]!;
      await target.submitTransaction(batch);
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, batches.length) }, worker));
  const writeMs = performance.now() - writeStart;
  const cpuMs = ownCpuMs() - cpuBefore;
  const azuriteAfter = processCpuMs(opts.azuritePid);

  const result: CeilingChildResult = {
    kind: 'ceiling',
    rows,
    partitions: byPartition.size,
    transactions: batches.length,
    readMs,
    writeMs,
    maxRssKB: process.resourceUsage().maxRSS,
    cpuMs,
    azuriteCpuMs: azuriteBefore !== undefined && azuriteAfter !== undefined ? azuriteAfter - azuriteBefore : undefined,
  };
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
  return 0;
}

main(process.argv).then(
  // Exit once the result line is flushed: a pipe takes a large write in several chunks.
  (code) => void process.stdout.write('', () => process.exit(code)),
  (error: unknown) => {
    process.stderr.write(`ceilingChild failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(2);
  },
);
