/**
 * The app's settings reach Azure as ONE object: their defaults come from src/config/settings.ts SETTINGS through the
 * generated infra/app-settings.json (scripts/infra-settings.js), merged with the appSettings parameter of overrides,
 * which infra/main.parameters.json maps from the azd environment. A setting added to SETTINGS needs no Bicep edit,
 * only the script re-run, and forgetting that fails here with the command to run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS, type SettingInfo } from '../../src/config/settings';
import { GRAPH_CLOUD_NAMES } from '../../src/config/clouds';
import { BicepFile, REPO, arrayItems, mask, objectEntries, readRepoFile } from './bicep';

const infraSettings = require('../../scripts/infra-settings.js') as {
  APP_SETTINGS_FILE: string;
  PARAMETERS_FILE: string;
  COMMAND: string;
  COMPUTED: string[];
  renderInfraSettings(settings: readonly SettingInfo[], readRepoFile?: (file: string) => string): Record<string, string>;
};

/** What must never be deployed: secrets, and switches for local runs and tests. */
const NEVER_DEPLOYED = ['AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'TABLES_CONNECTION_STRING', 'GRAPH_ENDPOINT'];
/** Not a setting yet; when it becomes one, it must be marked too. */
const NEVER_DEPLOYED_ONCE_IT_EXISTS = ['AZURE_AUTHORITY_HOST'];

/** Prefixes of settings that belong to the Functions platform or to a trigger connection, not to the app. */
const PLATFORM_PREFIXES = ['AzureWebJobs', 'APPLICATIONINSIGHTS_', 'FUNCTIONS_', 'WEBSITE_', 'RunsQueue__'];
/** Settings of the Azure SDK (not of this app) that the template sets. */
const SDK_SETTINGS = ['AZURE_TOKEN_CREDENTIALS'];

const functionApp = new BicepFile('infra/app/function-app.bicep');
const resources = new BicepFile('infra/resources.bicep');
const main = new BicepFile('infra/main.bicep');
const types = new BicepFile('infra/app/types.bicep');

const deployed = SETTINGS.filter((s) => s.deployed !== false);
const appSettingsJson = JSON.parse(readRepoFile('infra/app-settings.json')) as { settings: Record<string, string> };
const parametersJson = JSON.parse(readRepoFile('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> };

/** The `params: { ... }` of a module statement: parameter -> expression text. */
function moduleParams(file: BicepFile, module: string): Map<string, string> {
  const body = file.block('module', module).body;
  const params = /\n\s*params:\s*\{/.exec(body);
  if (!params) throw new Error(`${file.path}: module ${module} has no params`);
  const open = params.index + params[0].length - 1;
  const masked = mask(body);
  let depth = 0;
  for (let i = open; i < masked.length; i++) {
    if (masked[i] === '{') depth++;
    if (masked[i] === '}' && --depth === 0) return new Map(objectEntries(body.slice(open, i + 1)).map((e) => [e.key, e.value]));
  }
  throw new Error(`${file.path}: unbalanced params of module ${module}`);
}

/** Keys and values of the `var <name> = { ... }` object literal of the function-app module. */
function objectVar(name: string): Map<string, string> {
  const expression = functionApp.vars().get(name);
  if (!expression?.startsWith('{')) throw new Error(`infra/app/function-app.bicep: var ${name} is not an object literal`);
  return new Map(objectEntries(expression).map((e) => [e.key, e.value]));
}

describe('the settings file and the azd mapping are generated from SETTINGS', () => {
  test('infra/app-settings.json and infra/main.parameters.json are what scripts/infra-settings.js writes now', () => {
    const expected = infraSettings.renderInfraSettings(SETTINGS);
    expect(Object.keys(expected).sort()).toEqual([join('infra', 'app-settings.json'), join('infra', 'main.parameters.json')].sort());
    for (const [file, text] of Object.entries(expected)) {
      const committed = readFileSync(join(REPO, file), 'utf8');
      if (committed !== text) {
        throw new Error(`${file} is out of date with src/config/settings.ts SETTINGS. Run \`${infraSettings.COMMAND}\` and commit the result.`);
      }
    }
  });

  test('a setting added to SETTINGS is picked up by re-running the script, with no Bicep edit', () => {
    const added: SettingInfo = { name: 'SYNC_SOMETHING_NEW', default: '5', description: 'a setting the code reads from now on' };
    const secret: SettingInfo = { name: 'SOME_NEW_SECRET', secret: true, deployed: false, description: 'a secret' };
    const rendered = infraSettings.renderInfraSettings([...SETTINGS, added, secret]);
    const defaults = JSON.parse(rendered[infraSettings.APP_SETTINGS_FILE]!) as { settings: Record<string, string> };
    const mapping = (JSON.parse(rendered[infraSettings.PARAMETERS_FILE]!) as typeof parametersJson).parameters.appSettings!.value as Record<
      string,
      string
    >;
    expect(defaults.settings.SYNC_SOMETHING_NEW).toBe('5');
    expect(mapping.SYNC_SOMETHING_NEW).toBe('${SYNC_SOMETHING_NEW=5}');
    expect(defaults.settings).not.toHaveProperty('SOME_NEW_SECRET');
    expect(mapping).not.toHaveProperty('SOME_NEW_SECRET');
    // ...and the committed files no longer match, which is what the test above reports
    expect(rendered[infraSettings.APP_SETTINGS_FILE]).not.toBe(readRepoFile('infra/app-settings.json'));
  });

  test('the settings file holds the default of every deployed setting, in SETTINGS order', () => {
    expect(Object.keys(appSettingsJson.settings)).toEqual(deployed.map((s) => s.name));
    for (const s of deployed) expect({ name: s.name, value: appSettingsJson.settings[s.name] }).toEqual({ name: s.name, value: s.default ?? '' });
  });

  test('main.parameters.json maps each deployed setting that the template does not compute to the azd value of the same name', () => {
    const mapping = parametersJson.parameters.appSettings!.value as Record<string, string>;
    const expected = deployed.filter((s) => !infraSettings.COMPUTED.includes(s.name));
    expect(Object.keys(mapping)).toEqual(expected.map((s) => s.name));
    for (const s of expected) {
      const m = /^\$\{([A-Z0-9_]+)(?:=([^}]*))?\}$/.exec(mapping[s.name]!);
      expect({ name: s.name, variable: m?.[1], default: m?.[2] ?? '' }).toEqual({ name: s.name, variable: s.name, default: s.default ?? '' });
    }
  });
});

describe('settings that must never be deployed', () => {
  test.each(NEVER_DEPLOYED.map((n) => [n]))('%s is marked deployed: false in SETTINGS', (name) => {
    expect(SETTINGS.find((s) => s.name === name)?.deployed).toBe(false);
  });

  test('every secret is marked, and so is AZURE_AUTHORITY_HOST once it is a setting', () => {
    for (const s of SETTINGS.filter((x) => x.secret)) expect({ name: s.name, deployed: s.deployed }).toEqual({ name: s.name, deployed: false });
    for (const name of NEVER_DEPLOYED_ONCE_IT_EXISTS) {
      const s = SETTINGS.find((x) => x.name === name);
      if (s) expect({ name, deployed: s.deployed }).toEqual({ name, deployed: false });
    }
  });

  test('none of them is in the settings file, the parameters file or the code of any template', () => {
    const notDeployed = SETTINGS.filter((s) => s.deployed === false).map((s) => s.name);
    expect(notDeployed.length).toBeGreaterThanOrEqual(NEVER_DEPLOYED.length);
    const code = [functionApp, resources, main, types, new BicepFile('infra/app/rbac.bicep'), new BicepFile('infra/app/storage.bicep')]
      .map((f) => f.masked) // string contents are masked: look at identifiers...
      .join('\n');
    const literals = [functionApp, resources, main, types].map((f) => f.src.replace(/\/\/.*$/gm, '')).join('\n'); // ...and at the text
    for (const name of notDeployed) {
      expect({ name, inSettingsFile: name in appSettingsJson.settings }).toEqual({ name, inSettingsFile: false });
      expect({ name, inParameters: readRepoFile('infra/main.parameters.json').includes(name) }).toEqual({ name, inParameters: false });
      expect({ name, inCode: code.includes(name) || new RegExp(`\\b${name}\\b`).test(literals) }).toEqual({ name, inCode: false });
    }
  });
});

describe('one appSettings object, no parameter per setting', () => {
  test('main.bicep and resources.bicep take the app settings as one typed object, and pass it on unchanged', () => {
    for (const file of [main, resources]) {
      expect(file.imports().get('appSettingOverrides')).toBe('app/types.bicep');
      const param = file.params().get('appSettings')!;
      expect({ file: file.path, type: param.type, default: param.defaultRaw }).toEqual({
        file: file.path,
        type: 'appSettingOverrides',
        default: '{}',
      });
      // no parameter carries a single setting (the old tenantId, graphCloud, syncLookbackMinutes, ...)
      const camel = new Set(SETTINGS.map((s) => s.name.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())));
      const perSetting = [...file.params().keys()].filter((p) => camel.has(p) || p === 'tenantId');
      expect({ file: file.path, perSetting }).toEqual({ file: file.path, perSetting: [] });
    }
    expect(moduleParams(main, 'resources').get('appSettings')).toBe('appSettings');
  });

  test('resources.bicep merges the overrides over the generated defaults; empty overrides keep the default; unknown names fail', () => {
    const vars = resources.vars();
    expect(vars.get('settingDefaults')).toBe("loadJsonContent('app-settings.json').settings");
    expect(vars.get('settings')).toBe('union(settingDefaults, settingOverrides)');
    const overrides = vars.get('settingOverrides')!;
    expect(overrides).toMatch(/^toObject\(filter\(items\(appSettings\), s => !empty\(s\.value\)\), s => s\.key, /);
    expect(overrides).toContain('settingDefaults[s.key]'); // the lookup that fails on a name the app does not read
    expect(moduleParams(resources, 'functionApp').get('settings')).toBe('settings');
    expect(vars.get('effectiveTenantId')).toBe('empty(settings.AZURE_TENANT_ID) ? subscription().tenantId : settings.AZURE_TENANT_ID');
    expect(moduleParams(resources, 'functionApp').get('tenantId')).toBe('effectiveTenantId');
  });

  test('the Bicep names no setting of the app beyond the few it uses to build resources', () => {
    const used = new Set<string>();
    for (const file of [resources, functionApp, new BicepFile('infra/app/storage.bicep'), new BicepFile('infra/app/rbac.bicep')]) {
      for (const m of file.masked.matchAll(/\bsettings\.([A-Z][A-Z0-9_]*)/g)) used.add(m[1]!);
    }
    expect([...used].sort()).toEqual(['AZURE_TENANT_ID', 'GRAPH_CLOUD', 'RUNS_QUEUE']);
    for (const name of used) expect(deployed.map((s) => s.name)).toContain(name);
  });
});

describe('the settings with a fixed set of values are typed (infra/app/types.bicep)', () => {
  const type = types.types().get('appSettingOverrides')!;
  const properties = new Map(objectEntries(type).map((e) => [e.key, e.value]));
  const union = (key: string) =>
    arrayItems(
      properties
        .get(key)!
        .replace(/^\(|\)\?$/g, '')
        .replace(/\|/g, '\n'),
    ).map((v) => v.replace(/'/g, ''));

  test('exported, optional properties, and a string for every other setting', () => {
    expect(types.src).toMatch(/@export\(\)\ntype appSettingOverrides = \{/);
    for (const [key, value] of properties) expect({ key, optional: value.endsWith('?') }).toEqual({ key, optional: true });
    expect(mask(type)).toMatch(/\n\s*\*:\s*string\n\}$/);
  });

  test('HTTP_AUTH_LEVEL: function or admin only (no anonymous data)', () => {
    expect(union('HTTP_AUTH_LEVEL')).toEqual(['function', 'admin']);
  });

  test('HTTP_HEALTH_AUTH_LEVEL: function or anonymous', () => {
    expect(union('HTTP_HEALTH_AUTH_LEVEL')).toEqual(['function', 'anonymous']);
  });

  test('GRAPH_CLOUD: the clouds the code knows', () => {
    expect(union('GRAPH_CLOUD')).toEqual(GRAPH_CLOUD_NAMES);
  });

  test('each typed key is a deployed setting whose default is one of its values', () => {
    for (const key of properties.keys()) {
      const setting = deployed.find((s) => s.name === key);
      expect({ key, known: setting !== undefined }).toEqual({ key, known: true });
      expect(union(key)).toContain(setting!.default);
    }
  });
});

describe('app settings of the function app (infra/app/function-app.bicep)', () => {
  test('defaults and overrides, then the computed settings: union order decides who wins', () => {
    expect(functionApp.vars().get('appSettings')).toBe(
      'union(hostStorageAppSettings, platformAppSettings, hostingAppSettings, runsQueueAppSettings, settings, computedAppSettings)',
    );
    const config = functionApp.block('resource', 'appSettingsConfig');
    expect(config.target).toMatch(/^Microsoft\.Web\/sites\/config@/);
    expect(config.body).toMatch(/name:\s*'appsettings'/);
    expect(config.body).toMatch(/properties:\s*appSettings\b/);
    expect(functionApp.params().get('settings')!.type).toBe('object');
  });

  test("the computed settings: the tenant, the identity, the account's table and queue endpoints", () => {
    const computed = objectVar('computedAppSettings');
    expect([...computed.keys()].sort()).toEqual([...infraSettings.COMPUTED].sort());
    expect(Object.fromEntries(computed)).toEqual({
      AZURE_TENANT_ID: 'tenantId',
      AZURE_CLIENT_ID: 'identityClientId',
      TABLES_ENDPOINT: 'tableEndpoint',
      QUEUE_ENDPOINT: 'queueEndpoint',
    });
    for (const name of infraSettings.COMPUTED) expect(deployed.map((s) => s.name)).toContain(name);
    const vars = functionApp.vars();
    expect(vars.get('rawTableEndpoint')).toBe('storage.properties.primaryEndpoints.table');
    expect(vars.get('tableEndpoint')).toMatch(/substring\(rawTableEndpoint, 0, length\(rawTableEndpoint\) - 1\)/);
    expect(vars.get('rawQueueEndpoint')).toBe('storage.properties.primaryEndpoints.queue');
    expect(vars.get('queueEndpoint')).toMatch(/substring\(rawQueueEndpoint, 0, length\(rawQueueEndpoint\) - 1\)/);
    expect(moduleParams(resources, 'functionApp').get('identityClientId')).toBe('identity.outputs.clientId');
  });

  test('the other objects set only platform, connection and SDK settings, each once', () => {
    const seen = new Set<string>();
    for (const name of [
      'publicCloudHostStorageAppSettings',
      'sovereignCloudHostStorageAppSettings',
      'platformAppSettings',
      'premiumAppSettings',
      'runsQueueAppSettings',
    ]) {
      for (const key of objectVar(name).keys()) {
        expect({ name, key, platform: PLATFORM_PREFIXES.some((p) => key.startsWith(p)) || SDK_SETTINGS.includes(key) }).toEqual({
          name,
          key,
          platform: true,
        });
        expect({ key, set: SETTINGS.some((s) => s.name === key) }).toEqual({ key, set: false });
        if (name !== 'sovereignCloudHostStorageAppSettings') {
          expect({ key, twice: seen.has(key) }).toEqual({ key, twice: false });
          seen.add(key);
        }
      }
    }
  });

  // The template's own app settings hold no connection string: test/infra/bicep-security.test.ts.
  test('the rendered infra/app-settings.json holds no account key or connection string', () => {
    expect(JSON.stringify(appSettingsJson)).not.toMatch(/AccountKey|SharedAccess|DefaultEndpointsProtocol/i);
  });

  test('identity-based host storage and Entra-authenticated Application Insights', () => {
    expect(objectVar('publicCloudHostStorageAppSettings').get('AzureWebJobsStorage__accountName')).toBe('storage.name');
    const platform = objectVar('platformAppSettings');
    expect(platform.get('AzureWebJobsStorage__credential')).toBe("'managedidentity'");
    expect(platform.get('AzureWebJobsStorage__clientId')).toBe('identityClientId');
    // sovereign clouds: service URIs instead of the account name
    const sovereign = objectVar('sovereignCloudHostStorageAppSettings');
    for (const service of ['blob', 'queue', 'table']) {
      expect(sovereign.get(`AzureWebJobsStorage__${service}ServiceUri`)).toBe(`storage.properties.primaryEndpoints.${service}`);
    }
    expect(functionApp.vars().get('hostStorageAppSettings')).toBe(
      "environment().name == 'AzureCloud' ? publicCloudHostStorageAppSettings : sovereignCloudHostStorageAppSettings",
    );
    expect(platform.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')).toBe("'ClientId=${identityClientId};Authorization=AAD'");
    expect(platform.get('APPLICATIONINSIGHTS_CONNECTION_STRING')).toBe('appInsights.properties.ConnectionString');
  });

  test('no custom Node worker arguments: the host keeps its pre-warmed placeholder worker for cold starts', () => {
    for (const [name, expression] of functionApp.vars()) {
      if (!name.endsWith('AppSettings') || !expression.startsWith('{')) continue;
      expect({ name, keys: objectEntries(expression).map((e) => e.key) }).toEqual({
        name,
        keys: expect.not.arrayContaining(['languageWorkers__node__arguments']),
      });
    }
  });

  test('in Azure, DefaultAzureCredential tries only the managed identity (AZURE_TOKEN_CREDENTIALS, a name the installed SDK accepts)', () => {
    expect(objectVar('platformAppSettings').get('AZURE_TOKEN_CREDENTIALS')).toBe("'ManagedIdentityCredential'");
    const sdk = readFileSync(require.resolve('@azure/identity').replace(/index\.js$/, 'credentials/defaultAzureCredential.js'), 'utf8');
    const valid = /validCredentialNames = "([^"]+)"/
      .exec(sdk)?.[1]
      ?.split(',')
      .map((n) => n.trim());
    expect(valid).toContain('ManagedIdentityCredential');
    expect(sdk).toContain('AZURE_TOKEN_CREDENTIALS');
  });

  test('the queue trigger connects with the identity: RunsQueue__queueServiceUri, credential and client id', () => {
    expect(Object.fromEntries(objectVar('runsQueueAppSettings'))).toEqual({
      RunsQueue__queueServiceUri: 'queueEndpoint',
      RunsQueue__credential: "'managedidentity'",
      RunsQueue__clientId: 'identityClientId',
    });
    const runsQueue = deployed.find((s) => s.name === 'RUNS_QUEUE');
    expect(runsQueue?.default).toBe('sync-run-requests');
    expect(moduleParams(resources, 'storage').get('runsQueueName')).toBe('settings.RUNS_QUEUE');
  });
});

describe('outputs the postprovision hook and the guide rely on', () => {
  test('main.bicep outputs', () => {
    const outputs = main.outputs();
    for (const name of [
      'AZURE_TENANT_ID',
      'GRAPH_CLOUD',
      'MANAGED_IDENTITY_PRINCIPAL_ID',
      'MANAGED_IDENTITY_CLIENT_ID',
      'AZURE_FUNCTION_APP_NAME',
      'AZURE_FUNCTION_APP_URL',
      'AZURE_STORAGE_ACCOUNT_NAME',
      'AZURE_DEPLOYMENT_CONTAINER_NAME',
      'AZURE_FUNCTION_PACKAGE_URL',
      'AZURE_HOSTING_PLAN',
      'TABLES_ENDPOINT',
      'AZURE_RESOURCE_GROUP',
    ]) {
      expect({ name, present: outputs.has(name) }).toEqual({ name, present: true });
    }
    // outputs named like a setting carry that setting's value
    expect(outputs.get('TABLES_ENDPOINT')).toBe('resources.outputs.tablesEndpoint');
    expect(resources.outputs().get('tablesEndpoint')).toBe('functionApp.outputs.tableEndpoint');
    expect(functionApp.outputs().get('tableEndpoint')).toBe('tableEndpoint');
    expect(outputs.get('GRAPH_CLOUD')).toBe('resources.outputs.graphCloud');
    expect(resources.outputs().get('graphCloud')).toBe('settings.GRAPH_CLOUD');
    expect(outputs.get('AZURE_TENANT_ID')).toBe('resources.outputs.tenantId');
    expect(resources.outputs().get('tenantId')).toBe('effectiveTenantId');
    expect(outputs.get('MANAGED_IDENTITY_PRINCIPAL_ID')).toBe('resources.outputs.managedIdentityPrincipalId');
    expect(resources.outputs().get('managedIdentityPrincipalId')).toBe('identity.outputs.principalId');
    // no output named like a setting the deployment must not carry (AZURE_CLIENT_ID would steer local credentials)
    for (const name of outputs.keys()) {
      const setting = SETTINGS.find((s) => s.name === name);
      if (setting) expect({ name, allowed: setting.deployed !== false && name !== 'AZURE_CLIENT_ID' }).toEqual({ name, allowed: true });
    }
  });
});

describe('main.parameters.json: the deployment choices', () => {
  test('every parameter exists in main.bicep; each RISK_SYNC_* default is the template default', () => {
    const mainParams = main.params();
    for (const name of Object.keys(parametersJson.parameters)) expect({ name, inMain: mainParams.has(name) }).toEqual({ name, inMain: true });
    expect(parametersJson.parameters.environmentName!.value).toBe('${AZURE_ENV_NAME}');
    expect(parametersJson.parameters.location!.value).toBe('${AZURE_LOCATION}');
    for (const [name, { value }] of Object.entries(parametersJson.parameters)) {
      const m = typeof value === 'string' ? /^\$\{(RISK_SYNC_[A-Z_]+)=([^}]*)\}$/.exec(value) : null;
      if (!m) continue;
      const param = mainParams.get(name)!;
      expect({ name, default: m[2] }).toEqual({ name, default: String(param.defaultValue) });
      if (param.allowed) expect(param.allowed).toContain(m[2]);
    }
    for (const name of ['hostingPlan', 'storageRedundancy', 'dataLock', 'tableRoleScope']) {
      expect({ name, mapped: typeof parametersJson.parameters[name]?.value === 'string' }).toEqual({ name, mapped: true });
    }
  });

  test('every parameter of main.bicep and resources.bicep is described', () => {
    for (const file of [main, resources]) {
      for (const p of file.params().values())
        expect({ file: file.path, param: p.name, described: !!p.description }).toEqual({ file: file.path, param: p.name, described: true });
    }
  });

  test('main.bicep passes every choice to resources.bicep unchanged, with the same allowed values and defaults', () => {
    const passed = moduleParams(main, 'resources');
    const resourcesParams = resources.params();
    for (const [name, param] of main.params()) {
      if (['environmentName', 'location', 'resourceGroupName'].includes(name)) continue;
      expect({ name, value: passed.get(name) }).toEqual({ name, value: name });
      const other = resourcesParams.get(name)!;
      expect({ name, allowed: other.allowed, default: other.defaultRaw, min: other.minValue, max: other.maxValue }).toEqual({
        name,
        allowed: param.allowed,
        default: param.defaultRaw,
        min: param.minValue,
        max: param.maxValue,
      });
    }
  });
});
