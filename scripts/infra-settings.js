#!/usr/bin/env node
// Writes the app settings the Azure deployment sets, from the one list of settings the code reads
// (src/config/settings.ts SETTINGS, read from the build in dist/):
//
//   infra/app-settings.json      the default of every setting the deployment sets; infra/resources.bicep loads it
//                                with loadJsonContent() and merges the appSettings parameter over it
//   infra/main.parameters.json   its appSettings parameter: each setting mapped to the azd environment value of the
//                                same name (azd env set SYNC_LOOKBACK_MINUTES 60), defaulting to the code default
//
// Settings marked `deployed: false` in SETTINGS (secrets, switches for local runs and tests) are left out. Settings the
// template computes from the resources it creates (COMPUTED below) are in app-settings.json with their empty default
// but are not mapped from the azd environment.
//
// Usage: npm run build && node scripts/infra-settings.js           (writes both files)
//        npm run build && node scripts/infra-settings.js --check   (exit 1 when a file is out of date)
'use strict';
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const APP_SETTINGS_FILE = path.join('infra', 'app-settings.json');
const PARAMETERS_FILE = path.join('infra', 'main.parameters.json');
const COMMAND = 'npm run build && node scripts/infra-settings.js';

/**
 * Settings whose value infra/app/function-app.bicep computes: the tenant (the subscription's when empty), the
 * identity's client id and the storage endpoints. Mapping them from the azd environment would feed the template's
 * own outputs (AZURE_TENANT_ID, TABLES_ENDPOINT) back into it.
 */
const COMPUTED = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'TABLES_ENDPOINT', 'QUEUE_ENDPOINT'];

/** The settings the deployment sets, in SETTINGS order. */
function deployedSettings(settings) {
  return settings.filter((s) => s.deployed !== false);
}

/** Text of infra/app-settings.json. */
function renderAppSettings(settings) {
  const defaults = {};
  for (const s of deployedSettings(settings)) defaults[s.name] = s.default ?? '';
  const document = {
    $comment: `Generated from src/config/settings.ts SETTINGS by scripts/infra-settings.js; do not edit. After changing SETTINGS run: ${COMMAND}`,
    settings: defaults,
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** The appSettings value of main.parameters.json: setting name -> azd environment reference. */
function azdMapping(settings) {
  const mapping = {};
  for (const s of deployedSettings(settings)) {
    if (COMPUTED.includes(s.name)) continue;
    if (/[{}"\\]/.test(s.default ?? '')) throw new Error(`${s.name}: its default cannot be written as an azd \${NAME=default} reference`);
    mapping[s.name] = s.default ? `\${${s.name}=${s.default}}` : `\${${s.name}}`;
  }
  return mapping;
}

/** Text of main.parameters.json with its appSettings parameter regenerated (every other parameter kept as is). */
function renderParameters(settings, currentText) {
  const document = JSON.parse(currentText);
  document.parameters = { ...document.parameters, appSettings: { value: azdMapping(settings) } };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** The generated files: repository-relative path -> expected text. */
function renderInfraSettings(settings, readRepoFile = (file) => readFileSync(path.join(ROOT, file), 'utf8')) {
  return {
    [APP_SETTINGS_FILE]: renderAppSettings(settings),
    [PARAMETERS_FILE]: renderParameters(settings, readRepoFile(PARAMETERS_FILE)),
  };
}

function main() {
  const built = path.join(ROOT, 'dist', 'src', 'config', 'settings.js');
  let settings;
  try {
    ({ SETTINGS: settings } = require(built));
  } catch (error) {
    console.error(`infra-settings: error: cannot load ${path.relative(ROOT, built)} (${error.message}); run: ${COMMAND}`);
    process.exit(1);
  }
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, expected] of Object.entries(renderInfraSettings(settings))) {
    const current = existsSync(path.join(ROOT, file)) ? readFileSync(path.join(ROOT, file), 'utf8') : undefined;
    if (current === expected) continue;
    if (check) {
      console.error(`infra-settings: ${file} is out of date with SETTINGS; run: ${COMMAND}`);
      stale++;
    } else {
      writeFileSync(path.join(ROOT, file), expected);
      console.log(`infra-settings: wrote ${file}`);
    }
  }
  process.exit(stale > 0 ? 1 : 0);
}

module.exports = { APP_SETTINGS_FILE, PARAMETERS_FILE, COMMAND, COMPUTED, deployedSettings, azdMapping, renderInfraSettings };

if (require.main === module) main();
