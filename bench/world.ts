/**
 * The bench's world: the one the tests run in (tools/world: Azurite in memory, the Graph emulator on loopback), and
 * child processes that run the sync with NODE_EXTRA_CA_CERTS pointing at the emulator's certificate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GraphEmulator } from '../tools/emulator';
import type { Azurite } from '../tools/azurite/azurite';
import { childEnvironment, startWorld as startSharedWorld, worldSettings } from '../tools/world';
import { parseChildResult, type ChildResult } from './childProtocol';

export interface World {
  azurite: Azurite;
  emulator: GraphEmulator;
  /** Environment of a sync child (settings pointing at this world, NODE_EXTRA_CA_CERTS). */
  env(overrides?: Record<string, string>): NodeJS.ProcessEnv;
  close(): Promise<void>;
}

export interface WorldOptions {
  /** Emulator throttling (1 request/s by default when on). */
  throttling: boolean;
  rps?: number;
  seed?: number;
  /** App settings for the sync child. */
  settings?: Record<string, string>;
}

export async function startWorld(options: WorldOptions): Promise<World> {
  const world = await startSharedWorld({ throttling: options.throttling, rps: options.rps ?? 1, seed: options.seed ?? 1 });
  const settings = { ...worldSettings(world.emulator, world.azurite.connectionString), ...options.settings };
  return {
    azurite: world.azurite,
    emulator: world.emulator,
    env: (overrides = {}) => childEnvironment({ ...settings, ...overrides }, world.certPath),
    close: () => world.close(),
  };
}

export interface ChildRun<T extends ChildResult = ChildResult> {
  result: T;
  /** Spawn to exit, measured by the parent (ms). */
  wallMs: number;
  exitCode: number | null;
  stderr: string;
}

const live = new Set<ChildProcess>();

/** Adds a child to those killed on error or interrupt; returns the function that removes it once it has exited. */
export function track(child: ChildProcess): () => void {
  live.add(child);
  return () => live.delete(child);
}

/** Kills the children still running (on error or interrupt). */
export function killChildren(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

const STDERR_KEEP = 20_000;

export interface FinishedProcess {
  /** Date.now() just before the spawn, and when the process exited. */
  spawnedAt: number;
  exitedAt: number;
  wallMs: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** The last 20,000 characters. */
  stderr: string;
}

/** Runs `node <args>` (tracked for killChildren), killed after `timeoutMs`; resolves when it exits, whatever its code. */
export function runProcess(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, cwd?: string): Promise<FinishedProcess> {
  return new Promise((resolve, reject) => {
    const spawnedAt = Date.now();
    const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const untrack = track(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 2 * STDERR_KEEP) stderr = stderr.slice(-STDERR_KEEP);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not finish within ${timeoutMs / 1000} s; stderr:\n${stderr.slice(-STDERR_KEEP)}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      untrack();
      reject(error);
    });
    child.once('close', (code, signal) => {
      const exitedAt = Date.now();
      clearTimeout(timer);
      untrack();
      resolve({ spawnedAt, exitedAt, wallMs: exitedAt - spawnedAt, exitCode: code, signal, stdout, stderr: stderr.slice(-STDERR_KEEP) });
    });
  });
}

/**
 * The V8 flags of the CLI's first line (`#!/usr/bin/env -S node <flags>`): what `npx risk-sync` runs with. Every CLI
 * process the bench starts (sync, serve) and the sync child get them; the Functions entry point's probe does not
 * (the worker runs with V8's defaults, see infra/app/function-app.bicep).
 */
export const CLI_NODE_FLAGS: readonly string[] = (() => {
  const shebang = readFileSync(path.join(__dirname, '..', '..', 'bin', 'risk-sync.js'), 'utf8').split('\n', 1)[0]!;
  return /^#!\/usr\/bin\/env -S node\b(.*)$/.exec(shebang)?.[1]!.trim().split(/\s+/).filter(Boolean) ?? [];
})();

/**
 * Runs `dist/bench/<script>.js` with the given args and env; resolves with its BENCH_RESULT line. The sync child
 * runs with the CLI's V8 flags, as `risk-sync sync` does.
 */
export async function runChild<T extends ChildResult>(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<ChildRun<T>> {
  // BENCH_CPU_PROF=<dir>: a CPU profile of every child (node --cpu-prof), for finding where a run's time goes.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const flags = script === 'syncChild' ? CLI_NODE_FLAGS : [];
  const run = await runProcess([...flags, ...profile, path.join(__dirname, `${script}.js`), ...args], env, timeoutMs);
  let result: T | undefined;
  try {
    result = parseChildResult(run.stdout) as T | undefined;
  } catch (error) {
    throw new Error(`${script} printed a result that is not JSON (${(error as Error).message}); stderr:\n${run.stderr}`, { cause: error });
  }
  if (!result) throw new Error(`${script} exited with ${run.exitCode ?? run.signal} without a result; stderr:\n${run.stderr}`);
  return { result, wallMs: run.wallMs, exitCode: run.exitCode, stderr: run.stderr };
}
