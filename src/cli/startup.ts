import { spawn } from 'node:child_process';
import {
  applySettingsSource,
  describeSettingsSource,
  fixIn,
  originOf,
  resolveSettingsSource,
  startupVariablesToApply,
  type SettingsSource,
} from '../config/localSettings';
import { ConfigurationError, loadSettings, type Settings } from '../config/settings';
import type { Credentials } from '../graph/credential';

/**
 * Start-up of a local command: the settings of local.settings.json (or a running demo) become the process's
 * environment, as if exported (the environment wins per key), so the Azure SDK's credentials see them too; then they
 * are validated. A configuration error ends the process with exit code 2, naming where each bad value came from.
 */
export const EXIT_USAGE = 2;
export const EXIT_FAILED = 1;

function resolveOrExit(): SettingsSource {
  try {
    return resolveSettingsSource();
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exit(EXIT_USAGE);
  }
}

export function settingsOrExit(): Settings {
  const source = resolveOrExit();
  applySettingsSource(source);
  process.stderr.write(`${describeSettingsSource(source)}\n`);
  try {
    return loadSettings(process.env);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      process.stderr.write(`${error.describe((name) => originOf(source, name), fixIn(source))}\n`);
      process.exit(EXIT_USAGE);
    }
    throw error;
  }
}

/**
 * Node reads NODE_EXTRA_CA_CERTS (and NODE_OPTIONS) only when a process starts: when the settings file sets one that
 * this process did not start with, the command runs again in a child that has it (the demo's settings name the Graph
 * emulator's certificate this way). Resolves with the child's exit code, or undefined when no restart is needed.
 */
export async function relaunchForStartupVariables(argv: string[]): Promise<number | undefined> {
  let source: SettingsSource;
  try {
    source = resolveSettingsSource();
  } catch {
    return undefined; // reported by settingsOrExit
  }
  const names = startupVariablesToApply(source);
  if (names.length === 0) return undefined;
  const env = { ...process.env, ...Object.fromEntries(names.map((n) => [n, source.values[n]])) };
  // Its own process group: a Ctrl+C in the terminal reaches the child once, through the forwarding below.
  const child = spawn(process.execPath, [...process.execArgv, ...argv.slice(1)], { env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => [signal, forward(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const [name, handler] of handlers) process.off(name, handler);
      resolve(code ?? (signal ? 128 + signalNumber(signal) : EXIT_FAILED));
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  return { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal as string] ?? 1;
}

/**
 * Gets a Graph token before anything else runs: a credential that can never work (a wrong secret, an unknown app or
 * tenant, no credential at all) ends the command in seconds with one line naming it and what to fix. A transient
 * failure does not stop it: the reader retries it.
 */
export async function credentialOrExit(settings: Settings, credentials: Credentials): Promise<void> {
  const failure = await credentials.for(settings).check(settings.cloud.scope);
  if (failure) {
    process.stderr.write(`error: ${failure.message}\n`);
    process.exit(EXIT_FAILED);
  }
}
