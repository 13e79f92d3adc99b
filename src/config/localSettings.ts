import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Local runs read settings the way Core Tools does: the environment first, then the `Values` of local.settings.json
 * in the working directory. Without either, a running demo (`npm start`) publishes its settings in
 * .local/demo/settings.json, so `risk-sync status` from a second shell looks at the demo's tables.
 */
export const DEMO_SETTINGS_FILE = path.join('.local', 'demo', 'settings.json');

export interface SettingsSource {
  env: NodeJS.ProcessEnv;
  /** Where the settings came from, for one line on stderr. */
  from: 'environment' | 'local.settings.json' | 'demo';
}

function readValues(file: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const values = (parsed as { Values?: unknown }).Values;
  if (!values || typeof values !== 'object') throw new Error(`${file} has no "Values" object`);
  return Object.fromEntries(
    Object.entries(values)
      .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
      .map(([k, v]) => [k, String(v)]),
  );
}

/** True when real settings are configured (environment or local.settings.json): `npm start` then uses them. */
export function hasRealSettings(cwd = process.cwd(), env = process.env): boolean {
  if (env.AZURE_TENANT_ID) return true;
  const file = path.join(cwd, 'local.settings.json');
  return existsSync(file) && Boolean(readValues(file).AZURE_TENANT_ID);
}

export function resolveSettingsSource(cwd = process.cwd(), env = process.env): SettingsSource {
  if (env.AZURE_TENANT_ID) return { env, from: 'environment' };
  const local = path.join(cwd, 'local.settings.json');
  if (existsSync(local)) return { env: { ...readValues(local), ...env }, from: 'local.settings.json' };
  const demo = path.join(cwd, DEMO_SETTINGS_FILE);
  if (existsSync(demo)) {
    const values = readValues(demo);
    const pid = Number(values.DEMO_PID);
    if (pid && isAlive(pid)) return { env: { ...values, ...env }, from: 'demo' };
  }
  return { env, from: 'environment' };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
