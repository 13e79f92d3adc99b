import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * What a cold start loads (issue 15). Each case runs in a fresh Node process (the BUILT code, the real packages, no
 * Jest module registry) and lists the modules in require.cache: registering the functions must load no SDK and none
 * of the engine, and an API instance must never load the sync engine or the Graph client.
 */
const root = path.join(__dirname, '..', '..');
const dist = path.join(root, 'dist');
const ENV = {
  AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  TABLES_CONNECTION_STRING:
    'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:1/devstoreaccount1;',
};

/** Runs `script` in a fresh process; it ends by printing the loaded modules (paths relative to the repository). */
function loadedModules(script: string): string[] {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...ENV };
  const probe = `${script}\nprocess.stdout.write('MODULES ' + JSON.stringify(Object.keys(require.cache)) + '\\n');`;
  const result = spawnSync(process.execPath, ['-e', probe], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  const line = result.stdout.split('\n').find((l) => l.startsWith('MODULES '));
  if (!line) throw new Error(`the probe printed no module list (exit ${result.status}):\n${result.stderr}`);
  return (JSON.parse(line.slice('MODULES '.length)) as string[]).map((m) => path.relative(root, m).split(path.sep).join('/'));
}

/** Packages and folders of our own that a timer's registration or an API instance must not pay for. */
const SDKS = [
  '@azure/identity',
  '@azure/msal-node',
  '@azure/data-tables',
  '@azure/storage-queue',
  '@microsoft/microsoft-graph-client',
  'zod',
  'csv-stringify',
];
const pkg = (modules: string[], name: string) => modules.filter((m) => m.startsWith(`node_modules/${name}/`));
const own = (modules: string[], folder: string) => modules.filter((m) => m.startsWith(`dist/${folder}/`));

describe('what a cold start loads (built code, fresh processes)', () => {
  it('the Functions entry point registers every function without loading an SDK, the engine, the store or the API handlers', () => {
    const modules = loadedModules(`require(${JSON.stringify(path.join(dist, 'functions', 'index.js'))});`);
    // The probe works: the entry point and the Functions package did load.
    expect(modules).toContain('dist/functions/index.js');
    expect(pkg(modules, '@azure/functions').length).toBeGreaterThan(0);
    for (const name of SDKS) expect([name, pkg(modules, name)]).toEqual([name, []]);
    for (const folder of ['src/sync', 'src/graph', 'src/store', 'tools']) expect([folder, own(modules, folder)]).toEqual([folder, []]);
    // Only the route table of the API, not its handlers (each loads on its first request).
    expect(own(modules, 'src/api').sort()).toEqual(['dist/src/api/errors.js', 'dist/src/api/routes.js']);
  });

  it('an API instance builds its read model without loading the sync engine, the Graph client or the identity SDK', () => {
    const modules = loadedModules(`
      const { loadSettings } = require(${JSON.stringify(path.join(dist, 'src', 'config', 'settings.js'))});
      const { lazyServices } = require(${JSON.stringify(path.join(dist, 'src', 'app', 'services.js'))});
      const model = lazyServices(loadSettings()).readModel();
      if (!model.stateTable) throw new Error('no read model');
    `);
    expect(pkg(modules, '@azure/data-tables').length).toBeGreaterThan(0);
    expect(own(modules, 'src/store')).toContain('dist/src/store/readModel.js');
    for (const name of ['@azure/identity', '@azure/msal-node', '@microsoft/microsoft-graph-client', 'csv-stringify']) {
      expect([name, pkg(modules, name)]).toEqual([name, []]);
    }
    expect(own(modules, 'src/sync')).toEqual([]);
    // The credential's module (no SDK in it until a token is needed), not the Graph reader nor its pacer.
    expect(own(modules, 'src/graph').filter((m) => !/\/(credential\w*|errors)\.js$/.test(m))).toEqual([]);
  });

  it('the CSV writer loads with the first CSV rows, not with the API module that writes them', () => {
    const csv = JSON.stringify(path.join(dist, 'src', 'api', 'csv.js'));
    expect(pkg(loadedModules(`require(${csv});`), 'csv-stringify')).toEqual([]);
    const after = loadedModules(`if (require(${csv}).csvLines([['a', 'b']]) !== 'a,b\\r\\n') throw new Error('bad CSV');`);
    expect(pkg(after, 'csv-stringify').length).toBeGreaterThan(0);
  });
});
