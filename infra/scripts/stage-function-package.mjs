#!/usr/bin/env node
// Builds the Azure Functions deployment package for `azd deploy` (azure.yaml runs this as the api service's
// prepackage hook; `dist:` in azure.yaml points azd at the folder it writes). Cross-platform: plain Node.
//
//   1. npm ci                        full install (TypeScript and the other build tools are dev dependencies)
//   2. npm run compile -- --outDir X a clean compile into the staging folder, so no stale .js from a deleted
//                                    source file is ever deployed (the CLI's bundle is not part of the package)
//   3. keep dist/functions (package.json "main": dist/functions/*.js) and dist/src, the product; drop
//      dist/tools (emulator, local host, demo, Azurite launcher, storage proxy), dist/test and dist/bench, and
//      fail if what is kept names the Azurite development account (a sign of test or local-only code)
//   4. host.json, a package.json with the runtime dependencies only (no scripts, no devDependencies)
//   5. npm install --omit=dev        production node_modules, versions from package-lock.json (from the npm
//                                    cache when it has them)
//   6. load every dist/functions/*.js once: a module that cannot be resolved (a dev dependency or a file
//      outside src/ and functions/ imported at run time) fails the packaging here instead of in Azure
//
// Options: --skip-install (reuse the root node_modules; faster local re-runs), --out <dir>.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const stage = resolve(root, outIndex >= 0 ? args[outIndex + 1] : join('dist', 'azure-functions-package'));
const skipInstall = args.includes('--skip-install');
const isWindows = process.platform === 'win32';

function fail(message) {
  console.error(`stage-function-package: error: ${message}`);
  process.exit(1);
}

function npm(cwd, npmArgs) {
  const quoted = isWindows ? npmArgs.map((a) => (/[\s"]/.test(a) ? `"${a.replace(/"/g, '\\"')}"` : a)) : npmArgs;
  console.log(`> (${relative(root, cwd) || '.'}) npm ${npmArgs.join(' ')}`);
  const result = spawnSync(isWindows ? 'npm.cmd' : 'npm', quoted, { cwd, stdio: 'inherit', shell: isWindows });
  if (result.error) fail(`could not run npm: ${result.error.message}`);
  if (result.status !== 0) fail(`npm ${npmArgs[0]} failed (exit ${result.status})`);
}

if (!stage.startsWith(join(root, 'dist'))) fail(`--out must be inside ${join(root, 'dist')} (it is deleted and rebuilt)`);

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const mainGlob = String(pkg.main ?? '');
const mainMatch = mainGlob.match(/^dist\/([^*]+)\/\*\.js$/);
if (!mainMatch) fail(`package.json "main" is '${mainGlob}'; expected dist/<folder>/*.js`);
const functionsDir = mainMatch[1];

rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

if (!skipInstall) npm(root, ['ci', '--no-audit', '--no-fund']);
npm(root, ['run', 'compile', '--', '--outDir', join(stage, 'dist')]);

const distDir = join(stage, 'dist');
const keep = new Set([functionsDir.split('/')[0], 'src']);
for (const entry of readdirSync(distDir)) {
  if (!keep.has(entry)) rmSync(join(distDir, entry), { recursive: true, force: true });
}
// The product only: nothing kept may carry the Azurite development account (tools/azurite, test helpers).
const walkFiles = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walkFiles(join(dir, e.name)) : [join(dir, e.name)]));
const localOnly = walkFiles(distDir).filter((file) => /devstoreaccount1/.test(readFileSync(file, 'utf8')));
if (localOnly.length > 0) {
  fail(`the package would contain local-only code (the Azurite development account) in: ${localOnly.map((f) => relative(stage, f)).join(', ')}`);
}
const entryDir = join(distDir, functionsDir);
const entries = existsSync(entryDir) ? readdirSync(entryDir).filter((f) => f.endsWith('.js')) : [];
if (entries.length === 0) fail(`no function entry points: nothing matches ${mainGlob} after the build (are there functions/*.ts files?)`);

cpSync(join(root, 'host.json'), join(stage, 'host.json'));
const runtimePkg = {
  name: pkg.name,
  version: pkg.version,
  description: pkg.description,
  license: pkg.license,
  private: true,
  main: pkg.main,
  engines: pkg.engines,
  dependencies: pkg.dependencies ?? {},
};
writeFileSync(join(stage, 'package.json'), `${JSON.stringify(runtimePkg, null, 2)}\n`);
if (existsSync(join(root, 'package-lock.json'))) cpSync(join(root, 'package-lock.json'), join(stage, 'package-lock.json'));
npm(stage, ['install', '--omit=dev', '--prefer-offline', '--ignore-scripts', '--no-bin-links', '--no-audit', '--no-fund']);

writeFileSync(
  join(stage, '.funcignore'),
  '# Written by infra/scripts/stage-function-package.mjs. This folder holds exactly what the Functions runtime\n' +
    '# needs (compiled JavaScript, production node_modules, host.json, package.json): deploy all of it.\n' +
    'local.settings.json\n',
);

// Every module a function file imports must resolve inside the package. The probe loads each function file in
// place, with a hook that confines require() to the package as Azure will: a module found only by walking up into
// the repository's node_modules (dev dependencies included) is refused as not found. A module the package lacks
// then fails the load, unless the code that wants it treats it as optional (a require in a try block, as the
// `debug` package does for `supports-color`), which is what happens in Azure too. Placeholder values for the
// required settings let the file load completely; any other start-up error is only reported. (Static imports
// inside ESM-only packages are resolved by Node's ESM loader, which the hook does not see; a missing one still
// fails to load.)
const probeDir = mkdtempSync(join(tmpdir(), 'risk-sync-package-probe-'));
const probeHook = join(probeDir, 'confine-to-package.cjs');
writeFileSync(
  probeHook,
  `const Module = require('node:module');
const root = ${JSON.stringify(stage + sep)};
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const file = resolve.call(this, request, ...rest);
  if (Module.isBuiltin(file) || file.startsWith(root)) return file;
  const error = new Error("Cannot find module '" + request + "' (found only outside the package, at " + file + ")");
  error.code = 'MODULE_NOT_FOUND';
  throw error;
};
`,
);
let unresolved = 0;
for (const file of entries) {
  const probe = spawnSync(process.execPath, ['-r', probeHook, '-e', `require(${JSON.stringify(join(entryDir, file))})`], {
    cwd: stage,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      AZURE_TENANT_ID: '00000000-0000-0000-0000-000000000000',
      TABLES_ENDPOINT: 'https://packaging-probe.table.core.windows.net',
    },
  });
  const output = `${probe.stdout ?? ''}${probe.stderr ?? ''}`;
  const missing = output.match(/Cannot find (?:module|package) '([^']+)'/);
  if (missing) {
    unresolved++;
    console.error(
      `stage-function-package: ${functionsDir}/${file} imports '${missing[1]}', which is not in the package (a devDependency, or a file outside src/ and ${functionsDir}/?)`,
    );
  } else if (probe.status !== 0) {
    const lastLines = output.trim().split('\n').slice(-3).join(' | ');
    console.warn(`stage-function-package: note: loading ${functionsDir}/${file} outside Azure exited ${probe.status}: ${lastLines}`);
  }
}
rmSync(probeDir, { recursive: true, force: true });
if (unresolved > 0) fail(`${unresolved} function file(s) import modules the deployment package does not contain`);

let bytes = 0;
let files = 0;
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) walk(path);
    else {
      files++;
      bytes += stat.size;
    }
  }
};
walk(stage);
console.log(`Staged ${relative(root, stage)}: ${entries.length} function file(s), ${files} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB`);
