import { isDeepStrictEqual } from 'node:util';
import { skewedClock } from '../../src/domain/clock';
import { COLLECTIONS } from '../../src/domain/collections';
import type { Logger } from '../../src/domain/logger';
import type { RunSummary } from '../../src/domain/runs';
import { idOfRowKey } from '../../src/store/entityMapping';
import type { ProxiedRequest } from '../../tools/storage-proxy/storageProxy';
import { countsOfRows } from './invariants';
import { Clock, Prng, seedTenant } from './mutations';
import { sleep, TABLES, type World } from './world';

/**
 * Issue 12.1's scenario, over the wire: run A's storage traffic is held past its lease (a stall of the store's path:
 * the proxy holds every request of A, then forwards them), run B takes the lease and stores newer versions of the
 * records A was writing (and of others), then A's held transactions land. Nothing may end older than B stored, and
 * the counts must be exact as soon as both runs have ended.
 *
 * A talks through the world's proxy (which stalls), B through the clean one; each has its own clock (skew).
 */
export interface LeaseLossOptions {
  collection?: 'riskDetections' | 'riskyUsers';
  /** A's first run is the backfill of an empty table (true), or an incremental run after an initial sync. */
  backfill?: boolean;
  /** A's clock and B's, ahead (+) or behind (-) this process's, in ms. */
  skewA?: number;
  skewB?: number;
  lookbackMinutes?: number;
  /** The stall holds all of A's traffic (default: its data and state writes, so its data transactions are sent and held). */
  stallAll?: boolean;
  /** The stall starts once A has stored this many pages. */
  stallAfterPages?: number;
  /** When A's held traffic is let go: after B ended, or once B has stored this many pages. */
  releaseAfterPagesOfB?: number;
  detections?: number;
}

export interface LeaseLossResult {
  violations: string[];
  log: string[];
  a?: RunSummary;
  b?: RunSummary;
  /** A's data transactions that the stall held (they land after B took over). */
  heldBatches: number;
  /** Ids the held transactions wrote, of which B stored a newer version. */
  overtaken: number;
}

const LEASE_SECONDS = 3;

export async function runLeaseLoss(world: World, seed: number, options: LeaseLossOptions = {}): Promise<LeaseLossResult> {
  const collection = options.collection ?? 'riskDetections';
  const table = TABLES[collection];
  const rng = new Prng(`lease-loss:${seed}`);
  const result: LeaseLossResult = { violations: [], log: [], heldBatches: 0, overtaken: 0 };
  const log = (line: string) => result.log.push(line);
  const logger: Logger = { info: () => undefined, warn: (m) => log(`warn ${m}`), error: (m) => log(`error ${m.slice(0, 300)}`) };
  const label = `seed ${seed} lease loss`;
  const env = {
    SYNC_LEASE_SECONDS: String(LEASE_SECONDS),
    SYNC_LOOKBACK_MINUTES: String(options.lookbackMinutes ?? 0),
    GRAPH_MAX_RPS: '100',
    GRAPH_RETRY_BASE_MS: '20',
    GRAPH_REQUEST_TIMEOUT_SECONDS: '10',
  };
  await world.reset(seed, { pageSize: 50 });
  seedTenant(world.emulator, seed, { users: collection === 'riskyUsers' ? 400 : 40, detections: options.detections ?? 600 });
  const clock = new Clock();
  const a = world.service(env, { clock: skewedClock(options.skewA ?? 0) });
  const b = world.service(env, { clock: skewedClock(options.skewB ?? 0), clean: true });

  if (!options.backfill) {
    const initial = await b.run(collection, { trigger: 'initial' }, logger);
    if (initial.outcome !== 'succeeded') result.violations.push(`${label}: the initial sync ended ${initial.outcome}: ${initial.error}`);
    bump(world, collection, someIds(world, collection, rng, 0.6), clock);
  }

  // A runs; once it has stored some pages, every request it sends is held.
  let stalled = false;
  const stallAfter = options.stallAfterPages ?? 1;
  const aDone = a.run(
    collection,
    {
      trigger: 'A',
      onProgress: (p) => {
        if (!stalled && p.pages >= stallAfter) {
          stalled = true;
          // By default A's data transactions first (A reads the rows it is about to write and writes their change
          // rows, those go first), then, once one is held, its state writes and lease renewals (below): held at once,
          // a renewal due before a data write could keep every data transaction from being sent.
          world.proxy.addFault({ kind: 'stall', ...(options.stallAll ? {} : { match: { kinds: ['batch'], tables: [table] } }) });
          log(`A stalled after ${p.pages} pages`);
        }
      },
    },
    logger,
  );
  aDone.catch(() => undefined);
  const first = await Promise.race([world.proxy.held().then(() => 'held' as const), aDone.then(() => 'ended' as const)]);
  if (first === 'ended') {
    result.a = await aDone;
    result.violations.push(`${label}: A ended (${result.a.outcome}) before its traffic was held: the tenant is too small for the stall`);
    return result;
  }
  // A's writer goes on until its pages in flight are all held (a data transaction at least), then B gets newer
  // versions of what A holds.
  const holdsData = () => world.proxy.stalled().some((r) => r.kind === 'batch' && r.tables.includes(table));
  for (let waited = 0; !holdsData() && waited < 20_000; waited += 50) await sleep(50);
  if (!options.stallAll) world.proxy.addFault({ kind: 'stall', match: { kinds: ['batch', 'write'], tables: [TABLES.state] } });
  await sleep(200); // the rest of what A has in flight
  const heldIds = new Set(
    world.proxy
      .stalled()
      .flatMap((r) => rowKeysOf(r, table))
      .map(idOfRowKey),
  );
  result.heldBatches = world.proxy.stalled().filter((r) => r.kind === 'batch' && r.tables.includes(table)).length;
  bump(world, collection, [...heldIds], clock);
  bump(world, collection, someIds(world, collection, rng, 0.1), clock);
  log(`A holds ${result.heldBatches} data transactions (${heldIds.size} rows); B gets newer versions of them`);

  // B takes the lease once it has run out on Table Storage's clock, and syncs.
  let release: (() => void) | undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const releaseNow = () => {
    world.proxy.releaseStalls();
    release!();
  };
  for (let attempt = 0; ; attempt++) {
    const summary = await b.run(
      collection,
      {
        trigger: 'B',
        onProgress: (p) => {
          if (options.releaseAfterPagesOfB !== undefined && p.pages >= options.releaseAfterPagesOfB) releaseNow();
        },
      },
      logger,
    );
    if (summary.outcome !== 'skipped') {
      result.b = summary;
      break;
    }
    if (attempt > 120) {
      result.violations.push(`${label}: B never got the lease: ${summary.error}`);
      break;
    }
    await sleep(250);
  }
  releaseNow();
  await released;
  result.a = await aDone;
  await world.proxy.idle();
  log(`A ended ${result.a.outcome} (${result.a.error ?? ''}); B ended ${result.b?.outcome} (${result.b?.error ?? ''})`);

  // Nothing older than what Graph serves now (B read it all after the last change), and exact counts, at once.
  const [stored, state] = await Promise.all([world.stored(collection), world.state(collection)]);
  const expected = world.expected(collection);
  const storedById = new Map(stored.map((r) => [String(r.id), r]));
  const cursor = COLLECTIONS[collection].cursor;
  for (const record of expected) {
    const row = storedById.get(String(record.id));
    if (row && isDeepStrictEqual(row, record)) continue;
    result.violations.push(
      `${label}: ${collection} ${String(record.id).slice(0, 30)} is ${row ? `stored at ${String(row[cursor])}` : 'missing'}, Graph has ${String(record[cursor])}`,
    );
    if (result.violations.length > 5) break;
  }
  // The held rows that end as B stored them (newer than what A held): the scenario did overtake A's writes.
  const expectedById = new Map(expected.map((r) => [String(r.id), r]));
  result.overtaken = [...heldIds].filter((id) => expectedById.has(id) && isDeepStrictEqual(storedById.get(id), expectedById.get(id))).length;
  const counted = countsOfRows(collection, stored);
  if (!isDeepStrictEqual(normalizeCounts(state.aggregates), normalizeCounts(counted)))
    result.violations.push(`${label}: ${collection} counts ${JSON.stringify(state.aggregates)} != rows ${JSON.stringify(counted)}`);
  if (result.b?.outcome !== 'succeeded') result.violations.push(`${label}: B ended ${result.b?.outcome}: ${result.b?.error}`);
  // Each run has its SyncRuns row with its outcome (A's is written after B's run: it is not fenced, and says A failed).
  const rows = new Map((await world.runs(collection)).map((r) => [String(r.runId), r]));
  for (const run of [result.a, result.b]) {
    if (run && rows.get(run.runId)?.outcome !== run.outcome)
      result.violations.push(`${label}: run ${run.trigger} ended ${run.outcome}, its SyncRuns row says ${String(rows.get(run.runId)?.outcome)}`);
  }
  return result;
}

/** Newer versions (cursor now) of these records in Graph. */
/** The ids of about `share` of the records Graph serves, drawn with the seed's stream. */
function someIds(world: World, collection: 'riskDetections' | 'riskyUsers', rng: Prng, share: number): string[] {
  return world.emulator
    .list(collection, { visibleOnly: true })
    .map((r) => String(r.id))
    .filter(() => rng.chance(share));
}

function bump(world: World, collection: 'riskDetections' | 'riskyUsers', ids: string[], clock: Clock): void {
  const states = ['dismissed', 'remediated', 'atRisk', 'confirmedSafe'] as const;
  const byId = new Map(world.emulator.list(collection, { visibleOnly: true }).map((r) => [String(r.id), r]));
  for (const [i, id] of ids.entries()) {
    const record = byId.get(id);
    if (!record) continue;
    const cursor = COLLECTIONS[collection].cursor;
    world.emulator.upsert(
      collection as 'riskDetections',
      {
        ...(record as unknown as Record<string, unknown>),
        riskState: states[i % states.length],
        riskLevel: i % 2 ? 'high' : 'low',
        [cursor]: clock.next(),
      } as never,
    );
  }
}

/** The RowKeys a request writes in this table: in a $batch, each operation's URL or body. */
function rowKeysOf(request: ProxiedRequest, table: string): string[] {
  if (!request.tables.includes(table) || request.kind !== 'batch') return [];
  const keys = new Set<string>();
  for (const m of request.body.matchAll(/"RowKey":"((?:[^"\\]|\\.)*)"/g)) keys.add(JSON.parse(`"${m[1]}"`) as string);
  for (const m of request.body.matchAll(/RowKey='((?:[^']|'')*)'/g)) keys.add(decodeURIComponent(m[1]!).replace(/''/g, "'"));
  return [...keys];
}

function normalizeCounts(a: { total: number; by: Record<string, Record<string, number>> }) {
  const by: Record<string, Record<string, number>> = {};
  for (const [column, values] of Object.entries(a.by)) {
    const kept = Object.entries(values).filter(([, n]) => n !== 0);
    if (kept.length > 0) by[column] = Object.fromEntries(kept.sort(([x], [y]) => (x < y ? -1 : 1)));
  }
  return { total: a.total, by };
}
