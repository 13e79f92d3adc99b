/**
 * The deployment package holds product code only. The test stages it as azd's prepackage hook does
 * (infra/scripts/stage-function-package.mjs, with --skip-install: the root node_modules is already installed) and
 * looks inside: no emulator, local host, demo, Azurite launcher or test helpers, no dev dependency, no Azurite
 * account key, and every module the entry point loads resolves inside the package.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { AZURITE_ACCOUNT, AZURITE_KEY } from '../../tools/azurite/azurite';
import { REPO, readRepoFile } from './bicep';

const STAGE = join('dist', `package-under-test-${process.pid}`);
const stageDir = join(REPO, STAGE);
/** The Azure SDK's own support for UseDevelopmentStorage=true: the only place the Azurite key may appear. */
const SDK_DEVELOPMENT_STORAGE = ['@azure/data-tables', '@azure/storage-common', '@azure/storage-queue'].map(
  (p) => join('node_modules', ...p.split('/')) + sep,
);

let staging: { status: number | null; output: string };
let files: string[] = [];

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

beforeAll(() => {
  const result = spawnSync(process.execPath, ['infra/scripts/stage-function-package.mjs', '--skip-install', '--out', STAGE], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 280_000,
  });
  staging = { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
  if (existsSync(stageDir)) files = walk(stageDir).map((f) => relative(stageDir, f));
}, 300_000);

afterAll(() => rmSync(stageDir, { recursive: true, force: true }));

const ours = () => files.filter((f) => !f.startsWith(`node_modules${sep}`));

describe('the deployment package', () => {
  test('is staged without error', () => {
    expect({ status: staging.status, output: staging.output }).toEqual({ status: 0, output: expect.stringMatching(/Staged /) });
    expect(staging.output).not.toMatch(/note: loading/);
  });

  test('holds the compiled product and what the runtime needs, nothing else', () => {
    expect(readdirSync(stageDir).sort()).toEqual(['.funcignore', 'dist', 'host.json', 'node_modules', 'package-lock.json', 'package.json']);
    expect(readdirSync(join(stageDir, 'dist')).sort()).toEqual(['functions', 'src']);
    const product = readdirSync(join(REPO, 'src'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(readdirSync(join(stageDir, 'dist', 'src')).sort()).toEqual(product.sort());
    expect(ours().filter((f) => f.endsWith('.js')).length).toBeGreaterThan(10);
  });

  test('no emulator, local host, demo, Azurite launcher, storage proxy or test helpers', () => {
    const local = ours().filter((f) =>
      /emulator|localHost|[\\/]host[\\/]|demo|azurite|storage-?proxy|[\\/]test[\\/]|[\\/]bench[\\/]|\.test\.js$/i.test(f),
    );
    expect(local).toEqual([]);
    for (const file of ours().filter((f) => f.endsWith('.js'))) {
      const text = readFileSync(join(stageDir, file), 'utf8');
      const required = [...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!);
      expect({ file, local: required.filter((r) => /(^|\/)(tools|test|bench)\//.test(r)) }).toEqual({ file, local: [] });
    }
  });

  test('a package.json without scripts or dev dependencies, and none of the dev dependencies installed', () => {
    const pkg = JSON.parse(readFileSync(join(stageDir, 'package.json'), 'utf8')) as Record<string, unknown>;
    const root = JSON.parse(readRepoFile('package.json')) as {
      main: string;
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(pkg).not.toHaveProperty('scripts');
    expect(pkg).not.toHaveProperty('devDependencies');
    expect(pkg.main).toBe(root.main);
    expect(pkg.dependencies).toEqual(root.dependencies);
    const lock = JSON.parse(readFileSync(join(stageDir, 'node_modules', '.package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const installed = Object.keys(lock.packages).filter((p) => p.startsWith('node_modules/'));
    for (const dev of Object.keys(root.devDependencies))
      expect({ dev, installed: installed.includes(`node_modules/${dev}`) }).toEqual({ dev, installed: false });
  });

  test('no Azurite account key or account name in our code; in node_modules only in the Azure SDK development-storage support', () => {
    const found = files.filter((f) => {
      const text = readFileSync(join(stageDir, f), 'latin1');
      return text.includes(AZURITE_KEY) || (!f.startsWith(`node_modules${sep}`) && text.includes(AZURITE_ACCOUNT));
    });
    expect(found.filter((f) => !f.startsWith(`node_modules${sep}`))).toEqual([]);
    expect(found.filter((f) => f.startsWith(`node_modules${sep}`) && !SDK_DEVELOPMENT_STORAGE.some((p) => f.startsWith(p)))).toEqual([]);
  });

  test('every module the entry point loads resolves inside the package', () => {
    // Loaded in place with require() confined to the package, as in Azure: a module found only by walking up into
    // the repository's node_modules is refused as not found. The load must still succeed (optional requires in a
    // try block, such as debug's supports-color, may be refused) and every direct dependency must come from inside.
    const probe = mkdtempSync(join(tmpdir(), 'risk-sync-package-test-'));
    try {
      const hook = join(probe, 'confine-to-package.cjs');
      const out = join(probe, 'resolved.json');
      writeFileSync(
        hook,
        `const Module = require('node:module'); const fs = require('node:fs');
const root = ${JSON.stringify(stageDir + sep)}; const resolved = new Set(); const refused = new Set();
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const file = resolve.call(this, request, ...rest);
  if (Module.isBuiltin(file) || file.startsWith(root)) { resolved.add(file); return file; }
  refused.add(request);
  const error = new Error("Cannot find module '" + request + "'"); error.code = 'MODULE_NOT_FOUND'; throw error;
};
process.on('exit', () => fs.writeFileSync(${JSON.stringify(out)}, JSON.stringify({ resolved: [...resolved], refused: [...refused] })));\n`,
      );
      const dependencies = Object.keys((JSON.parse(readRepoFile('package.json')) as { dependencies: Record<string, string> }).dependencies);
      const entries = readdirSync(join(stageDir, 'dist', 'functions')).filter((f) => f.endsWith('.js'));
      expect(entries.length).toBeGreaterThan(0);
      for (const entry of entries) {
        const result = spawnSync(process.execPath, ['-r', hook, '-e', `require(${JSON.stringify(join(stageDir, 'dist', 'functions', entry))})`], {
          cwd: stageDir,
          encoding: 'utf8',
          timeout: 60_000,
          env: {
            PATH: process.env.PATH ?? '',
            NODE_ENV: 'production',
            AZURE_TENANT_ID: '00000000-0000-0000-0000-000000000000',
            TABLES_ENDPOINT: 'https://packaging-test.table.core.windows.net',
          },
        });
        expect({ entry, status: result.status, stderr: result.stderr }).toEqual({
          entry,
          status: 0,
          stderr: expect.not.stringMatching(/Cannot find (module|package)/),
        });
        const { resolved, refused } = JSON.parse(readFileSync(out, 'utf8')) as { resolved: string[]; refused: string[] };
        const refusedDependencies = refused.filter((request) => dependencies.some((d) => request === d || request.startsWith(`${d}/`)));
        expect({ entry, refusedDependencies, local: refused.filter((r) => r.startsWith('.')) }).toEqual({
          entry,
          refusedDependencies: [],
          local: [],
        });
        expect(resolved.some((file) => file.includes(`${sep}dist${sep}src${sep}`))).toBe(true);
        expect(resolved.some((file) => file.includes(`${sep}node_modules${sep}@azure${sep}functions${sep}`))).toBe(true);
      }
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
  });
});
