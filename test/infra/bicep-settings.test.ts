/**
 * The Bicep templates and the app's settings contract (src/config/settings.ts SETTINGS) must agree: every
 * setting the deployment controls is set on the function app, nothing misspelled is set, and the template
 * defaults are the code defaults.
 */
import { SETTINGS } from '../../src/config/settings';
import { GRAPH_CLOUD_NAMES } from '../../src/config/clouds';
import { BicepFile, mask, objectEntries, readRepoFile, type Param } from './bicep';

/**
 * Settings the deployment must NOT set. Each is either a secret (the app authenticates with its managed
 * identity, so there is none to store) or a switch for local runs and tests.
 */
const NOT_DEPLOYED: ReadonlyMap<string, string> = new Map([
  ['AZURE_CLIENT_SECRET', 'secret of an app registration; the deployed app uses its managed identity'],
  ['AZURE_CLIENT_CERTIFICATE_PATH', 'certificate of an app registration; the deployed app uses its managed identity'],
  ['TABLES_CONNECTION_STRING', 'account-key connection string (Azurite, local runs); the account disallows shared keys'],
  ['GRAPH_ENDPOINT', 'testing/proxy override of the Graph root; GRAPH_CLOUD picks the real one'],
  ['AZURE_AUTHORITY_HOST', 'testing/proxy override of the Entra authority; GRAPH_CLOUD picks the real one'],
]);

/** Settings whose value the template computes instead of taking from a parameter. */
const COMPUTED: ReadonlyMap<string, RegExp> = new Map([
  ['AZURE_TENANT_ID', /^tenantId$/], // resources.bicep: the parameter, or subscription().tenantId when empty
  ['AZURE_CLIENT_ID', /^identityClientId$/], // the user-assigned identity's client id
  ['TABLES_ENDPOINT', /^tableEndpoint$/], // the account's table endpoint
]);

/** Prefixes of settings that belong to the Functions platform, not to the app. */
const PLATFORM_PREFIXES = ['AzureWebJobs', 'APPLICATIONINSIGHTS', 'FUNCTIONS', 'WEBSITE'];

const functionApp = new BicepFile('infra/app/function-app.bicep');
const resources = new BicepFile('infra/resources.bicep');
const main = new BicepFile('infra/main.bicep');

/** Every key of every `var ...AppSettings = { ... }` object literal in the function-app module. */
function appSettings(): Map<string, string> {
  const settings = new Map<string, string>();
  for (const [name, expression] of functionApp.vars()) {
    if (!name.endsWith('AppSettings') || !expression.startsWith('{')) continue;
    for (const { key, value } of objectEntries(expression)) {
      if (settings.has(key)) throw new Error(`app setting ${key} is set twice`);
      settings.set(key, value);
    }
  }
  return settings;
}

/** The `params: { ... }` of a module statement: parameter → expression text. */
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

const deployed = appSettings();
const settingNames = new Set(SETTINGS.map((s) => s.name));
const controlled = SETTINGS.filter((s) => !NOT_DEPLOYED.has(s.name));

describe('app settings of the function app (infra/app/function-app.bicep)', () => {
  test('the settings object is found and feeds the appsettings config resource', () => {
    expect(deployed.size).toBeGreaterThan(10);
    const vars = functionApp.vars();
    expect(vars.get('appSettings')).toMatch(/^union\(/);
    for (const name of [...vars.keys()].filter((n) => n.endsWith('AppSettings') && n !== 'appSettings')) {
      const usedIn = [...vars.values()].some((expression) => expression.includes(name)) || functionApp.src.includes(`properties: ${name}`);
      expect({ name, usedIn }).toEqual({ name, usedIn: true });
    }
    const config = functionApp.block('resource', 'appSettingsConfig');
    expect(config.target).toMatch(/^Microsoft\.Web\/sites\/config@/);
    expect(config.body).toMatch(/name:\s*'appsettings'/);
    expect(config.body).toMatch(/properties:\s*appSettings\b/);
  });

  test.each(controlled.map((s) => [s.name]))('%s is set', (name) => {
    expect(deployed.has(name)).toBe(true);
  });

  test.each([...NOT_DEPLOYED.keys()].map((n) => [n]))('%s is not set (secret or testing-only)', (name) => {
    expect(settingNames.has(name)).toBe(true); // the exclusion list names real settings
    expect(deployed.has(name)).toBe(false);
    expect(functionApp.masked).not.toContain(name);
  });

  test('every app-looking setting the template sets is a known setting (no typos)', () => {
    const ours = [...deployed.keys()].filter((key) => /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/.test(key) && !PLATFORM_PREFIXES.some((p) => key.startsWith(p)));
    expect(ours.length).toBe(controlled.length);
    expect(ours.filter((key) => !settingNames.has(key))).toEqual([]);
  });

  test("computed settings take the identity, the tenant and the account's table endpoint", () => {
    for (const [name, pattern] of COMPUTED) expect({ name, value: deployed.get(name) }).toEqual({ name, value: expect.stringMatching(pattern) });
    const vars = functionApp.vars();
    expect(vars.get('rawTableEndpoint')).toBe('storage.properties.primaryEndpoints.table');
    expect(vars.get('tableEndpoint')).toMatch(/substring\(rawTableEndpoint, 0, length\(rawTableEndpoint\) - 1\)/);
    const passed = moduleParams(resources, 'functionApp');
    expect(passed.get('identityClientId')).toBe('identity.outputs.clientId');
    expect(passed.get('tenantId')).toBe('effectiveTenantId');
    expect(resources.vars().get('effectiveTenantId')).toBe('empty(tenantId) ? subscription().tenantId : tenantId');
  });

  test('identity-based host storage and Entra-authenticated Application Insights', () => {
    expect(deployed.get('AzureWebJobsStorage__accountName')).toBe('storage.name');
    expect(deployed.get('AzureWebJobsStorage__credential')).toBe("'managedidentity'");
    expect(deployed.get('AzureWebJobsStorage__clientId')).toBe('identityClientId');
    // sovereign clouds: service URIs instead of the account name
    for (const service of ['blob', 'queue', 'table']) {
      expect(deployed.get(`AzureWebJobsStorage__${service}ServiceUri`)).toBe(`storage.properties.primaryEndpoints.${service}`);
    }
    expect(deployed.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')).toBe("'ClientId=${identityClientId};Authorization=AAD'");
    expect(deployed.get('APPLICATIONINSIGHTS_CONNECTION_STRING')).toBe('appInsights.properties.ConnectionString');
    expect(deployed.has('AzureWebJobsStorage')).toBe(false); // the connection-string form
  });

  test('no setting that Flex Consumption rejects or ignores', () => {
    for (const name of [
      'FUNCTIONS_WORKER_RUNTIME',
      'FUNCTIONS_EXTENSION_VERSION',
      'WEBSITE_RUN_FROM_PACKAGE',
      'WEBSITE_CONTENTSHARE',
      'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
      'WEBSITE_NODE_DEFAULT_VERSION',
      'WEBSITE_TIME_ZONE',
      'SCM_DO_BUILD_DURING_DEPLOYMENT',
      'ENABLE_ORYX_BUILD',
    ]) {
      expect({ name, set: deployed.has(name) }).toEqual({ name, set: false });
    }
  });
});

/** Setting name → the function-app parameter its value comes from (settings with a plain parameter value). */
function parameterOfSetting(): Map<string, string> {
  const faParams = functionApp.params();
  const map = new Map<string, string>();
  for (const s of controlled) {
    const value = deployed.get(s.name);
    if (!COMPUTED.has(s.name) && value !== undefined && faParams.has(value)) map.set(s.name, value);
  }
  return map;
}

describe('template defaults are the settings defaults', () => {
  const mapping = parameterOfSetting();
  const faParams = functionApp.params();

  test('every setting that is not computed takes its value from a parameter of the module', () => {
    const expected = controlled.filter((s) => !COMPUTED.has(s.name)).map((s) => s.name);
    expect([...mapping.keys()]).toEqual(expected);
  });

  test.each([...mapping].map(([setting, param]) => [setting, param]))('%s (parameter %s)', (setting, param) => {
    const expected = SETTINGS.find((s) => s.name === setting)!.default ?? '';
    // the module has no default of its own: it cannot drift
    expect(faParams.get(param)!.defaultRaw).toBeUndefined();
    for (const file of [main, resources]) {
      const p: Param | undefined = file.params().get(param);
      expect({ file: file.path, param, declared: p !== undefined }).toEqual({ file: file.path, param, declared: true });
      expect({ file: file.path, param, type: p!.type, default: p!.defaultValue }).toEqual({
        file: file.path,
        param,
        type: 'string',
        default: expected,
      });
      expect(p!.description).toEqual(expect.stringContaining(setting));
    }
  });

  test('allowed values match what the code accepts', () => {
    for (const file of [main, resources]) {
      const params = file.params();
      expect(params.get(mapping.get('GRAPH_CLOUD')!)!.allowed).toEqual(GRAPH_CLOUD_NAMES);
      expect(params.get(mapping.get('HTTP_AUTH_LEVEL')!)!.allowed).toEqual(['function', 'admin', 'anonymous']);
    }
  });

  test('values are passed through unchanged: main.bicep → resources.bicep → function-app.bicep', () => {
    const intoResources = moduleParams(main, 'resources');
    const intoFunctionApp = moduleParams(resources, 'functionApp');
    for (const param of mapping.values()) {
      expect({ param, value: intoResources.get(param) }).toEqual({ param, value: param });
      expect({ param, value: intoFunctionApp.get(param) }).toEqual({ param, value: param });
    }
    expect(intoResources.get('tenantId')).toBe('tenantId');
  });

  test('every parameter of main.bicep and resources.bicep is described', () => {
    for (const file of [main, resources]) {
      for (const p of file.params().values())
        expect({ file: file.path, param: p.name, described: !!p.description }).toEqual({ file: file.path, param: p.name, described: true });
    }
  });

  test('main.parameters.json maps each setting parameter to the azd environment value of the same name, with the same default', () => {
    const file = JSON.parse(readRepoFile('infra/main.parameters.json')) as { parameters: Record<string, { value: string }> };
    const mainParams = main.params();
    for (const name of Object.keys(file.parameters)) expect({ name, inMain: mainParams.has(name) }).toEqual({ name, inMain: true });
    expect(file.parameters.environmentName!.value).toBe('${AZURE_ENV_NAME}');
    expect(file.parameters.location!.value).toBe('${AZURE_LOCATION}');
    for (const [setting, param] of mapping) {
      const entry = file.parameters[param];
      expect({ param, mapped: entry !== undefined }).toEqual({ param, mapped: true });
      const m = /^\$\{([A-Z0-9_]+)(?:=([^}]*))?\}$/.exec(entry!.value);
      expect({ param, value: entry!.value, form: m !== null }).toEqual({ param, value: entry!.value, form: true });
      expect({ param, variable: m![1] }).toEqual({ param, variable: setting });
      expect({ param, default: m![2] ?? '' }).toEqual({ param, default: SETTINGS.find((s) => s.name === setting)!.default ?? '' });
    }
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
    expect(outputs.get('AZURE_TENANT_ID')).toBe('resources.outputs.tenantId');
    expect(resources.outputs().get('tenantId')).toBe('effectiveTenantId');
    expect(outputs.get('MANAGED_IDENTITY_PRINCIPAL_ID')).toBe('resources.outputs.managedIdentityPrincipalId');
    expect(resources.outputs().get('managedIdentityPrincipalId')).toBe('identity.outputs.principalId');
    // no output named like a setting the deployment must not carry (e.g. AZURE_CLIENT_ID would steer local credentials)
    for (const name of outputs.keys()) if (settingNames.has(name)) expect(NOT_DEPLOYED.has(name) || name === 'AZURE_CLIENT_ID').toBe(false);
  });
});
