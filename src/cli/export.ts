import { createWriteStream, renameSync, rmSync, statSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Option, type Command } from 'commander';
import type { ExportFormat } from '../app/export';
import type { ReadModel } from '../store/readModel';
import { formatCount, ProgressLine } from './format';
import { EXIT_FAILED, EXIT_USAGE, settingsOrExit } from './startup';

/**
 * `risk-sync export --collection <name> [--since ..] [--until ..] [--format ndjson|csv] [--out file]`: the stored
 * rows of a collection, to archive or move the data (src/app/export.ts says what is written). Progress goes to
 * stderr, the data to stdout or `--out`. An `--out` file is written beside its final name and renamed when the export
 * is complete, so a failed or stopped export never leaves a truncated file under that name (nor replaces an older one).
 * Exit codes: 0 exported (or the reader of stdout closed it, as `| head` does); 1 the export failed or was stopped; 2 bad
 * usage or configuration.
 */
interface ExportOptions {
  collection: string;
  since?: string;
  until?: string;
  format: ExportFormat;
  out?: string;
}

const FORMATS: readonly ExportFormat[] = ['ndjson', 'csv'];

function usage(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(EXIT_USAGE);
}

/** The problem with an `--out` path, checked before anything is read: its directory must exist, it must not be one. */
function outProblem(out: string): string | undefined {
  const resolved = path.resolve(out);
  const directory = path.dirname(resolved);
  const kind = (p: string) => {
    try {
      return statSync(p).isDirectory() ? 'directory' : 'file';
    } catch {
      return undefined;
    }
  };
  if (kind(directory) !== 'directory')
    return `--out ${out}: the directory ${directory} does not exist: create it first, or name a file in another one`;
  if (kind(resolved) === 'directory') return `--out ${out} is a directory: name a file, e.g. ${path.join(out, 'export.ndjson')}`;
  return undefined;
}

export function addExportCommand(program: Command): void {
  program
    .command('export')
    .description('write the stored rows of a collection as NDJSON or CSV (to stdout or --out), streamed, progress on stderr')
    .requiredOption('-c, --collection <name>', 'the collection to export (see `risk-sync status`)')
    .option('--since <datetime>', 'only rows whose cursor (e.g. lastUpdatedDateTime) is at or after this ISO 8601 time')
    .option('--until <datetime>', 'only rows whose cursor is at or before this ISO 8601 time')
    .addOption(
      new Option('-f, --format <format>', 'ndjson (one Graph-shaped record per line) or csv (as the API)').choices(FORMATS).default('ndjson'),
    )
    .option('-o, --out <file>', 'write to this file (its directory must exist) instead of stdout')
    .action(async (opts: ExportOptions) => {
      // Loaded here, not at the top: the table SDK and the API's modules are what other commands need not pay for.
      const { exportChunks, exportCollection, exportDateTime } = require('../app/export') as typeof import('../app/export');
      const { createSyncService } = require('../sync/service') as typeof import('../sync/service');
      for (const name of ['since', 'until'] as const) {
        const raw = opts[name];
        if (raw === undefined) continue;
        const value = exportDateTime(raw);
        if (value === undefined)
          usage(`--${name} ${raw} is not a date and time: give ISO 8601 with a time zone, e.g. 2024-05-01T00:00:00Z or 2024-05-01T02:00:00+02:00`);
        opts[name] = value;
      }
      if (opts.since && opts.until && opts.since > opts.until)
        usage(`--since (${opts.since}) is after --until (${opts.until}): give an earlier --since`);
      const problem = opts.out === undefined ? undefined : outProblem(opts.out);
      if (problem) usage(problem);
      const settings = settingsOrExit();
      const collection = exportCollection(settings.catalog, opts.collection);
      if (!collection) usage(`no collection '${opts.collection}': accepted collections are ${settings.catalog.names.join(', ')}`);
      await runExport(createSyncService(settings).readModel, exportChunks, { ...opts, collection });
    });
}

async function runExport(model: ReadModel, chunks: typeof import('../app/export').exportChunks, opts: ExportOptions): Promise<void> {
  const progress = new ProgressLine(process.stderr);
  const started = Date.now();
  let pages = 0;
  let rows = 0;
  const onPage = (n: number) => {
    pages++;
    rows += n;
    progress.update({ collection: opts.collection, pages, read: rows, elapsedMs: Date.now() - started });
  };
  const partial = opts.out === undefined ? undefined : `${path.resolve(opts.out)}.partial`;
  const out: WriteStream | NodeJS.WriteStream = partial === undefined ? process.stdout : createWriteStream(partial);
  const controller = new AbortController();
  const stop = () => {
    if (controller.signal.aborted) {
      if (partial !== undefined) rmSync(partial, { force: true });
      process.exit(EXIT_FAILED);
    }
    progress.log('stopping the export (press Ctrl+C again to quit at once)');
    controller.abort(new Error('stopped on request'));
  };
  process.on('SIGINT', stop).on('SIGTERM', stop);
  try {
    const source = Readable.from(chunks(model, { ...opts }, onPage), { objectMode: false });
    // Readable.from pulls the next chunk only when `out` has room: the pages are read as fast as they are written.
    await pipeline(source, out, { signal: controller.signal, end: out !== process.stdout });
    if (partial !== undefined) renameSync(partial, path.resolve(opts.out!));
    progress.done();
    const where = opts.out === undefined ? 'stdout' : opts.out;
    process.stderr.write(
      `exported ${formatCount(rows)} ${opts.collection} records (${opts.format}, ${formatCount(pages)} pages) to ${where} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  } catch (error) {
    progress.done();
    // The reader of stdout stopped reading (`| head`): what it took is what it wanted.
    if (partial === undefined && (error as NodeJS.ErrnoException).code === 'EPIPE') return;
    if (partial !== undefined) rmSync(partial, { force: true });
    const reason = controller.signal.aborted ? 'stopped on request' : (error as Error).message.split('\n', 1)[0];
    process.stderr.write(`error: the export of ${opts.collection} did not complete (${formatCount(rows)} rows read): ${reason}\n`);
    process.exitCode = EXIT_FAILED;
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
}
