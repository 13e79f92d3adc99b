import { skewedClock } from '../../src/domain/clock';
import { COLLECTIONS, COLLECTION_NAMES, type CollectionName } from '../../src/domain/collections';
import type { Logger } from '../../src/domain/logger';
import type { RunSummary } from '../../src/domain/runs';
import { checkAfterRun, checkFinal, type RunRecordOfTest, type Watermarks } from './invariants';
import { applyMutations, Clock, Prng, seedTenant } from './mutations';
import { describeAction, planSeed, type FaultAction, type FaultStep, type SeedPlan } from './schedule';
import { sleep, type World } from './world';

/**
 * One seed of the fault schedules: a fresh tenant, the seed's faulty runs (in process, both collections at once, as
 * the CLI does), the invariants after each run, then the faults cleared, one clean run, and the final invariants.
 */
/** Outages at least this long outlast the Table SDK's own retries (3, from about 1 s, doubling). */
const LONG_OUTAGE_MS = 4000;

export interface SeedResult {
  seed: number;
  runs: number;
  faultsFired: number;
  outcomes: Record<string, number>;
  violations: string[];
  log: string[];
}

export async function runFaultSeed(world: World, seed: number): Promise<SeedResult> {
  const plan = planSeed(seed);
  const result: SeedResult = { seed, runs: 0, faultsFired: 0, outcomes: {}, violations: [], log: [] };
  const log = (line: string) => result.log.push(line);
  const logger: Logger = { info: () => undefined, warn: (m) => log(`warn ${m}`), error: (m) => log(`error ${m.slice(0, 400)}`) };
  await world.reset(seed, { pageSize: plan.pageSize, emulator: { emptyPageProbability: plan.emptyPageProbability } });
  seedTenant(world.emulator, seed, plan);
  const rng = new Prng(`mutations:${seed}`);
  const clock = new Clock();
  const watermarks: Watermarks = {};
  const records: RunRecordOfTest[] = [];
  let visibleBy = 0;

  const runOnce = async (label: string, steps: FaultStep[], timeBudgetMs?: number, clockSkewMs = 0, env: Record<string, string> = plan.env) => {
    const service = world.service(env, { clock: skewedClock(clockSkewMs) });
    const pending = new Set<NodeJS.Timeout>();
    let pages = 0;
    /** A store outage longer than the Table SDK's retries: a run may then be unable to record anything. */
    let storeDown = false;
    const fire = (step: FaultStep) => {
      result.faultsFired++;
      log(`${label}: ${describeAction(step.action)}`);
      if (step.action.kind === 'storageRestart' && step.action.ms >= LONG_OUTAGE_MS) storeDown = true;
      apply(world, step.action);
    };
    const byPage = steps.filter((s) => 'page' in s.at).sort((a, b) => (a.at as { page: number }).page - (b.at as { page: number }).page);
    const firePages = () => {
      while (byPage.length > 0 && (byPage[0]!.at as { page: number }).page <= pages) fire(byPage.shift()!);
    };
    firePages();
    for (const step of steps) {
      if ('ms' in step.at) {
        const timer = setTimeout(() => {
          pending.delete(timer);
          fire(step);
        }, step.at.ms);
        pending.add(timer);
      }
    }
    const options = {
      trigger: label,
      timeBudgetMs,
      onProgress: () => {
        pages++;
        firePages();
      },
    };
    // The top-level collections at once; a child collection after its parent (as runAll does).
    const parentOf = (c: string) => COLLECTIONS[c]!.parent?.collection;
    const runs = new Map<string, Promise<RunSummary>>();
    for (const collection of COLLECTION_NAMES) {
      const parent = parentOf(collection);
      const after = parent ? runs.get(parent)!.catch(() => undefined) : Promise.resolve();
      runs.set(
        collection,
        after.then(() => service.run(collection, options, logger)),
      );
    }
    const settled = await Promise.allSettled(COLLECTION_NAMES.map((c) => runs.get(c)!));
    for (const timer of pending) clearTimeout(timer);
    world.calm();
    await world.proxy.idle();
    result.runs += settled.length;
    settled.forEach((s, i) => {
      const collection = COLLECTION_NAMES[i]!;
      if (s.status === 'rejected') {
        // The store could not be reached when the run began (lease, tables): the run fails with that error (CLI exit 1,
        // the timer function fails) and can record nothing. Anything else is a violation.
        const message = (s.reason as Error)?.message ?? String(s.reason);
        log(`${label}: ${collection} run rejected: ${message}`);
        if (storeDown) {
          result.outcomes['failed unrecorded (store down)'] = (result.outcomes['failed unrecorded (store down)'] ?? 0) + 1;
        } else {
          result.outcomes.rejected = (result.outcomes.rejected ?? 0) + 1;
          result.violations.push(`seed ${seed} ${label}: ${collection} run threw instead of ending with an outcome: ${message.slice(0, 200)}`);
        }
        return;
      }
      const summary: RunSummary = s.value;
      result.outcomes[summary.outcome] = (result.outcomes[summary.outcome] ?? 0) + 1;
      log(
        `${label}: ${collection} ${summary.outcome} pages=${summary.pages} read=${summary.read} retries=${summary.retries} restarts=${summary.restarts}${summary.error ? ` error=${summary.error.slice(0, 200)}` : ''}`,
      );
      records.push({
        collection: collection as CollectionName,
        runId: summary.runId,
        outcome: summary.outcome,
        error: summary.error,
        label,
        storeDown,
      });
    });
    return settled;
  };

  for (const [i, run] of plan.runs.entries()) {
    const label = `run ${i + 1}/${plan.runs.length}`;
    const mutated = applyMutations(world.emulator, run.mutations, rng, clock);
    visibleBy = Math.max(visibleBy, mutated.visibleBy);
    if (run.clockSkewMs) log(`${label}: the run's clock is ${run.clockSkewMs / 1000} s ${run.clockSkewMs > 0 ? 'ahead' : 'behind'}`);
    await runOnce(label, run.steps, run.timeBudgetMs, run.clockSkewMs);
    result.violations.push(...(await checkAfterRun(world, plan.lookbackMinutes, watermarks, `seed ${seed} ${label}`)));
  }

  // The faults stop; late records surface; one clean run (after the lease of a run that could not give it back).
  world.calm();
  const wait = visibleBy - performance.now();
  if (wait > 0) await sleep(wait);
  for (let attempt = 1; ; attempt++) {
    // Faults over, the requests get a timeout no loaded machine runs into: a clean run that fails is then the sync's fault.
    const settled = await runOnce(`clean run ${attempt}`, [], undefined, 0, { ...plan.env, GRAPH_REQUEST_TIMEOUT_SECONDS: '30' });
    const outcomes = settled.map((s) => (s.status === 'fulfilled' ? s.value.outcome : 'rejected'));
    if (outcomes.every((o) => o === 'succeeded')) break;
    if (attempt >= 3 || outcomes.some((o) => o !== 'succeeded' && o !== 'skipped')) {
      result.violations.push(`seed ${seed}: the clean run after the faults did not succeed: ${outcomes.join(', ')}`);
      break;
    }
    await sleep(Number(plan.env.SYNC_LEASE_SECONDS) * 1000 + 200);
  }
  result.violations.push(...(await checkAfterRun(world, plan.lookbackMinutes, watermarks, `seed ${seed} clean run`)));
  result.violations.push(...(await checkFinal(world, records, `seed ${seed}`)));
  return result;
}

function apply(world: World, action: FaultAction): void {
  switch (action.kind) {
    case 'graph':
      world.emulator.faults.add(action.spec);
      break;
    case 'expireSkipTokens':
      world.emulator.expireSkipTokens();
      break;
    case 'revokeTokens':
      world.emulator.revokeTokens();
      break;
    case 'throttling':
      world.emulator.setThrottling({ enabled: true, rps: action.rps });
      break;
    case 'storage':
      world.proxy.addFault(action.spec);
      break;
    case 'storageRestart':
      world.proxy.restart(action.ms);
      break;
  }
}

export { planSeed, type SeedPlan };
