/**
 * The product's own processes as an operator or the Functions worker starts them, timed from the outside: the CLI
 * (`bin/risk-sync.js`) and the built Functions entry point. Times are taken in this process (wall clock), from just
 * before the spawn: they include the process's own start (Node booting), which is what a timer run or a cold start
 * pays.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_NODE_FLAGS, runProcess, type FinishedProcess } from './world';

const ROOT = path.join(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'risk-sync.js');
export const ENTRY = path.join(ROOT, 'dist', 'functions', 'index.js');

/** A working directory without local.settings.json or a demo's settings: the settings come from the environment only. */
export const BARE_CWD = mkdtempSync(path.join(os.tmpdir(), 'risk-sync-bench-'));

export type TimedProcess = FinishedProcess;

export function runTimed(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, nodeArgs: string[] = []): Promise<TimedProcess> {
  return runProcess([...nodeArgs, ...args], env, timeoutMs, BARE_CWD);
}

/** What `risk-sync sync --json` prints per collection (the fields the bench reads). */
export interface CliSummary {
  collection: string;
  outcome: string;
  read: number;
  requests: number;
  pages: number;
  new: number;
  updated: number;
  unchanged: number;
  durationMs?: number;
  sweep?: boolean;
  sweepFound?: number;
  error?: string;
}

/** `risk-sync sync --json [args]`; throws unless every collection succeeded. */
export async function cliSync(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<TimedProcess & { summaries: CliSummary[] }> {
  const run = await runTimed([...CLI_NODE_FLAGS, CLI, 'sync', '--json', ...args], env, timeoutMs);
  let summaries: CliSummary[];
  try {
    summaries = JSON.parse(run.stdout) as CliSummary[];
  } catch {
    throw new Error(`risk-sync sync ${args.join(' ')} printed no JSON summary (exit ${run.exitCode}); stderr:\n${run.stderr}`);
  }
  const bad = summaries.find((s) => s.outcome !== 'succeeded');
  if (run.exitCode !== 0 || bad) {
    throw new Error(
      `risk-sync sync ${args.join(' ')}: ${bad ? `${bad.collection} ${bad.outcome}: ${bad.error ?? ''}` : `exit ${run.exitCode}`}\n${run.stderr}`,
    );
  }
  return { ...run, summaries };
}

/**
 * Loads the built Functions entry point in a fresh process, as the Functions worker does (without the runtime the
 * package registers nothing, which changes nothing of what loads). Prints the entry's require time, the time from
 * process start, and the number of modules loaded.
 */
const ENTRY_PROBE = `
const t0 = performance.now();
require(${JSON.stringify(ENTRY)});
const t1 = performance.now();
process.stdout.write('ENTRY ' + JSON.stringify({ requireMs: t1 - t0, sinceStartMs: t1, modules: Object.keys(require.cache).length }) + '\\n');
`;

export interface EntryLoad {
  requireMs: number;
  sinceStartMs: number;
  modules: number;
  wallMs: number;
}

export async function loadEntry(env: NodeJS.ProcessEnv): Promise<EntryLoad> {
  const run = await runTimed(['-e', ENTRY_PROBE], env, 60_000);
  const line = run.stdout.split('\n').find((l) => l.startsWith('ENTRY '));
  if (!line) throw new Error(`the Functions entry point did not load (exit ${run.exitCode}):\n${run.stderr}`);
  return { ...(JSON.parse(line.slice('ENTRY '.length)) as Omit<EntryLoad, 'wallMs'>), wallMs: run.wallMs };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
}
