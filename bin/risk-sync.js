#!/usr/bin/env -S node --max-old-space-size=1024 --max-semi-space-size=4
'use strict';
// The V8 flags above: V8 sizes its heap from them. With its defaults (a 4 GB limit here) a 10,000-record sync peaked
// at 176-202 MB of RSS, mostly pages already written that no collection had reclaimed yet; with these at 112-125 MB,
// no slower, for about 10 % more CPU (docs/benchmark.md). The limit leaves room for any run (a run keeps its pages
// in flight, some MB, alive) and for `serve` with a full page cache. They apply when the file runs as a program (`npx risk-sync`,
// `./bin/risk-sync.js`; npm's Windows shims carry them too); `node bin/risk-sync.js` runs without them. NODE_OPTIONS
// can not override them (command-line flags win): for other flags, and on Alpine (BusyBox's env has no -S), run
// `node <flags> bin/risk-sync.js`.
// Node 22+ keeps the compiled code of the modules a run loads (in the OS temp directory), so the next run starts
// faster; Node 20 has no such cache.
require('node:module').enableCompileCache?.();
const path = require('node:path');
const { existsSync, readFileSync, statSync } = require('node:fs');

const dist = path.join(__dirname, '..', 'dist');
const entry = path.join(dist, 'src', 'cli', 'main.js');
const bundle = path.join(dist, 'cli', 'risk-sync.js');
const bundled = path.join(dist, 'cli', 'commands.json');
if (!existsSync(entry) || !existsSync(bundle) || !existsSync(bundled)) {
  process.stderr.write('risk-sync is not built yet: run `npm run build` (or `npm start`) first\n');
  process.exit(2);
}
// The product's own commands run from the bundle (scripts/bundle-cli.js: one file starts sooner than hundreds), whose
// command names the build wrote beside it. The local host, the demo and the emulator (tools/) come with a clone, not
// with the deployment package: any other command line runs from the modules, with tools/'s commands added, so that
// tools/ and the CLI share one copy of src/. A bundle older than the compiled modules (a `tsc` or `npm run compile`
// since the last build) would run old code: then everything runs from the modules.
const local = path.join(dist, 'tools', 'cli.js');
const addLocal = existsSync(local) ? (program) => require(local).addLocalCommands(program) : undefined;
const fresh = statSync(bundle).mtimeMs >= statSync(entry).mtimeMs;
if (fresh && (!addLocal || JSON.parse(readFileSync(bundled, 'utf8')).includes(process.argv[2]))) require(bundle).main(process.argv);
else require(entry).main(process.argv, addLocal);
