import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigurationError, loadSettings, type Settings } from '../config/settings';
import { hasRealSettings, resolveSettingsSource } from '../config/localSettings';
import { buildFunctions } from '../app/functions';
import { startLocalHost } from '../host/localHost';
import { COLLECTION_NAMES, isCollectionName, type CollectionName } from '../sync/collections';
import type { Logger } from '../sync/engine';
import { createSyncService } from '../sync/service';
import { collectionStatus } from '../sync/status';
import { formatStatus, formatSummary, ProgressLine } from './format';

/** Exit codes: 0 every collection completed (or was skipped because another run holds it), 1 otherwise. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export const stderrLogger: Logger = {
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m) => process.stderr.write(`warning: ${m}\n`),
  error: (m) => process.stderr.write(`error: ${m}\n`),
};

/** Settings from the environment, local.settings.json or a running demo; a configuration error ends the process. */
export function settingsOrExit(): Settings {
  const source = resolveSettingsSource();
  if (source.from !== 'environment') process.stderr.write(`using settings from ${source.from === 'demo' ? 'the running demo' : source.from}\n`);
  try {
    return loadSettings(source.env);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    throw error;
  }
}

function parseDataset(value: string, previous: CollectionName[] = []): CollectionName[] {
  if (!isCollectionName(value)) throw new InvalidArgumentError(`expected one of ${COLLECTION_NAMES.join(', ')}`);
  return [...previous, value];
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return n;
}

export function buildProgram(): Command {
  const program = new Command('risk-sync')
    .description('Sync Microsoft Entra ID Protection data (risk detections, risky users) into Azure Table Storage')
    .showHelpAfterError()
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE));

  program
    .command('sync')
    .description('one pass of each collection (all when no --dataset)')
    .addOption(new Option('-d, --dataset <name>', `collection to sync, repeatable: ${COLLECTION_NAMES.join(', ')}`).argParser(parseDataset))
    .option('--full', 'ignore the watermark and any checkpoint: read everything again (or SYNC_INITIAL_DAYS)')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--time-budget <seconds>', 'checkpoint and stop after this long (resume with the next sync)', parsePositive)
    .action(async (opts: { dataset?: CollectionName[]; full?: boolean; json?: boolean; timeBudget?: number }) => {
      const settings = settingsOrExit();
      const service = createSyncService(settings);
      const controller = new AbortController();
      const stop = () => {
        if (controller.signal.aborted) process.exit(EXIT_FAILED);
        process.stderr.write('\nstopping after the current page (press Ctrl+C again to quit at once)\n');
        controller.abort(new Error('stopped on request'));
      };
      process.once('SIGINT', stop).once('SIGTERM', stop);
      const progress = new ProgressLine(process.stderr);
      const summaries = await service.runAll(
        opts.dataset ?? [],
        {
          trigger: 'cli',
          full: opts.full,
          timeBudgetMs: opts.timeBudget === undefined ? undefined : opts.timeBudget * 1000,
          signal: controller.signal,
          onProgress: (p) => progress.update(p),
        },
        { ...stderrLogger, info: (m) => (m.startsWith('sync-run ') ? undefined : progress.log(m)) },
      );
      progress.done();
      process.stdout.write(opts.json ? `${JSON.stringify(summaries, null, 2)}\n` : formatSummary(summaries));
      const completed = summaries.every((s) => s.outcome === 'succeeded' || s.outcome === 'skipped');
      process.exitCode = completed ? EXIT_OK : EXIT_FAILED;
    });

  program
    .command('status')
    .description('watermark, checkpoint, last run and counts of each collection')
    .option('--json', 'print JSON on stdout')
    .action(async (opts: { json?: boolean }) => {
      const settings = settingsOrExit();
      const service = createSyncService(settings);
      const status = await Promise.all(COLLECTION_NAMES.map((c) => collectionStatus(service, c)));
      process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
    });

  program
    .command('serve')
    .description('the local Functions host: HTTP functions on /api/..., and with --timers the timers on their schedules')
    .option('-p, --port <port>', 'port to listen on', parsePort, 7071)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--timers', 'run the timer functions on their schedules')
    .option('--sync-now', 'run every timer function once at start')
    .action(async (opts: { port: number; host: string; timers?: boolean; syncNow?: boolean }) => {
      const settings = settingsOrExit();
      await serve(settings, opts);
    });

  program
    .command('start')
    .description('npm start: with real settings, the local host with timers and a first sync on port 7071; without, the demo')
    .option('-p, --port <port>', 'port of the HTTP API', parsePort, 7071)
    .action(async (opts: { port: number }) => {
      if (hasRealSettings()) {
        await serve(settingsOrExit(), { port: opts.port, host: '127.0.0.1', timers: true, syncNow: true });
      } else {
        const { runDemo } = loadDemo();
        await runDemo({ port: opts.port });
      }
    });

  program
    .command('emulator')
    .description('run the Graph emulator alone, seeded with demo data, and print the settings that point at it')
    .option('-p, --port <port>', 'HTTPS port', parsePort, 0)
    .option('--detections <n>', 'risk detections to seed', parsePositive, 2000)
    .option('--users <n>', 'risky users to seed', parsePositive, 300)
    .option('--seed <n>', 'random seed', parsePositive, 1)
    .option('--no-throttling', 'answer every request (no 1 request/s budget)')
    .option('--activity', 'keep the data changing like a live tenant')
    .action(async (opts: { port: number; detections: number; users: number; seed: number; throttling: boolean; activity?: boolean }) => {
      const { runStandaloneEmulator } = loadDemo();
      await runStandaloneEmulator(opts);
    });

  return program;
}

/** The demo needs the emulator and Azurite (dev dependencies): loaded only when asked for. */
function loadDemo(): typeof import('../local/demo') {
  return require('../local/demo') as typeof import('../local/demo');
}

export async function serve(settings: Settings, opts: { port: number; host: string; timers?: boolean; syncNow?: boolean }) {
  const service = createSyncService(settings);
  const functions = buildFunctions(settings, () => service);
  const host = await startLocalHost({ functions, port: opts.port, hostname: opts.host, timers: opts.timers, log: stderrLogger });
  process.stderr.write(`local Functions host on ${host.url}\n`);
  for (const fn of functions) {
    process.stderr.write(
      fn.kind === 'http'
        ? `  ${fn.name}: [${fn.methods.join(',')}] ${host.url}/api/${fn.route}\n`
        : `  ${fn.name}: timer '${fn.schedule}'${opts.timers ? '' : ' (not running: add --timers)'}\n`,
    );
  }
  const shutdown = async () => {
    process.stderr.write('shutting down\n');
    await host.close();
    process.exit(0);
  };
  process.once('SIGINT', shutdown).once('SIGTERM', shutdown);
  if (opts.syncNow) {
    await Promise.all(functions.filter((f) => f.kind === 'timer').map((f) => host.runTimer(f.name)));
  }
  return host;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exitCode = EXIT_FAILED;
  }
}
