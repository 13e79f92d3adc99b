/**
 * The commands of `risk-sync` that run things on this machine rather than the product itself: the local Functions
 * host (`serve`, `start` with real settings), the demo (`start` without) and the Graph emulator. bin/risk-sync.js adds
 * them to the product's CLI when this folder is built (it is not part of the deployment package).
 */
import { type Command, Option } from 'commander';
import { fixedServices } from '../src/app/services';
import { STATE_CACHE_MS } from '../src/app/stateCache';
import { buildFunctions } from '../src/app/functions';
import { credentialOrExit, EXIT_FAILED, parsePort, settingsOrExit, stderrLogger } from '../src/cli/main';
import { hasRealSettings } from '../src/config/localSettings';
import type { Settings } from '../src/config/settings';
import { Credentials } from '../src/graph/credential';
import { createRunQueue, queueClients } from '../src/store/runQueue';
import { createSyncService } from '../src/sync/service';
import type { StandaloneEmulatorOptions } from './demo/demo';
import { PortInUseError, startLocalHost, type ListeningMessage, type LocalHost } from './host/localHost';

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error('expected a positive number');
  return n;
}

function parseProbability(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new Error('expected a probability from 0 to 1');
  return n;
}

/** `--permissions IdentityRiskEvent.Read.All,IdentityRiskyUser.Read.All`; an empty string grants none. */
function parsePermissions(value: string): string[] {
  return value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

export function addLocalCommands(program: Command): void {
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
    .option('--phantom-next-link', 'demo: the emulator sends the phantom last next link of microsoft-graph-docs#16332')
    .action(async (opts: { port: number; phantomNextLink?: boolean }) => {
      if (hasRealSettings()) {
        await serve(settingsOrExit(), { port: opts.port, host: '127.0.0.1', timers: true, syncNow: true });
      } else {
        const { runDemo } = loadDemo();
        process.exitCode = await runDemo({ port: opts.port, phantomNextLink: opts.phantomNextLink === true });
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
    .addOption(
      new Option(
        '--licence <licence>',
        'the tenant licence: without P2 riskyUsers answer 403, without P1 riskDetections too; P1 hides premium detections',
      )
        .choices(['P2', 'P1', 'none'])
        .default('P2'),
    )
    .addOption(
      new Option('--unlicensed-code <code>', 'the error code of the licence 403s')
        .choices(['Authentication_RequestFromNonPremiumTenantOrB2CTenant', 'NoLicense'])
        .default('Authentication_RequestFromNonPremiumTenantOrB2CTenant'),
    )
    .option('--permissions <list>', 'application permissions the tokens carry, comma-separated (default: both read permissions)', parsePermissions)
    .option('--phantom-next-link', 'a last page of exactly $top records still has a next link, which answers 400 (microsoft-graph-docs#16332)')
    .option('--history-only-current', 'riskyUsers/{id}/history returns the current item only (microsoft-graph-docs#16407)')
    .option('--late-offline <probability>', 'with the activity: chance per round of an offline detection surfacing up to 48 h late', parseProbability)
    .option('--rescore <probability>', 'with the activity: chance per round of an offline detection re-scored late', parseProbability)
    .action(async (opts: StandaloneEmulatorOptions) => {
      const { runStandaloneEmulator } = loadDemo();
      await runStandaloneEmulator(opts);
    });
}

/** The demo needs the emulator and Azurite (dev dependencies): loaded only when asked for. */
function loadDemo(): typeof import('./demo/demo') {
  return require('./demo/demo') as typeof import('./demo/demo');
}

/**
 * The local host until Ctrl+C (or SIGTERM, or the parent's IPC channel closing): the first stops the timers and the
 * runs in progress (they checkpoint) and waits for them; a second one quits at once. A port in use ends the process
 * at once, naming the port.
 */
export async function serve(settings: Settings, opts: { port: number; host: string; timers?: boolean; syncNow?: boolean }): Promise<LocalHost> {
  const credentials = new Credentials();
  if (opts.timers) await credentialOrExit(settings, credentials);
  const service = createSyncService(settings, { credentials });
  // POST /api/runs sends to the queue the local host polls (Azurite's, from the connection string's QueueEndpoint).
  const credential = () => credentials.for(settings);
  // The API answers from state read at most a second ago, as the Functions app does (src/app/stateCache.ts).
  const functions = buildFunctions(
    settings,
    fixedServices(service, { stateCacheMs: STATE_CACHE_MS, runQueue: createRunQueue(settings, credential) }),
  );
  const queues = queueClients(settings, credential);
  let host: LocalHost;
  try {
    host = await startLocalHost({ functions, port: opts.port, hostname: opts.host, timers: opts.timers, queues, log: stderrLogger });
  } catch (error) {
    if (!(error instanceof PortInUseError)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(EXIT_FAILED);
  }
  process.stderr.write(`local Functions host on ${host.url}\n`);
  for (const fn of functions) {
    process.stderr.write(
      fn.kind === 'http'
        ? `  ${fn.name}: [${fn.methods.join(',')}] ${host.url}/api/${fn.route}\n`
        : fn.kind === 'queue'
          ? `  ${fn.name}: queue '${fn.queueName}'${host.polls(fn.name) ? '' : ' (not polled: no queue service in the settings)'}\n`
          : `  ${fn.name}: timer '${fn.schedule}'${opts.timers ? '' : ' (not running: add --timers)'}\n`,
    );
  }
  let stopping = false;
  const shutdown = () => {
    if (stopping) {
      process.stderr.write('quitting at once\n');
      process.exit(EXIT_FAILED);
    }
    stopping = true;
    process.stderr.write('shutting down: the runs in progress checkpoint and stop (press Ctrl+C again to quit at once)\n');
    void host.close().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown).on('SIGTERM', shutdown);
  if (process.send) {
    process.send({ type: 'listening', url: host.url } satisfies ListeningMessage);
    process.once('disconnect', () => stopping || shutdown()); // the parent went away
    process.channel?.unref();
  }
  if (opts.syncNow) {
    // A first sync at start: every collection, due or not.
    await Promise.all(functions.filter((f) => f.kind === 'timer').map((f) => host.runTimer(f.name, { all: true })));
  }
  return host;
}
