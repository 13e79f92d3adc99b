/**
 * A load generator in its own process (so that the emulator serving a sync in the orchestrator never delays it):
 * `node dist/bench/loadChild.js --url <url> --rate 200 --seconds 30`. autocannon at a fixed overall rate, with its
 * correction for coordinated omission (a request the server was too slow to let go out on time counts as late).
 * Prints `BENCH_RESULT <json>`.
 */
import { Command } from 'commander';
import { RESULT_PREFIX, type LoadChildResult } from './childProtocol';

// autocannon has no type declarations; only the fields read here are typed.
interface Histogram {
  average: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
interface AutocannonResult {
  latency: Histogram;
  requests: { total: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  duration: number;
}
const autocannon = require('autocannon') as (options: Record<string, unknown>) => Promise<AutocannonResult>;

async function main(argv: string[]): Promise<void> {
  const opts = new Command('loadChild')
    .requiredOption('--url <url>', 'URL to request')
    .option('--rate <n>', 'requests per second, all connections together', Number, 200)
    .option('--seconds <n>', 'how long', Number, 30)
    .option('--connections <n>', 'connections', Number, 10)
    .parse(argv)
    .opts<{ url: string; rate: number; seconds: number; connections: number }>();
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    overallRate: opts.rate,
    duration: opts.seconds,
    timeout: 10,
  });
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count]));
  const out: LoadChildResult = {
    kind: 'load',
    url: opts.url,
    rate: opts.rate,
    seconds: result.duration,
    requests: result.requests.total,
    latencyMs: { avg: result.latency.average, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statuses,
  };
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(out)}\n`);
}

main(process.argv).then(
  () => process.stdout.write('', () => process.exit(0)),
  (error: unknown) => {
    process.stderr.write(`loadChild failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(2);
  },
);
