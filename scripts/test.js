#!/usr/bin/env node
// `npm test`: makes sure the Graph emulator's self-signed certificate exists, then runs Jest with
// NODE_EXTRA_CA_CERTS pointing at it, so every process of the suite (Jest workers, spawned CLIs) trusts the
// emulator exactly as it would trust Graph. Node reads that variable only at start-up, hence this wrapper.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

async function main() {
  const root = path.join(__dirname, '..');
  const { ensureEmulatorCertificate } = require(path.join(root, 'dist/tools/emulator/certificate.js'));
  const { certPath } = await ensureEmulatorCertificate();
  const jest = require.resolve('jest/bin/jest');
  const result = spawnSync(process.execPath, [jest, ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: certPath },
  });
  process.exit(result.status ?? 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
