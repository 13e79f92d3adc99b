#!/usr/bin/env node
'use strict';
const path = require('node:path');
const { existsSync } = require('node:fs');

const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write('risk-sync is not built yet: run `npm run build` (or `npm start`) first\n');
  process.exit(2);
}
require(entry).main(process.argv);
