#!/usr/bin/env node
// `npm run build`, after tsc: the CLI's own commands (sync, status, export) as one file, dist/cli/risk-sync.js, which
// bin/risk-sync.js runs. A sync process reaches its first Graph request about a third sooner from one file than from
// the few hundred of dist/ and node_modules that it would otherwise resolve, read and wrap one by one
// (docs/benchmark.md). Inside, every module still runs only when first required. dist/cli/meta.json lists what went in.
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
  // The CSV writer serves `export` only: it stays a package of its own, loaded when an export writes CSV. `open`
  // (@azure/identity's browser sign-in, which no credential of ours uses) finds its files from its own module URL,
  // which a bundle does not have.
  external: ['csv-stringify', 'open'],
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(path.join(root, 'dist', 'cli', 'meta.json'), JSON.stringify(metafile));
