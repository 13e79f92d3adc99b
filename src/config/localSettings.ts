import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SETTINGS } from './settings';

/**
 * Local runs read settings the way Core Tools does: the `Values` of local.settings.json in the working directory act
 * exactly as if they were exported, and a variable set in the environment wins, key by key. Without that file, a
 * running demo (`npm start`) publishes its settings in .local/demo/settings.json, so `risk-sync status` or `sync` from
 * a second shell works on the demo's tables in the same way.
 */
export const DEMO_SETTINGS_FILE = path.join('.local', 'demo', 'settings.json');
export const LOCAL_SETTINGS_FILE = 'local.settings.json';

/** Variables the Azure SDK's credentials read, besides the app's own settings. */
const CREDENTIAL_VARIABLES = ['IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'MSI_ENDPOINT', 'MSI_SECRET', 'AZURE_FEDERATED_TOKEN_FILE'];

/** Read by Node only when a process starts: a file that sets one needs the process started again (see relaunch). */
export const STARTUP_VARIABLES = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'];

export interface SettingsSource {
  kind: 'environment' | 'local.settings.json' | 'demo';
  /** The absolute path of the file the values came from. */
  file?: string;
  /** The file's values, all of them (as strings). */
  values: Record<string, string>;
  /** The environment with the file's values added where the environment does not set them. */
  env: NodeJS.ProcessEnv;
  /** Settings of the app (and credential variables) that the environment sets, whether or not the file does. */
  fromEnvironment: string[];
}

/** A variable counts as set when it is exported with something other than blanks (as the settings read it). */
function isSet(env: NodeJS.ProcessEnv, name: string): boolean {
  const value = env[name];
  return value !== undefined && value.trim() !== '';
}

function readValues(file: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const values = (parsed as { Values?: unknown } | null)?.Values;
  if (!values || typeof values !== 'object' || Array.isArray(values)) throw new Error(`${file} has no "Values" object`);
  return Object.fromEntries(
    Object.entries(values)
      .filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      .map(([k, v]) => [k, String(v)]),
  );
}

/** True when real settings are configured (environment or local.settings.json): `npm start` then uses them. */
export function hasRealSettings(cwd = process.cwd(), env = process.env): boolean {
  if (isSet(env, 'AZURE_TENANT_ID')) return true;
  const file = path.join(cwd, LOCAL_SETTINGS_FILE);
  return existsSync(file) && Boolean(readValues(file).AZURE_TENANT_ID?.trim());
}

/** local.settings.json when there is one, else a running demo's settings, else the environment alone. */
export function resolveSettingsSource(cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): SettingsSource {
  const known = [...SETTINGS.map((s) => s.name), ...CREDENTIAL_VARIABLES];
  const fromEnvironment = known.filter((name) => isSet(env, name));
  const merged = (kind: SettingsSource['kind'], file: string, values: Record<string, string>): SettingsSource => {
    const out: NodeJS.ProcessEnv = { ...env };
    for (const [k, v] of Object.entries(values)) if (!isSet(env, k)) out[k] = v;
    return { kind, file, values, env: out, fromEnvironment };
  };
  const local = path.resolve(cwd, LOCAL_SETTINGS_FILE);
  if (existsSync(local)) return merged('local.settings.json', local, readValues(local));
  const demo = path.resolve(cwd, DEMO_SETTINGS_FILE);
  if (existsSync(demo)) {
    const values = readValues(demo);
    const pid = Number(values.DEMO_PID);
    if (pid && isAlive(pid)) return merged('demo', demo, values);
  }
  return { kind: 'environment', values: {}, env: { ...env }, fromEnvironment };
}

/** One line for stderr: where the settings came from. */
export function describeSettingsSource(source: SettingsSource, cwd = process.cwd()): string {
  const env = source.fromEnvironment.length ? source.fromEnvironment.join(', ') : undefined;
  if (source.kind === 'environment') return `settings: the environment (no ${LOCAL_SETTINGS_FILE} in ${cwd})`;
  const file = path.relative(cwd, source.file!) || source.file!;
  const where = source.kind === 'demo' ? `the running demo (${file})` : file;
  const count = Object.keys(source.values).length;
  return `settings: ${where} (${count} ${count === 1 ? 'value' : 'values'}${env ? `; from the environment: ${env}` : ''})`;
}

/** Where a setting's value came from, for error messages: the file's path, "the environment", or undefined (unset). */
export function originOf(source: SettingsSource, name: string): string | undefined {
  if (source.fromEnvironment.includes(name)) return 'the environment';
  if (source.file && source.values[name] !== undefined && source.values[name].trim() !== '') return source.file;
  return undefined;
}

/** Where a user fixes a setting: the file and the environment, or the environment alone. */
export function fixIn(source: SettingsSource): string {
  return source.kind === 'environment' ? `the environment or ${LOCAL_SETTINGS_FILE}` : `${source.file} or the environment`;
}

/** Makes the file's values visible to everything in the process that reads process.env (the Azure SDK does). */
export function applySettingsSource(source: SettingsSource, target: NodeJS.ProcessEnv = process.env): void {
  for (const [k, v] of Object.entries(source.values)) if (!isSet(target, k)) target[k] = v;
}

/** The variables the file sets that Node reads only at start-up, and the running process did not start with. */
export function startupVariablesToApply(source: SettingsSource, env: NodeJS.ProcessEnv = process.env): string[] {
  return STARTUP_VARIABLES.filter((name) => source.values[name]?.trim() && !isSet(env, name));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
