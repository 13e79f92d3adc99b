import { Command, InvalidArgumentError, Option } from 'commander';
import { COLLECTION_NAMES, isCollectionName, type CollectionName } from '../domain/collections';
import type { Logger } from '../domain/logger';
import { COMPLETED_OUTCOMES } from '../domain/runs';
import { Credentials } from '../graph/credential';
import type * as SyncServiceModule from '../sync/service';
import { addExportCommand } from './export';
import { formatStatus, formatSummary, ProgressLine } from './format';
import { credentialOrExit, EXIT_FAILED, EXIT_USAGE, relaunchForStartupVariables, settingsOrExit } from './startup';

export { credentialOrExit, settingsOrExit } from './startup';

/**
 * Exit codes of `risk-sync sync`: 0 every collection the tenant is licensed and permitted for completed; 1 one failed or
 * stopped before the end (time budget, Ctrl+C), or its credential can never work; 2 bad usage or configuration; 3 a run
 * could not start because another live run holds a collection's lease (try again when it is done).
 */
export const EXIT_OK = 0;
export { EXIT_FAILED, EXIT_USAGE };
export const EXIT_BUSY = 3;

export const stderrLogger: Logger = {
  info: (m: string) => process.stderr.write(`${m}\n`),
  warn: (m: string) => process.stderr.write(`warning: ${m}\n`),
  error: (m: string) => process.stderr.write(`error: ${m}\n`),
};

function parseDataset(value: string, previous: CollectionName[] = []): CollectionName[] {
  if (!isCollectionName(value)) throw new InvalidArgumentError(`expected one of ${COLLECTION_NAMES.join(', ')}`);
  return [...previous, value];
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return n;
}

const loadSyncService = () => require('../sync/service') as typeof SyncServiceModule;

/** Runs `fn` once the pending promise chains have gone as far as they can (a request they start is on its way). */
function afterThisTurn<T>(fn: () => T): Promise<T> {
  return new Promise((resolve, reject) => {
    setImmediate(() => {
      try {
        resolve(fn());
      } catch (error) {
        reject(error as Error);
      }
    });
  });
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
    .option('--sweep', 'read SYNC_SWEEP_LOOKBACK_HOURS behind the watermark now (late records), whenever the last sweep was')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--time-budget <seconds>', 'checkpoint and stop after this long (resume with the next sync)', parsePositive)
    .action(async (opts: { dataset?: CollectionName[]; full?: boolean; sweep?: boolean; json?: boolean; timeBudget?: number }) => {
      const settings = settingsOrExit();
      const credentials = new Credentials();
      const checked = credentialOrExit(settings, credentials);
      // The engine's modules (the Graph client, the Table SDK: most of what a run loads) load while the token request
      // is out, not after its answer.
      const { createSyncService } = await afterThisTurn(loadSyncService);
      const service = createSyncService(settings, { credentials });
      // The runs begin while the token request is out too: they read their tables, leases and states, and write nothing
      // before the credential has been checked (one that can never work ends the command with no lease taken and no run
      // recorded). A rejection is reported by the runs, which wait for it.
      let checking = true;
      void checked.then(
        () => (checking = false),
        () => undefined,
      );
      const controller = new AbortController();
      const stop = () => {
        // Before the credential has been checked the runs have written nothing: there is nothing to end cleanly.
        if (checking || controller.signal.aborted) process.exit(EXIT_FAILED);
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
          sweep: opts.sweep,
          timeBudgetMs: opts.timeBudget === undefined ? undefined : opts.timeBudget * 1000,
          signal: controller.signal,
          onProgress: (p) => progress.update(p),
          holdWritesUntil: checked,
        },
        // The summary follows on stdout: the structured `sync-run {json}` lines (for Application Insights) are not repeated.
        {
          info: (m: string) => (m.startsWith('sync-run ') ? undefined : progress.log(m)),
          warn: (m: string) => progress.log(`warning: ${m}`),
          error: (m: string) => (m.startsWith('sync-run ') ? undefined : progress.log(`error: ${m}`)),
        },
      );
      progress.done();
      process.stdout.write(opts.json ? `${JSON.stringify(summaries, null, 2)}\n` : formatSummary(summaries));
      if (summaries.some((s) => s.outcome !== 'skipped' && !COMPLETED_OUTCOMES.includes(s.outcome))) process.exitCode = EXIT_FAILED;
      else process.exitCode = summaries.some((s) => s.outcome === 'skipped') ? EXIT_BUSY : EXIT_OK;
    });

  program
    .command('status')
    .description('watermark, checkpoint, last run and counts of each collection')
    .option('--json', 'print JSON on stdout')
    .action(async (opts: { json?: boolean }) => {
      const settings = settingsOrExit();
      const service = loadSyncService().createSyncService(settings);
      const status = await Promise.all(settings.catalog.names.map((c) => service.readModel.status(c)));
      process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
    });

  addExportCommand(program);
  return program;
}

/**
 * `extend` adds commands that are not part of the product (the local host, the demo: tools/cli.ts). It is called only
 * when the command line does not name one of the product's own commands, so `risk-sync sync` loads nothing of tools/.
 */
export async function main(argv: string[] = process.argv, extend?: (program: Command) => void): Promise<void> {
  try {
    const relaunched = await relaunchForStartupVariables(argv);
    if (relaunched !== undefined) {
      process.exitCode = relaunched;
      return;
    }
    const program = buildProgram();
    if (!namesOwnCommand(program, argv)) extend?.(program);
    await program.parseAsync(argv);
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exitCode = EXIT_FAILED;
  }
}

/** Whether the first argument names one of the program's commands (not `--help`, `help` or a local command). */
export function namesOwnCommand(program: Command, argv: readonly string[]): boolean {
  const name = argv[2];
  return name !== undefined && program.commands.some((c) => c.name() === name || c.aliases().includes(name));
}
