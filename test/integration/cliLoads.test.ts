import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
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
  // order in which they loaded), and as its answer is read.
  writeFileSync(
    probe,
    [
      'const requests = [];',
      "const channels = require('node:diagnostics_channel');",
      "channels.subscribe('http.client.request.start', ({ request }) => requests.push({ method: request.method, path: request.path, loaded: Object.keys(require.cache).length }));",
      "channels.subscribe('http.client.response.finish', ({ request }) => requests.push({ path: request.path, answered: true }));",
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

  const modulesOf = async (args: string[], name: string, script?: string) => {
    const file = path.join(dir, `${name}.json`);
    const result = await h.cli(args, { NODE_OPTIONS: `--require ${probe}`, LOADED_MODULES_FILE: file }, { script });
    const loaded = JSON.parse(readFileSync(file, 'utf8')) as {
      modules: string[];
      requests: { method?: string; path: string; loaded?: number; answered?: true }[];
    };
    return { result, modules: loaded.modules.map((m) => path.relative(root, m).split(path.sep).join('/')), requests: loaded.requests };
  };
  const stored50 = (result: { code: number | null; stdout: string }) => {
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { outcome: string; read: number }[])[0]).toMatchObject({ outcome: 'succeeded', read: 50 });
  };

  it('a sync runs from the bundle, which holds neither tools/ nor csv-stringify; --help loads the local commands', async () => {
    const { result, modules, requests } = await modulesOf(['sync', '--json', '-d', 'riskDetections', '--full'], 'sync');
    stored50(result);
    // The store is readied while the token request is out: the tables check starts before the token's answer is read.
    const tablesCheck = requests.findIndex((r) => !r.answered && r.path.includes('_sync'));
    const tokenAnswer = requests.findIndex((r) => r.answered && r.path.includes('/token'));
    expect(tablesCheck).toBeGreaterThanOrEqual(0);
    expect(tokenAnswer).toBeGreaterThan(tablesCheck);
    // The runs begin meanwhile too, but nothing of theirs is written before the token's answer: only the tables are
    // created (this store is new) and named in their `_sync` row.
    const writtenEarly = requests.slice(0, tokenAnswer).filter((r) => !r.answered && r.method !== 'GET' && !r.path.includes('/token'));
    expect(writtenEarly.filter((r) => !/\/Tables$|_sync/.test(decodeURIComponent(r.path)))).toEqual([]);
    expect(requests.some((r) => r.method !== 'GET' && /SyncState|SyncRuns/.test(r.path) && !r.path.includes('_sync'))).toBe(true);
    // Of dist/ and node_modules, one file.
    expect(modules.filter((m) => m.startsWith('dist/') || m.startsWith('node_modules/'))).toEqual(['dist/cli/risk-sync.js']);
    const inputs = Object.keys((JSON.parse(readFileSync(path.join(root, 'dist', 'cli', 'meta.json'), 'utf8')) as { inputs: object }).inputs);
    expect(inputs).toContain('dist/src/sync/service.js');
    expect(inputs.some((m) => m.startsWith('node_modules/@azure/data-tables/'))).toBe(true);
    // Nor what only `export` runs (a sync would parse it on every start): the CSV writer, zod, negotiator.
    expect(inputs.filter((m) => m.startsWith('dist/tools/') || /node_modules\/(csv-stringify|zod|negotiator)\//.test(m))).toEqual([]);

    // The help lists the local commands too: it runs from the modules, with tools/'s commands (what the sync did not).
    const help = await modulesOf(['--help'], 'help');
    expect(help.result.stdout).toMatch(/serve/);
    expect(help.modules).toContain('dist/tools/cli.js');
    expect(help.modules).toContain('dist/src/cli/main.js');
    expect(help.modules).not.toContain('dist/cli/risk-sync.js');
  });

  it('from the modules, a sync loads neither tools/, csv-stringify nor the API, and loads the engine while the token request is out', async () => {
    const runner = path.join(dir, 'modules.js');
    writeFileSync(runner, `require(${JSON.stringify(path.join(root, 'dist', 'src', 'cli', 'main.js'))}).main(process.argv);\n`);
    const { result, modules, requests } = await modulesOf(['sync', '--json', '-d', 'riskDetections', '--full'], 'modules', runner);
    stored50(result);
    // The probe works: the engine and the SDKs did load.
    expect(modules.some((m) => m.startsWith('dist/src/sync/'))).toBe(true);
    expect(modules.some((m) => m.startsWith('node_modules/@azure/data-tables/'))).toBe(true);
    expect(modules.filter((m) => m.startsWith('dist/tools/'))).toEqual([]);
    expect(modules.filter((m) => m.startsWith('node_modules/csv-stringify/'))).toEqual([]);
    expect(modules.filter((m) => m.startsWith('dist/src/api/'))).toEqual([]);
    // The token request went out before the engine loaded: the engine's load overlaps the wait for the token.
    const token = requests.find((r) => r.path.includes('/token'));
    expect(token).toBeDefined();
    expect(modules.indexOf('dist/src/sync/service.js')).toBeGreaterThanOrEqual(token!.loaded!);
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

/**
 * The launcher runs the commands that the build listed from the bundle, and the others from the modules, loading
 * nothing to choose; the bundle only while it is as new as the compiled modules: after a `tsc` or `npm run compile`
 * alone, it would run the code of the build before. Checked on a stand-in layout of bin/ and dist/.
 */
describe('bin/risk-sync.js', () => {
  it('runs the listed commands from the bundle, any other from the modules, and all from the modules once compiled after it', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'risk-sync-launcher-'));
    const bin = path.join(root, 'bin', 'risk-sync.js');
    const bundle = path.join(root, 'dist', 'cli', 'risk-sync.js');
    for (const dir of ['bin', 'dist/src/cli', 'dist/cli', 'dist/tools']) mkdirSync(path.join(root, dir), { recursive: true });
    copyFileSync(path.join(__dirname, '..', '..', 'bin', 'risk-sync.js'), bin);
    writeFileSync(path.join(root, 'dist', 'src', 'cli', 'main.js'), "exports.main = () => process.stdout.write('modules');\n");
    writeFileSync(bundle, "exports.main = () => process.stdout.write('bundle');\n");
    writeFileSync(path.join(root, 'dist', 'cli', 'commands.json'), '["sync"]\n');
    writeFileSync(path.join(root, 'dist', 'tools', 'cli.js'), 'exports.addLocalCommands = () => undefined;\n');
    const ran = (command: string) => spawnSync(process.execPath, [bin, command], { encoding: 'utf8' }).stdout;
    expect(ran('sync')).toBe('bundle');
    expect(ran('serve')).toBe('modules');
    const before = new Date(Date.now() - 60_000);
    utimesSync(bundle, before, before);
    expect(ran('sync')).toBe('modules');
  });
});
