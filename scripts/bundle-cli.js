#!/usr/bin/env node
// `npm run build`, after tsc: the CLI's own commands (sync, status, export) as one file, dist/cli/risk-sync.js, which
// bin/risk-sync.js runs. A sync process reaches its first Graph request about a third sooner from one file than from
// the few hundred of dist/ and node_modules that it would otherwise resolve, read and wrap one by one
// (docs/benchmark.md). Inside, every module still runs only when first required. dist/cli/meta.json lists what went in,
// dist/cli/commands.json the commands it runs.
'use strict';
const { writeFileSync } = require('node:fs');
const path = require('node:path');
const { buildSync } = require('esbuild');

const root = path.join(__dirname, '..');
const { metafile } = buildSync({
  entryPoints: [path.join(root, 'dist', 'src', 'cli', 'main.js')],
  outfile: path.join(root, 'dist', 'cli', 'risk-sync.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  // What only `export` runs stays a package of its own, loaded when first used: the CSV writer, zod (the list filters
  // and continuation tokens: a third of the bundle, whose every byte V8 would parse on every start) and negotiator.
  // `open` (@azure/identity's browser sign-in, which no credential of ours uses) finds its files from its own module
  // URL, which a bundle does not have.
  external: ['csv-stringify', 'open', 'zod', 'negotiator'],
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(path.join(root, 'dist', 'cli', 'meta.json'), JSON.stringify(metafile));
// The names (and aliases) of the bundle's commands, which bin/risk-sync.js reads to choose between the bundle and the
// modules without loading either first.
const { buildProgram } = require(path.join(root, 'dist', 'cli', 'risk-sync.js'));
const commands = buildProgram().commands.flatMap((c) => [c.name(), ...c.aliases()]);
writeFileSync(path.join(root, 'dist', 'cli', 'commands.json'), `${JSON.stringify(commands)}\n`);
