/**
 * `npm run soak -- --seeds N [--start S] [--kills K] [--concurrency-every M] [--lease-loss-every L] [--http-runs R]`
 *
 * Runs the reliability suite's scenarios over many seeds and prints
 * `seeds: N, runs: ..., kills: ..., concurrent runs: ..., lease losses: ..., generated requests: ..., violations: V`,
 * then each violation (seed and what broke); exits 1 when V > 0.
 *  - every seed: its fault schedule (./schedule.ts), in process;
 *  - every seed with --kills K > 0: K kills -9 of a CLI sync at seeded moments, then runs until one succeeds;
 *  - every M-th seed (default 10): concurrent CLI syncs of the same collections, and a timer run overlapping a CLI sync;
 *  - every L-th seed (default 5): issue 12.1's scenario (./leaseLossRun.ts): a run's storage traffic held past its
 *    lease while a rival takes over, with options (collection, backfill, when it lands, lookback, clocks up to 90 s
 *    apart) drawn from the seed;
 *  - R generated HTTP requests in all (spread over the seeds) against the data of the seed just synced.
 */
import { spawnSync } from 'node:child_process';
import { ensureEmulatorCertificate } from '../../tools/emulator';
import { runConcurrency } from './concurrencyRun';
import { runCrashSeed } from './crashRun';
import { runFaultSeed } from './faultRun';
import { runHttp } from './httpRun';
import { runLeaseLoss, type LeaseLossOptions } from './leaseLossRun';
import { Prng } from './mutations';
import { leftoverResources, watchUnhandled } from './process';
import { startWorld, type World } from './world';

interface Options {
  seeds: number;
  start: number;
  kills: number;
  concurrencyEvery: number;
  leaseLossEvery: number;
  httpRuns: number;
  verbose: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { seeds: 20, start: 1, kills: 1, concurrencyEvery: 10, leaseLossEvery: 5, httpRuns: 1000, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${arg} takes a whole number, got ${argv[i]}`);
      return v;
    };
    if (arg === '--seeds') options.seeds = value();
    else if (arg === '--start') options.start = value();
    else if (arg === '--kills') options.kills = value();
    else if (arg === '--concurrency-every') options.concurrencyEvery = value();
    else if (arg === '--lease-loss-every') options.leaseLossEvery = value();
    else if (arg === '--http-runs') options.httpRuns = value();
    else if (arg === '--verbose') options.verbose = true;
    else throw new Error(`unknown option ${arg} (--seeds N --start S --kills K --concurrency-every M --lease-loss-every L --http-runs R --verbose)`);
  }
  return options;
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const unhandled = watchUnhandled();
  const started = Date.now();
  const totals = { seeds: 0, runs: 0, faults: 0, kills: 0, concurrent: 0, leaseLosses: 0, requests: 0 };
  const outcomes: Record<string, number> = {};
  const violations: string[] = [];
  let world: World | undefined;
  const httpPerSeed = options.seeds > 0 ? Math.ceil(options.httpRuns / options.seeds) : 0;
  try {
    world = await startWorld({ seed: options.start });
    for (let seed = options.start; seed < options.start + options.seeds; seed++) {
      const seedStarted = Date.now();
      const found: string[] = [];
      const fault = await runFaultSeed(world, seed);
      totals.runs += fault.runs;
      totals.faults += fault.faultsFired;
      for (const [k, v] of Object.entries(fault.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
      found.push(...fault.violations);
      if (fault.violations.length > 0 && options.verbose) found.push(`  log of seed ${seed}:\n    ${fault.log.join('\n    ')}`);

      if (httpPerSeed > 0 && totals.requests < options.httpRuns) {
        const http = await runHttp(world, seed, Math.min(httpPerSeed, options.httpRuns - totals.requests));
        totals.requests += http.requests;
        found.push(...http.violations);
      }
      if (options.kills > 0) {
        const crash = await runCrashSeed(world, seed, options.kills);
        totals.kills += crash.kills;
        totals.runs += crash.runs;
        found.push(...crash.violations);
      }
      if (options.concurrencyEvery > 0 && (seed - options.start) % options.concurrencyEvery === 0) {
        const concurrency = await runConcurrency(world, seed);
        totals.concurrent += concurrency.runs;
        totals.runs += concurrency.runs;
        found.push(...concurrency.violations);
      }
      if (options.leaseLossEvery > 0 && (seed - options.start) % options.leaseLossEvery === 0) {
        const leaseLoss = await runLeaseLoss(world, seed, leaseLossOptions(seed));
        totals.leaseLosses++;
        totals.runs += 2;
        found.push(...leaseLoss.violations);
        if (leaseLoss.violations.length > 0 && options.verbose) found.push(`  log of seed ${seed} lease loss:\n    ${leaseLoss.log.join('\n    ')}`);
      }
      totals.seeds++;
      violations.push(...found);
      process.stderr.write(
        `seed ${seed}: ${found.length === 0 ? 'ok' : `${found.length} violation(s)`} in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s` +
          ` (total ${totals.seeds} seeds, ${violations.length} violations, ${((Date.now() - started) / 60_000).toFixed(1)} min)\n`,
      );
      for (const v of found) process.stderr.write(`  ${v}\n`);
    }
  } finally {
    await world?.close();
  }
  // Whatever the scenarios started must be gone: children, sockets, servers, timers.
  await new Promise((r) => setTimeout(r, 200));
  const leftovers = leftoverResources();
  if (leftovers.length > 0) violations.push(`handles left open after the soak: ${leftovers.join(', ')}`);
  violations.push(...unhandled.reasons);
  unhandled.stop();

  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  process.stdout.write(
    `seeds: ${totals.seeds}, runs: ${totals.runs}, faults: ${totals.faults}, kills: ${totals.kills}, concurrent runs: ${totals.concurrent}, lease losses: ${totals.leaseLosses}, ` +
      `generated requests: ${totals.requests}, violations: ${violations.length} (${minutes} min; outcomes ${JSON.stringify(outcomes)})\n`,
  );
  for (const v of violations) process.stdout.write(`violation: ${v}\n`);
  return violations.length > 0 ? 1 : 0;
}

/** Issue 12.1's scenario, varied by the seed. */
function leaseLossOptions(seed: number): LeaseLossOptions {
  const r = new Prng(`soak lease loss:${seed}`);
  const skew = () => (r.chance(0.5) ? 0 : r.pick([90_000, -90_000, r.int(-90_000, 90_000)]));
  return {
    collection: r.chance(0.25) ? 'riskyUsers' : 'riskDetections',
    backfill: r.chance(0.4),
    skewA: skew(),
    skewB: skew(),
    lookbackMinutes: r.chance(0.5) ? 0 : 30,
    stallAfterPages: r.int(1, 3),
    ...(r.chance(0.5) ? { releaseAfterPagesOfB: r.int(1, 4) } : {}),
    detections: r.int(400, 900),
  };
}

/** The emulator's certificate must be trusted from start-up (NODE_EXTRA_CA_CERTS): re-run this script with it set. */
async function withCertificate(): Promise<void> {
  const { certPath } = await ensureEmulatorCertificate();
  if (process.env.NODE_EXTRA_CA_CERTS !== certPath) {
    const result = spawnSync(process.execPath, [__filename, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, NODE_EXTRA_CA_CERTS: certPath },
    });
    process.exit(result.status ?? 1);
  }
  process.exitCode = await main();
  // Anything still scheduled is a leak already reported; do not hang on it.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}

withCertificate().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(2);
});
