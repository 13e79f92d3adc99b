import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigurationError, loadSettings, SETTINGS } from '../../src/config/settings';

/**
 * Configuration (issue 6): every setting missing, empty or malformed gives a start-up error that names it. The table
 * is generated from SETTINGS, so a setting added later is covered without touching this file: each setting gets a
 * battery of malformed values; every value it refuses must be refused with a ConfigurationError naming it (never
 * another error, never a secret echoed back), and it must refuse at least one, unless it is listed in ANY_TEXT with
 * the reason it takes any text. The CLI (exit 2, the name on stderr) and the built Functions entry point (throws at
 * load, naming it) are checked with the same values.
 */
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '0f5e2d3c-6b7a-4c8d-9e0f-1a2b3c4d5e6f';
const BASE: Record<string, string> = { AZURE_TENANT_ID: TENANT, TABLES_ENDPOINT: 'https://acct.table.core.windows.net' };

/** Settings that accept any text, and why. A new setting without a rule fails this test until it is listed here. */
const ANY_TEXT: Record<string, string> = {
  AZURE_CLIENT_SECRET: 'a client secret is opaque: any text may be one (it needs AZURE_CLIENT_ID, checked below)',
  AZURE_CLIENT_CERTIFICATE_PATH: 'a file path: whether it can be read is the credential’s business at the first token request',
};

/** Malformed for some setting or other: numbers out of range or not numbers, bad URLs, bad cron, bad names. */
const JUNK = [
  'not valid ☃',
  '-1',
  '0',
  '1e999',
  'NaN',
  '0x10',
  '1.5',
  '99999999',
  'https://',
  'http://127.0.0.1:1',
  'ftp://host',
  'https://graph.example.net/v1.0',
  '0 */10 * * *',
  '* * * * * * *',
  '61 * * * * *',
  'bad name!',
  'ab',
  'x'.repeat(300),
  'a\u0000b',
  'AccountKey=secretvalue123',
];

/** The base settings a value is tried with (what the setting needs to be meaningful). */
function baseFor(name: string): Record<string, string> {
  if (name === 'TABLES_CONNECTION_STRING') return { AZURE_TENANT_ID: TENANT };
  if (name === 'AZURE_CLIENT_SECRET' || name === 'AZURE_CLIENT_CERTIFICATE_PATH') return { ...BASE, AZURE_CLIENT_ID: CLIENT };
  return BASE;
}

type Outcome = { accepted: true } | { accepted: false; error: unknown };

function tryLoad(env: Record<string, string>): Outcome {
  try {
    loadSettings(env);
    return { accepted: true };
  } catch (error) {
    return { accepted: false, error };
  }
}

interface Refusal {
  setting: string;
  value: string;
}

const refusals: Refusal[] = [];

describe('configuration: every setting of SETTINGS', () => {
  it('the base settings load', () => {
    expect(() => loadSettings(BASE)).not.toThrow();
  });

  it.each(SETTINGS.map((s) => [s.name, s] as const))(
    '%s: each malformed value is refused naming it (or the setting takes any text)',
    (name, info) => {
      const refused: string[] = [];
      for (const value of JUNK) {
        const outcome = tryLoad({ ...baseFor(name), [name]: value });
        if (outcome.accepted) continue;
        const { error } = outcome;
        expect(error).toBeInstanceOf(ConfigurationError);
        const problems = (error as ConfigurationError).problems;
        expect(problems.map((p) => p.setting)).toContain(name);
        expect((error as Error).message).toContain(`${name}:`);
        if (info.secret && value.length >= 8) expect((error as Error).message).not.toContain(value);
        refused.push(value);
        refusals.push({ setting: name, value });
      }
      if (name in ANY_TEXT) {
        expect(refused).toEqual([]);
      } else {
        expect(refused.length).toBeGreaterThan(0);
      }
    },
  );

  it.each(SETTINGS.map((s) => [s.name, s] as const))(
    '%s: missing or empty is an error naming it when required, the default otherwise',
    (name, info) => {
      for (const value of [undefined, '', '   ']) {
        const env: Record<string, string> = { ...baseFor(name) };
        if (value === undefined) delete env[name];
        else env[name] = value;
        if (name === 'TABLES_ENDPOINT') delete env.TABLES_CONNECTION_STRING;
        const outcome = tryLoad(env);
        // One of TABLES_ENDPOINT and TABLES_CONNECTION_STRING is required: the error names both.
        const required = info.required || name === 'TABLES_ENDPOINT' || name === 'TABLES_CONNECTION_STRING';
        if (required) {
          expect(outcome.accepted).toBe(false);
          if (!outcome.accepted) {
            const error = outcome.error as ConfigurationError;
            expect(error).toBeInstanceOf(ConfigurationError);
            expect(error.message).toContain(name);
          }
        } else {
          expect(outcome).toEqual({ accepted: true });
        }
      }
    },
  );

  it('a setting that needs another names the missing one; several bad settings are all named at once', () => {
    for (const name of ['AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH']) {
      const outcome = tryLoad({ ...BASE, [name]: 'x' });
      expect(outcome.accepted).toBe(false);
      if (!outcome.accepted)
        expect((outcome.error as ConfigurationError).problems).toContainEqual({ setting: 'AZURE_CLIENT_ID', message: expect.stringContaining(name) });
    }
    const bad = Object.fromEntries(
      SETTINGS.filter((s) => !(s.name in ANY_TEXT) && s.name !== 'TABLES_CONNECTION_STRING' && s.name !== 'TABLES_ENDPOINT').map((s) => [
        s.name,
        'not valid ☃',
      ]),
    );
    const outcome = tryLoad({ ...BASE, ...bad });
    expect(outcome.accepted).toBe(false);
    if (!outcome.accepted) {
      const named = new Set((outcome.error as ConfigurationError).problems.map((p) => p.setting));
      for (const name of Object.keys(bad)) expect(named).toContain(name);
    }
  });

  it('a secret in a value (a URL password, a query, an account key) is never echoed, whichever setting holds it', () => {
    const SECRETS = ['Pa55w0rdInUrl', 'S1gnatureInQuery', 'AccountK3yValue'];
    const values = [
      'https://user:Pa55w0rdInUrl@host.example.com',
      'http://user:Pa55w0rdInUrl@127.0.0.1:1',
      'https://host.example.com/path?sig=S1gnatureInQuery&sv=2024',
      'DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=AccountK3yValue;TableEndpoint=http://acct.example.com',
      'AccountName=acct;AccountKey=AccountK3yValue',
    ];
    for (const setting of SETTINGS) {
      for (const value of values) {
        const outcome = tryLoad({ ...baseFor(setting.name), [setting.name]: value });
        if (outcome.accepted) continue;
        const message = (outcome.error as Error).message;
        for (const secret of SECRETS)
          expect({ setting: setting.name, value, leaked: message.includes(secret) }).toEqual({ setting: setting.name, value, leaked: false });
      }
    }
  });

  it('two settings naming the same table are refused, naming the second', () => {
    const tables = SETTINGS.filter((s) => s.name.startsWith('TABLE_'));
    for (let i = 1; i < tables.length; i++) {
      const outcome = tryLoad({ ...BASE, [tables[0]!.name]: 'SameTable', [tables[i]!.name]: 'sametable' });
      expect(outcome.accepted).toBe(false);
      if (!outcome.accepted) expect((outcome.error as ConfigurationError).problems.map((p) => p.setting)).toContain(tables[i]!.name);
    }
  });
});

describe('configuration: the CLI and the Functions entry point stop at start-up naming the setting', () => {
  const root = path.join(__dirname, '..', '..');
  const cli = path.join(root, 'bin', 'risk-sync.js');
  let cwd: string;
  beforeAll(() => {
    cwd = mkdtempSync(path.join(tmpdir(), 'risk-sync-config-')); // no local.settings.json, no demo
  });
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  /** One refused value per setting (the first found above), and the missing tenant. */
  const sample = () => {
    const one = new Map<string, string>();
    for (const r of refusals) if (!one.has(r.setting)) one.set(r.setting, r.value);
    return [...one.entries()];
  };

  it('the CLI exits 2 with the setting on stderr, for a sample of settings, before touching anything', () => {
    const all = sample();
    expect(all.length).toBeGreaterThan(10);
    // A sample: every fourth setting (the Functions entry point below takes them all).
    const cases = [...all.filter((_, i) => i % 4 === 0), ['AZURE_TENANT_ID', ''] as [string, string]];
    const env = { ...process.env };
    for (const key of Object.keys(env)) if (/^(AZURE_|GRAPH_|SYNC_|TABLE|HTTP_|SNAPSHOT_|IDENTITY_)/.test(key)) delete env[key];
    // One parent script starts the CLI once per case, all at once.
    const script = `
      const cases = JSON.parse(process.argv[1]);
      const { spawn } = require('node:child_process');
      Promise.all(cases.map(([name, value, base]) => new Promise((resolve) => {
        const child = spawn(process.execPath, [${JSON.stringify(cli)}, 'sync'], { env: { ...process.env, ...base, [name]: value } });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (status) => resolve({ name, status, stderr }));
      }))).then((out) => process.stdout.write(JSON.stringify(out)));`;
    const payload = cases.map(([name, value]) => [
      name,
      value,
      name === 'AZURE_TENANT_ID' ? { TABLES_ENDPOINT: BASE.TABLES_ENDPOINT } : baseFor(name),
    ]);
    const result = spawnSync(process.execPath, ['-e', script, JSON.stringify(payload)], { env, cwd, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    const answers = JSON.parse(result.stdout) as { name: string; status: number; stderr: string }[];
    for (const a of answers) {
      expect({ name: a.name, status: a.status }).toEqual({ name: a.name, status: 2 });
      expect(a.stderr).toContain(`${a.name}:`);
      expect(a.stderr).not.toContain('secretvalue123');
    }
  }, 120_000);

  it('the built Functions entry point throws at load, naming the setting', () => {
    const main = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { main: string }).main;
    const dir = path.join(root, path.dirname(main));
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.js'))
      .map((f) => path.join(dir, f));
    expect(files.length).toBeGreaterThan(0);
    jest.doMock('@azure/functions', () => ({ app: { setup: () => undefined, timer: () => undefined, http: () => undefined } }));
    const cases = [...sample(), ['AZURE_TENANT_ID', ''] as [string, string]];
    const saved = { ...process.env };
    try {
      for (const [name, value] of cases) {
        for (const key of Object.keys(process.env)) if (/^(AZURE_|GRAPH_|SYNC_|TABLE|HTTP_|SNAPSHOT_)/.test(key)) delete process.env[key];
        Object.assign(process.env, name === 'AZURE_TENANT_ID' ? { TABLES_ENDPOINT: BASE.TABLES_ENDPOINT } : baseFor(name), { [name]: value });
        let thrown: unknown;
        jest.isolateModules(() => {
          try {
            files.forEach((file) => require(file));
          } catch (error) {
            thrown = error;
          }
        });
        expect(thrown).toBeDefined();
        expect(String((thrown as Error).message)).toContain(`${name}:`);
      }
    } finally {
      process.env = saved;
    }
  }, 120_000);
});
