#!/usr/bin/env -S node --max-old-space-size=256 --max-semi-space-size=2
'use strict';
// The V8 heap flags above are the Functions worker's too (languageWorkers__node__arguments, infra/app/function-app.bicep).
// V8 sizes its heap from the limit: with the default (about 4 GB here) a 10,000-record sync peaked at 176-196 MB of
// RSS, mostly garbage not yet collected; with these flags at about 107 MB, no slower (docs/benchmark.md). What a run
// keeps alive is bounded by the pages in flight (about 20 MB), far below 256 MB. They apply when the file is run
// as a program (`npx risk-sync`, `./bin/risk-sync.js`); `node bin/risk-sync.js` runs without them.
// Node 22+ keeps the compiled code of the modules a run loads (in the OS temp directory), so the next run starts
// faster; Node 20 has no such cache.
require('node:module').enableCompileCache?.();
const path = require('node:path');
const { existsSync } = require('node:fs');

const dist = path.join(__dirname, '..', 'dist');
const entry = path.join(dist, 'src', 'cli', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write('risk-sync is not built yet: run `npm run build` (or `npm start`) first\n');
  process.exit(2);
}
// The local host, the demo and the emulator (tools/) come with a clone, not with the deployment package; they are
// loaded only for a command line that is not one of the product's own commands (main decides).
const local = path.join(dist, 'tools', 'cli.js');
require(entry).main(process.argv, existsSync(local) ? (program) => require(local).addLocalCommands(program) : undefined);
