import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Loads the BUILT entry point exactly as the Functions worker does (package.json "main" glob) with a stand-in for
 * the runtime's registration module, and checks every registration. A wrong glob, a missing function, a schedule or
 * an auth level that does not follow the settings fails here.
 */
interface Registration {
  kind: 'timer' | 'http';
  name: string;
  schedule?: string;
  runOnStartup?: boolean;
  route?: string;
  methods?: string[];
  authLevel?: string;
  handler: unknown;
}

const mockRegistrations: Registration[] = [];
jest.mock('@azure/functions', () => ({
  app: {
    setup: () => undefined,
    timer: (name: string, options: object) => mockRegistrations.push({ kind: 'timer', name, ...options } as Registration),
    http: (name: string, options: object) => mockRegistrations.push({ kind: 'http', name, ...options } as Registration),
  },
}));

const root = path.join(__dirname, '..', '..');
const ENV = { AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47', TABLES_ENDPOINT: 'https://acct.table.core.windows.net' };

function entryFiles(): string[] {
  const main = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { main: string }).main;
  expect(main).toMatch(/^dist\/[\w/]+\/\*\.js$/);
  const dir = path.join(root, path.dirname(main));
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => path.join(dir, f));
  expect(files.length).toBeGreaterThan(0);
  return files;
}

function load(env: Record<string, string>): Registration[] {
  mockRegistrations.length = 0;
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) if (/^(AZURE_|GRAPH_|SYNC_|TABLE|HTTP_|SNAPSHOT_)/.test(key)) delete process.env[key];
  Object.assign(process.env, env);
  try {
    jest.isolateModules(() => entryFiles().forEach((file) => require(file)));
  } finally {
    process.env = saved;
  }
  return [...mockRegistrations];
}

describe('Functions registrations (built entry point)', () => {
  it('registers ONE timer for every collection (one process, one pacer) and the HTTP API, with the defaults', () => {
    const registered = load(ENV);
    const summary = registered.map(({ handler, ...rest }) => {
      expect(typeof handler).toBe('function');
      return rest;
    });
    expect(summary).toEqual([
      { kind: 'timer', name: 'sync', schedule: '0 * * * * *', runOnStartup: false, useMonitor: true },
      { kind: 'http', name: 'snapshot', route: 'snapshot', methods: ['GET', 'HEAD'], authLevel: 'function' },
      { kind: 'http', name: 'snapshotCollection', route: 'snapshot/{collection}', methods: ['GET', 'HEAD'], authLevel: 'function' },
      { kind: 'http', name: 'snapshotRecord', route: 'snapshot/{collection}/{id}', methods: ['GET', 'HEAD'], authLevel: 'function' },
      { kind: 'http', name: 'snapshotHistory', route: 'snapshot/{collection}/{id}/history', methods: ['GET', 'HEAD'], authLevel: 'function' },
      { kind: 'http', name: 'changes', route: 'changes', methods: ['GET', 'HEAD'], authLevel: 'function' },
      { kind: 'http', name: 'health', route: 'health', methods: ['GET', 'HEAD'], authLevel: 'function' },
    ]);
  });

  it('takes the timer schedule and the auth levels from the settings', () => {
    const registered = load({ ...ENV, SYNC_TIMER_SCHEDULE: '0 */5 * * * *', HTTP_AUTH_LEVEL: 'admin', HTTP_HEALTH_AUTH_LEVEL: 'anonymous' });
    expect(registered.find((r) => r.name === 'sync')!.schedule).toBe('0 */5 * * * *');
    expect(registered.filter((r) => r.kind === 'http').map((r) => [r.name, r.authLevel])).toEqual([
      ['snapshot', 'admin'],
      ['snapshotCollection', 'admin'],
      ['snapshotRecord', 'admin'],
      ['snapshotHistory', 'admin'],
      ['changes', 'admin'],
      ['health', 'anonymous'],
    ]);
    // Health alone may be opened for an uptime monitor; the data routes always keep their key.
    expect(() => load({ ...ENV, HTTP_AUTH_LEVEL: 'anonymous' })).toThrow(
      /HTTP_AUTH_LEVEL: must be function or admin: the data routes always need a key/,
    );
  });

  it('refuses to start with a bad setting, naming it', () => {
    expect(() => load({ ...ENV, SYNC_SCHEDULE_RISK_DETECTIONS: '*/5 * * * *' })).toThrow(/SYNC_SCHEDULE_RISK_DETECTIONS/);
    expect(() => load({ TABLES_ENDPOINT: ENV.TABLES_ENDPOINT })).toThrow(/AZURE_TENANT_ID/);
  });

  it('host.json, local.settings.example.json and the settings agree', () => {
    const host = JSON.parse(readFileSync(path.join(root, 'host.json'), 'utf8')) as { functionTimeout: string };
    const [h, m, s] = host.functionTimeout.split(':').map(Number);
    const { SETTINGS } = require('../../src/config/settings') as typeof import('../../src/config/settings');
    const budget = Number(SETTINGS.find((x) => x.name === 'SYNC_TIME_BUDGET_SECONDS')!.default);
    expect(h! * 3600 + m! * 60 + s!).toBeGreaterThanOrEqual(budget + 30);
    const example = JSON.parse(readFileSync(path.join(root, 'local.settings.example.json'), 'utf8')) as { Values: Record<string, string> };
    for (const setting of SETTINGS) {
      expect(example.Values).toHaveProperty([setting.name]);
      if (setting.default !== undefined) expect(example.Values[setting.name]).toBe(setting.default);
    }
    expect(example.Values.FUNCTIONS_WORKER_RUNTIME).toBe('node');
  });
});
