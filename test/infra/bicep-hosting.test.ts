/**
 * The hosting plans: Flex Consumption (default) and Elastic Premium (for Azure Government, which has no Flex
 * Consumption), each with the shape its platform accepts; Node 22; and the scale settings that keep on-demand runs
 * within the tenant's Graph budget (one instance per function group, one run request at a time).
 */
import { SETTINGS } from '../../src/config/settings';
import { BicepFile, objectEntries, readRepoFile } from './bicep';

const functionApp = new BicepFile('infra/app/function-app.bicep');
const resources = new BicepFile('infra/resources.bicep');
const main = new BicepFile('infra/main.bicep');

const entries = (text: string) => new Map(objectEntries(text).map((e) => [e.key, e.value]));
const shape = (variable: string, name: string) => entries(entries(functionApp.vars().get(variable)!).get(name)!);

/** Settings Flex Consumption rejects or ignores (runtime and deployment live in functionAppConfig there). */
const FLEX_REJECTS = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'WEBSITE_TIME_ZONE',
  'SCM_DO_BUILD_DURING_DEPLOYMENT',
  'ENABLE_ORYX_BUILD',
];
/** The Azure Files content share: needs an account-key connection string, which this deployment never has. */
const CONTENT_SHARE = ['WEBSITE_CONTENTSHARE', 'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING', 'WEBSITE_CONTENTOVERVNET'];

describe('the hosting plan parameter', () => {
  test('flex (default) or premium, in main.bicep, resources.bicep and the function-app module, passed through', () => {
    for (const file of [main, resources, functionApp]) {
      const param = file.params().get('hostingPlan')!;
      expect({ file: file.path, allowed: param.allowed, default: param.defaultValue }).toEqual({
        file: file.path,
        allowed: ['flex', 'premium'],
        default: 'flex',
      });
    }
    expect(resources.block('module', 'functionApp').body).toMatch(/\n\s*hostingPlan:\s*hostingPlan\n/);
    expect(JSON.parse(readRepoFile('infra/main.parameters.json')).parameters.hostingPlan.value).toBe('${RISK_SYNC_HOSTING_PLAN=flex}');
  });
});

describe('Azure Government', () => {
  test('Microsoft.Web resources use an API version Azure Government offers (2024-04-01; 2024-11-01 is refused there)', () => {
    const web = [...functionApp.resources()].filter(([, type]) => type.startsWith('Microsoft.Web/'));
    expect(web.length).toBeGreaterThanOrEqual(5);
    for (const [name, type] of web) expect({ name, version: type.split('@')[1] }).toEqual({ name, version: '2024-04-01' });
  });
});

describe('the plan', () => {
  test('one plan resource whose kind, sku and properties come from the shape of the chosen plan', () => {
    const body = functionApp.block('resource', 'plan').body;
    expect(functionApp.resources().get('plan')).toMatch(/^Microsoft\.Web\/serverfarms@/);
    for (const key of ['kind', 'sku', 'properties']) expect(body).toMatch(new RegExp(`\\n\\s*${key}:\\s*planShapes\\[hostingPlan\\]\\.${key}\\n`));
  });

  test('flex: FC1 FlexConsumption, Linux', () => {
    const flex = shape('planShapes', 'flex');
    expect(flex.get('kind')).toBe("'functionapp'");
    expect(Object.fromEntries(entries(flex.get('sku')!))).toEqual({ name: "'FC1'", tier: "'FlexConsumption'" });
    expect(Object.fromEntries(entries(flex.get('properties')!))).toEqual({ reserved: 'true' });
  });

  test('premium: EP1 ElasticPremium, Linux, bursting no further than maximumInstanceCount', () => {
    const premium = shape('planShapes', 'premium');
    expect(premium.get('kind')).toBe("'elastic'");
    expect(Object.fromEntries(entries(premium.get('sku')!))).toEqual({ name: "'EP1'", tier: "'ElasticPremium'" });
    expect(Object.fromEntries(entries(premium.get('properties')!))).toEqual({ reserved: 'true', maximumElasticWorkerCount: 'maximumInstanceCount' });
  });
});

describe('the site', () => {
  test('Node 22: a constant, in functionAppConfig (flex) and linuxFxVersion (premium); no nodeVersion parameter', () => {
    expect(functionApp.vars().get('nodeVersion')).toBe("'22'");
    for (const file of [main, resources, functionApp])
      expect({ file: file.path, param: file.params().has('nodeVersion') }).toEqual({ file: file.path, param: false });
    expect(shape('siteShapes', 'flex').get('functionAppConfig')).toMatch(/runtime:\s*\{\s*name:\s*'node'\s*version:\s*nodeVersion\s*\}/);
    expect(shape('siteShapes', 'premium').get('siteConfig')).toMatch(/linuxFxVersion:\s*'Node\|\$\{nodeVersion\}'/);
  });

  test('flex: deployment container read with the identity, instance memory and the per-group instance cap in functionAppConfig', () => {
    const flex = shape('siteShapes', 'flex');
    expect([...flex.keys()].sort()).toEqual(['functionAppConfig', 'siteConfig']);
    expect(Object.fromEntries(entries(flex.get('siteConfig')!))).toEqual({ minTlsVersion: "'1.2'" });
    const config = flex.get('functionAppConfig')!;
    expect(config).toMatch(/type:\s*'blobContainer'/);
    expect(config).toMatch(/value:\s*'\$\{storage\.properties\.primaryEndpoints\.blob\}\$\{deploymentContainerName\}'/);
    expect(config).toMatch(/authentication:\s*\{\s*type:\s*'UserAssignedIdentity'\s*userAssignedIdentityResourceId:\s*identityId\s*\}/);
    expect(config).toMatch(/scaleAndConcurrency:\s*\{\s*instanceMemoryMB:\s*instanceMemoryMB\s*maximumInstanceCount:\s*maximumInstanceCount\s*\}/);
    expect(functionApp.params().get('instanceMemoryMB')!.allowed).toEqual([512, 2048, 4096]);
  });

  test('premium: no functionAppConfig; scale limit, one instance always on, FTPS disabled', () => {
    const premium = shape('siteShapes', 'premium');
    expect([...premium.keys()]).toEqual(['siteConfig']);
    expect(Object.fromEntries(entries(premium.get('siteConfig')!))).toEqual({
      linuxFxVersion: "'Node|${nodeVersion}'",
      minTlsVersion: "'1.2'",
      ftpsState: "'Disabled'",
      functionAppScaleLimit: 'maximumInstanceCount',
      minimumElasticInstanceCount: '1',
    });
  });

  test('premium runs from the package blob with its identity (no Azure Files share, which needs an account key)', () => {
    expect(functionApp.vars().get('hostingAppSettings')).toBe("hostingPlan == 'premium' ? premiumAppSettings : {}");
    expect(Object.fromEntries(entries(functionApp.vars().get('premiumAppSettings')!))).toEqual({
      FUNCTIONS_EXTENSION_VERSION: "'~4'",
      FUNCTIONS_WORKER_RUNTIME: "'node'",
      WEBSITE_RUN_FROM_PACKAGE: 'packageUrl',
      WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID: 'identityId',
    });
    expect(functionApp.vars().get('packageUrl')).toBe("'${storage.properties.primaryEndpoints.blob}${deploymentContainerName}/${packageBlobName}'");
    expect(functionApp.outputs().get('packageUrl')).toBe("hostingPlan == 'premium' ? packageUrl : ''");
    expect(main.outputs().get('AZURE_FUNCTION_PACKAGE_URL')).toBe('resources.outputs.packageUrl');
  });

  test('no content-share setting in either plan; the settings Flex rejects are in the Premium object only', () => {
    for (const [name, expression] of functionApp.vars()) {
      if (!name.endsWith('AppSettings') || !expression.startsWith('{')) continue;
      for (const key of entries(expression).keys()) {
        expect({ name, key, contentShare: CONTENT_SHARE.includes(key) }).toEqual({ name, key, contentShare: false });
        if (name !== 'premiumAppSettings') expect({ name, key, flexRejects: FLEX_REJECTS.includes(key) }).toEqual({ name, key, flexRejects: false });
      }
    }
    for (const key of CONTENT_SHARE) expect(functionApp.masked).not.toContain(key);
  });
});

describe('one timer under one pacer, and on-demand runs within the tenant budget', () => {
  test('maximumInstanceCount: 1 by default (Flex applies it to each function group), 1 to 1000', () => {
    for (const file of [main, resources, functionApp]) {
      const param = file.params().get('maximumInstanceCount')!;
      expect({ file: file.path, default: param.defaultValue, min: param.minValue, max: param.maxValue }).toEqual({
        file: file.path,
        default: 1,
        min: 1,
        max: 1000,
      });
    }
    expect(main.params().get('maximumInstanceCount')!.description).toMatch(/function group/);
  });

  test('host.json: the queue function takes one run request at a time per instance', () => {
    const host = JSON.parse(readRepoFile('host.json')) as { extensions?: { queues?: { batchSize?: number; newBatchThreshold?: number } } };
    // at most batchSize + newBatchThreshold messages run at once on an instance
    expect(host.extensions?.queues).toMatchObject({ batchSize: 1, newBatchThreshold: 0 });
  });

  test('the one timer has its own schedule setting, every minute by default; the queue has its setting', () => {
    expect(SETTINGS.find((s) => s.name === 'SYNC_TIMER_SCHEDULE')?.default).toBe('0 * * * * *');
    expect(SETTINGS.find((s) => s.name === 'RUNS_QUEUE')?.default).toBe('sync-run-requests');
  });
});
