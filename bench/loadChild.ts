/**
 * A load generator in its own process (so that the emulator serving a sync in the orchestrator never delays it):
 * `node dist/bench/loadChild.js --url <url> --rate 200 --seconds 30`. Requests at a fixed rate, open loop, latency
 * from when each was due (see fixedRateLoad). Prints `BENCH_RESULT <json>`.
 */
import { Command } from 'commander';
import { RESULT_PREFIX, type LoadChildResult } from './childProtocol';
import { fixedRateLoad } from './fixedRateLoad';

async function main(argv: string[]): Promise<void> {
  const opts = new Command('loadChild')
    .requiredOption('--url <url>', 'URL to request')
    .option('--rate <n>', 'requests per second, all connections together', Number, 200)
    .option('--seconds <n>', 'how long', Number, 30)
    .option('--connections <n>', 'keep-alive connections at most', Number, 10)
    .parse(argv)
    .opts<{ url: string; rate: number; seconds: number; connections: number }>();
  const result = await fixedRateLoad({ url: opts.url, rate: opts.rate, seconds: opts.seconds, connections: opts.connections });
  const out: LoadChildResult = { kind: 'load', url: opts.url, rate: opts.rate, seconds: opts.seconds, ...result };
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(out)}\n`);
}

main(process.argv).then(
  () => process.stdout.write('', () => process.exit(0)),
  (error: unknown) => {
    process.stderr.write(`loadChild failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(2);
  },
);
