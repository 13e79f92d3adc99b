/**
 * The deployment files fit together: every Bicep module exists, azure.yaml names the service and its hooks
 * point at real scripts, the packaging hook stages what package.json "main" names, and host.json agrees with
 * the sync's time budget and keeps the run summaries out of sampling.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { SETTINGS } from '../../src/config/settings';
import { BicepFile, REPO, readRepoFile } from './bicep';

/** Every Bicep file reachable from infra/main.bicep through `module` statements. */
function moduleGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const visit = (path: string) => {
    if (graph.has(path)) return;
    const modules = [...new BicepFile(path).modules().values()].map((m) => normalize(join(dirname(path), m)));
    graph.set(path, modules);
    for (const m of modules) if (existsSync(join(REPO, m))) visit(m);
  };
  visit(entry);
  return graph;
}

describe('Bicep modules', () => {
  const graph = moduleGraph('infra/main.bicep');

  test('every module referenced from main.bicep (transitively) exists', () => {
    const referenced = [...graph.values()].flat();
    expect(referenced.length).toBeGreaterThanOrEqual(6);
    for (const m of referenced) expect({ module: m, exists: existsSync(join(REPO, m)) }).toEqual({ module: m, exists: true });
    expect([...graph.keys()].sort()).toEqual([
      'infra/app/function-app.bicep',
      'infra/app/identity.bicep',
      'infra/app/monitoring.bicep',
      'infra/app/rbac.bicep',
      'infra/app/storage.bicep',
      'infra/main.bicep',
      'infra/resources.bicep',
    ]);
  });

  test('every compile-time import names a file that exists', () => {
    for (const path of graph.keys()) {
      for (const [symbol, target] of new BicepFile(path).imports()) {
        const file = normalize(join(dirname(path), target));
        expect({ path, symbol, file, exists: existsSync(join(REPO, file)) }).toEqual({ path, symbol, file, exists: true });
        expect(new BicepFile(file).src).toMatch(new RegExp(`@export\\(\\)\\ntype ${symbol}\\b`));
      }
    }
  });

  test('main.bicep follows the azd conventions', () => {
    const main = new BicepFile('infra/main.bicep');
    expect(main.src).toMatch(/^targetScope = 'subscription'$/m);
    const params = main.params();
    expect(params.get('environmentName')!.defaultRaw).toBeUndefined();
    expect(params.get('location')!.decorators.map((d) => d.name)).toContain('metadata');
    expect(main.vars().get('resourceToken')).toBe('toLower(uniqueString(subscription().id, environmentName, location))');
    expect(main.vars().get('tags')).toMatch(/'azd-env-name': environmentName/);
    expect(main.block('resource', 'rg').body).toMatch(/tags:\s*tags/);
    expect(main.block('module', 'resources').body).toMatch(/scope:\s*rg/);
    expect(new BicepFile('infra/resources.bicep').src).toMatch(/^targetScope = 'resourceGroup'$/m);
  });
});

/** Minimal reading of azure.yaml: the lines under a top-level key, and every `run:` command. */
const azureYaml = readRepoFile('azure.yaml');

describe('azure.yaml', () => {
  test('one service "api": a TypeScript/JavaScript function app built from the repository root', () => {
    const services = /^services:\n((?: {2}.*\n|\n)+)/m.exec(azureYaml)?.[1] ?? '';
    expect(services).toMatch(/^ {2}api:\n/m);
    expect([...services.matchAll(/^ {2}(\w[\w-]*):/gm)].map((m) => m[1])).toEqual(['api']);
    expect(services).toMatch(/^ {4}project: \.$/m);
    expect(services).toMatch(/^ {4}host: function$/m);
    expect(services).toMatch(/^ {4}language: (js|ts)$/m);
    expect(services).toMatch(/^ {4}remoteBuild: false$/m);
    expect(azureYaml).toMatch(/^name: [a-z0-9][-a-z0-9]*[a-z0-9]$/m);
  });

  test('hooks run scripts that exist (and the shell scripts are executable)', () => {
    const runs = [...azureYaml.matchAll(/^\s+run: (.+)$/gm)].map((m) => m[1]!.trim());
    expect(runs.length).toBeGreaterThanOrEqual(4);
    for (const run of runs) {
      const script = run.split(/\s+/).find((word) => /^(\.\/)?infra\//.test(word));
      expect({ run, script }).toEqual({ run, script: expect.any(String) });
      const path = join(REPO, script!);
      expect({ script, exists: existsSync(path) }).toEqual({ script, exists: true });
      if (script!.endsWith('.sh')) expect({ script, executable: (statSync(path).mode & 0o111) !== 0 }).toEqual({ script, executable: true });
    }
    expect(azureYaml).toMatch(
      /^hooks:\n {2}#[^\n]*\n(?: {2}#[^\n]*\n)* {2}postprovision:\n {4}posix:\n {6}shell: sh\n {6}run: \.\/infra\/grant-graph-permissions\.sh\n/m,
    );
    expect(azureYaml).toMatch(/\n {4}windows:\n {6}shell: pwsh\n {6}run: \.\/infra\/grant-graph-permissions\.ps1\n/);
    expect(azureYaml).toMatch(/\n {6}prepackage:\n {8}posix:\n {10}shell: sh\n {10}run: node infra\/scripts\/stage-function-package\.mjs\n/);
  });

  test('dist is the folder the packaging hook writes, inside the git-ignored dist/', () => {
    const dist = /^ {4}dist: (.+)$/m.exec(azureYaml)?.[1]?.trim();
    expect(dist).toBe('dist/azure-functions-package');
    expect(readRepoFile('infra/scripts/stage-function-package.mjs')).toContain("join('dist', 'azure-functions-package')");
    expect(readRepoFile('.gitignore')).toMatch(/^dist\/$/m);
  });

  test('package.json "main" has the dist/<folder>/*.js shape the packaging script stages', () => {
    const pkg = JSON.parse(readRepoFile('package.json')) as { main: string; dependencies: Record<string, string> };
    expect(pkg.main).toMatch(/^dist\/[^*]+\/\*\.js$/);
    expect(Object.keys(pkg.dependencies)).toContain('@azure/functions');
  });
});

describe('host.json and the sync time budget', () => {
  const host = JSON.parse(readRepoFile('host.json')) as {
    functionTimeout?: string;
    logging?: { applicationInsights?: { samplingSettings?: { isEnabled?: boolean; excludedTypes?: string } } };
  };
  const budget = Number(SETTINGS.find((s) => s.name === 'SYNC_TIME_BUDGET_SECONDS')!.default);
  const toSeconds = (timespan: string) => {
    const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?$/.exec(timespan);
    if (!m) throw new Error(`not a timespan: ${timespan}`);
    return Number(m[1] ?? 0) * 86_400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
  };

  test('functionTimeout leaves a margin after the default time budget (checkpoint, lease release, run row)', () => {
    expect(host.functionTimeout).toBeDefined();
    const timeout = toSeconds(host.functionTimeout!);
    expect(budget).toBeGreaterThan(0);
    expect(timeout - budget).toBeGreaterThanOrEqual(30);
  });

  test('the deploy guide describes the same timeout', () => {
    const timeout = toSeconds(host.functionTimeout!);
    expect(readRepoFile('docs/deploy.md')).toContain(`\`functionTimeout\` in \`host.json\` (${timeout / 60} minutes)`);
  });

  test('Application Insights sampling never drops requests or the sync-run traces', () => {
    const sampling = host.logging?.applicationInsights?.samplingSettings;
    if (sampling?.isEnabled === false) return; // nothing is sampled
    const excluded = (sampling?.excludedTypes ?? '').split(';').map((t) => t.trim());
    expect(excluded).toContain('Request');
    // one `sync-run {...}` trace per run (context.info/context.error): dashboards and alerts count them
    expect(excluded).toContain('Trace');
  });
});
