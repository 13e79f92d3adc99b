#!/usr/bin/env node
'use strict';
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
