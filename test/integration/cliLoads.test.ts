import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateRiskDetections } from '../../tools/emulator';
import { startHarness, type Harness } from '../support/harness';

/**
 * What a `risk-sync sync` process loads (issue 15): a timer-like run needs neither the local host, the demo nor the
 * emulator (tools/), nor the CSV writer. A preloaded probe writes the process's require.cache when it exits.
 */
describe('risk-sync sync loads only what a sync needs', () => {
  let h: Harness;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'risk-sync-loads-'));
  const probe = path.join(dir, 'probe.js');
  // Also notes each HTTP request as it starts, with how many modules were loaded by then (require.cache keeps the
  // order in which they loaded).
  writeFileSync(
    probe,
    [
      'const requests = [];',
      "require('node:diagnostics_channel').subscribe('http.client.request.start', ({ request }) => requests.push({ path: request.path, loaded: Object.keys(require.cache).length }));",
      "process.once('exit', () => require('node:fs').writeFileSync(process.env.LOADED_MODULES_FILE, JSON.stringify({ modules: Object.keys(require.cache), requests })));",
      '',
    ].join('\n'),
  );
  const root = path.join(__dirname, '..', '..');

  beforeAll(async () => {
    h = await startHarness();
    const now = Date.now();
    h.emulator.upsert('riskDetections', generateRiskDetections(50, { seed: 5, from: new Date(now - 86_400_000), to: new Date(now - 3_600_000) }));
  });
  afterAll(() => h?.close());

  const modulesOf = async (args: string[], name: string) => {
    const file = path.join(dir, `${name}.json`);
    const result = await h.cli(args, { NODE_OPTIONS: `--require ${probe}`, LOADED_MODULES_FILE: file });
    const loaded = JSON.parse(readFileSync(file, 'utf8')) as { modules: string[]; requests: { path: string; loaded: number }[] };
    return { result, modules: loaded.modules.map((m) => path.relative(root, m).split(path.sep).join('/')), requests: loaded.requests };
  };

  it('a sync stores the records without loading tools/ or csv-stringify; --help does load the local commands', async () => {
    const { result, modules, requests } = await modulesOf(['sync', '--json', '-d', 'riskDetections'], 'sync');
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { outcome: string; read: number }[])[0]).toMatchObject({ outcome: 'succeeded', read: 50 });
    // The probe works: the engine and the SDKs did load.
    expect(modules.some((m) => m.startsWith('dist/src/sync/'))).toBe(true);
    expect(modules.some((m) => m.startsWith('node_modules/@azure/data-tables/'))).toBe(true);
    expect(modules.filter((m) => m.startsWith('dist/tools/'))).toEqual([]);
    expect(modules.filter((m) => m.startsWith('node_modules/csv-stringify/'))).toEqual([]);
    expect(modules.filter((m) => m.startsWith('dist/src/api/'))).toEqual([]);
    // The token request went out before the engine loaded: the engine's load overlaps the wait for the token.
    const token = requests.find((r) => r.path.includes('/token'));
    expect(token).toBeDefined();
    expect(modules.indexOf('dist/src/sync/service.js')).toBeGreaterThanOrEqual(token!.loaded);

    // The help lists the local commands too, so it loads them (what the sync above did not).
    const help = await modulesOf(['--help'], 'help');
    expect(help.result.stdout).toMatch(/serve/);
    expect(help.modules).toContain('dist/tools/cli.js');
  });
});

/**
 * Peak memory (issue 15): run as a program (`npx risk-sync`, `./bin/risk-sync.js`), the CLI gets the V8 heap flags of
 * its first line; the same file run by `node` keeps V8's default limit. A preloaded probe writes the heap limit.
 */
describe('the V8 heap limit of risk-sync', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'risk-sync-heap-'));
  const probe = path.join(dir, 'heap.js');
  writeFileSync(
    probe,
    "process.once('exit', () => require('node:fs').writeFileSync(process.env.HEAP_LIMIT_FILE, String(require('node:v8').getHeapStatistics().heap_size_limit)));\n",
  );
  const cli = path.join(__dirname, '..', '..', 'bin', 'risk-sync.js');
  const heapLimitMb = (command: string, args: string[], name: string) => {
    const file = path.join(dir, name);
    const result = spawnSync(command, args, { env: { ...process.env, NODE_OPTIONS: `--require ${probe}`, HEAP_LIMIT_FILE: file }, encoding: 'utf8' });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    return Number(readFileSync(file, 'utf8')) / 2 ** 20;
  };

  it('is the first line’s --max-old-space-size (plus the young generation) when the file runs as a program', () => {
    const oldSpaceMb = Number(/--max-old-space-size=(\d+)/.exec(readFileSync(cli, 'utf8').split('\n', 1)[0]!)?.[1]);
    expect(oldSpaceMb).toBeGreaterThan(0);
    const asProgram = heapLimitMb(cli, ['--help'], 'program');
    expect(asProgram).toBeGreaterThanOrEqual(oldSpaceMb);
    expect(asProgram).toBeLessThan(oldSpaceMb + 64);
    // V8's own default depends on the machine's memory: it only has to differ.
    expect(Math.abs(heapLimitMb(process.execPath, [cli, '--help'], 'node') - asProgram)).toBeGreaterThan(16);
  });
});
