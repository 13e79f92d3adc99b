/**
 * No keys anywhere: the storage account refuses shared keys, Application Insights refuses instrumentation
 * keys, the app authenticates with its user-assigned identity, and the roles it needs are assigned by purpose.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BicepFile, REPO, objectEntries } from './bicep';

function bicepFiles(dir = join(REPO, 'infra')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return bicepFiles(path);
    return entry.name.endsWith('.bicep') ? [relative(REPO, path)] : [];
  });
}

const ROLE = {
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
} as const;

const files = bicepFiles();
const storage = new BicepFile('infra/app/storage.bicep');
const monitoring = new BicepFile('infra/app/monitoring.bicep');
const functionApp = new BicepFile('infra/app/function-app.bicep');
const rbac = new BicepFile('infra/app/rbac.bicep');

/** Top-level properties of `resource NAME` (the `properties: {...}` object) as key → expression. */
function properties(file: BicepFile, resource: string): Map<string, string> {
  const body = `{${file.block('resource', resource).body}}`;
  const props = objectEntries(body).find((e) => e.key === 'properties');
  if (!props) throw new Error(`${file.path}: resource ${resource} has no properties`);
  return new Map(objectEntries(props.value).map((e) => [e.key, e.value]));
}

describe('no key-based secrets in the templates', () => {
  test('found the templates', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'infra/main.bicep',
        'infra/resources.bicep',
        'infra/app/function-app.bicep',
        'infra/app/storage.bicep',
        'infra/app/monitoring.bicep',
        'infra/app/rbac.bicep',
        'infra/app/identity.bicep',
      ]),
    );
  });

  test.each(files.map((f) => [f]))('%s reads no keys and builds no connection string', (path) => {
    const code = new BicepFile(path).masked; // comments removed, string contents hidden...
    const text = new BicepFile(path).src.replace(/\/\/.*$/gm, ''); // ...and literal text, comments removed
    expect(code).not.toMatch(/\blist\w*\s*\(/i); // listKeys(), listAccountSas(), listServiceSas()...
    expect(code).not.toMatch(/\.listKeys\b/i);
    expect(text).not.toMatch(/AccountKey/i);
    expect(text).not.toMatch(/SharedAccessKey/i);
    expect(text).not.toMatch(/SharedAccessSignature/i);
    expect(text).not.toMatch(/DefaultEndpointsProtocol/i);
    expect(text).not.toMatch(/@secure\(\)/); // nothing secret is ever passed in
  });

  test('no app setting value is a connection string, except the Application Insights one (no secret with local auth disabled)', () => {
    for (const [name, expression] of functionApp.vars()) {
      if (!name.endsWith('AppSettings') || !expression.startsWith('{')) continue;
      for (const { key, value } of objectEntries(expression)) {
        if (key === 'APPLICATIONINSIGHTS_CONNECTION_STRING') continue;
        expect({ key, value }).toEqual({
          key,
          value: expect.not.stringMatching(/connectionstring|AccountKey|SharedAccess|listKeys|Password|Secret/i),
        });
      }
    }
  });

  test('the storage account disallows shared keys and public blobs, requires TLS 1.2 and https', () => {
    const resources = storage.resources();
    expect(resources.get('storage')).toMatch(/^Microsoft\.Storage\/storageAccounts@/);
    expect(storage.block('resource', 'storage').body).toMatch(/kind:\s*'StorageV2'/);
    const props = properties(storage, 'storage');
    expect(props.get('allowSharedKeyAccess')).toBe('false');
    expect(props.get('allowBlobPublicAccess')).toBe('false');
    expect(props.get('minimumTlsVersion')).toBe("'TLS1_2'");
    expect(props.get('supportsHttpsTrafficOnly')).toBe('true');
    expect(props.get('defaultToOAuthAuthentication')).toBe('true');
    expect(properties(storage, 'deploymentContainer').get('publicAccess')).toBe("'None'");
  });

  test('Application Insights disables local (instrumentation key) auth and is workspace-based', () => {
    const props = properties(monitoring, 'appInsights');
    expect(props.get('DisableLocalAuth')).toBe('true');
    expect(props.get('WorkspaceResourceId')).toBe('workspace.id');
  });

  test('the function app: Flex Consumption FC1, Node, https only, user-assigned identity everywhere', () => {
    expect(functionApp.block('resource', 'plan').body).toMatch(/name:\s*'FC1'[\s\S]*tier:\s*'FlexConsumption'/);
    const site = functionApp.block('resource', 'functionApp').body;
    expect(site).toMatch(/kind:\s*'functionapp,linux'/);
    expect(site).toMatch(/type:\s*'UserAssigned'/);
    const props = properties(functionApp, 'functionApp');
    expect(props.get('httpsOnly')).toBe('true');
    expect(props.get('siteConfig')).toMatch(/minTlsVersion:\s*'1\.2'/);
    const config = props.get('functionAppConfig')!;
    expect(config).toMatch(/type:\s*'blobContainer'/);
    expect(config).toMatch(/authentication:\s*\{\s*type:\s*'UserAssignedIdentity'\s*userAssignedIdentityResourceId:\s*identityId\s*\}/);
    expect(config).toMatch(/runtime:\s*\{\s*name:\s*'node'\s*version:\s*nodeVersion\s*\}/);
    expect(config).toMatch(/instanceMemoryMB:\s*instanceMemoryMB/);
    expect(config).toMatch(/maximumInstanceCount:\s*maximumInstanceCount/);
    const params = functionApp.params();
    expect(params.get('nodeVersion')!.defaultValue).toBe('22');
    expect(params.get('maximumInstanceCount')!.minValue).toBe(40); // the lowest maximum Flex Consumption accepts
    expect(params.get('instanceMemoryMB')!.allowed).toEqual([512, 2048, 4096]);
    expect(site).toMatch(/tags:\s*union\(tags, \{ 'azd-service-name': serviceName \}\)/);
    expect(params.get('serviceName')!.defaultValue).toBe('api');
  });
});

describe('role assignments, named by purpose', () => {
  const assignments = [...rbac.resources()].filter(([, type]) => type.startsWith('Microsoft.Authorization/roleAssignments@'));
  const roleOf = (name: string) => /roleDefinitions',\s*'([0-9a-f-]{36})'/.exec(rbac.block('resource', name).body)?.[1];

  test.each([
    ['dataStoreTableContributor', ROLE.storageTableDataContributor, 'storage'],
    ['hostBlobOwner', ROLE.storageBlobDataOwner, 'storage'],
    ['hostQueueContributor', ROLE.storageQueueDataContributor, 'storage'],
    ['monitoringMetricsPublisher', ROLE.monitoringMetricsPublisher, 'appInsights'],
  ])('%s assigns %s on %s to the app identity', (name, role, scope) => {
    const props = properties(rbac, name);
    const body = rbac.block('resource', name).body;
    expect(roleOf(name)).toBe(role);
    expect(body).toMatch(new RegExp(`\\n\\s*scope:\\s*${scope}\\s*\\n`));
    expect(body).toMatch(new RegExp(`name:\\s*guid\\(${scope}\\.id, appPrincipalId, '${role}'\\)`));
    expect(props.get('principalId')).toBe('appPrincipalId');
    expect(props.get('principalType')).toBe("'ServicePrincipal'");
  });

  test('every role assignment has a deterministic guid() name and an explicit principal type', () => {
    expect(assignments.length).toBeGreaterThanOrEqual(4);
    for (const [name] of assignments) {
      const body = rbac.block('resource', name).body;
      expect({ name, guidName: /\n\s*name:\s*guid\(/.test(body) }).toEqual({ name, guidName: true });
      expect({ name, principalType: properties(rbac, name).has('principalType') }).toEqual({ name, principalType: true });
      expect({ name, knownRole: Object.values(ROLE).includes(roleOf(name) as (typeof ROLE)[keyof typeof ROLE]) }).toEqual({ name, knownRole: true });
    }
  });

  test('the app identity is the one the function app runs as', () => {
    const resources = new BicepFile('infra/resources.bicep');
    expect(resources.block('module', 'rbac').body).toMatch(/appPrincipalId:\s*identity\.outputs\.principalId/);
    const fa = resources.block('module', 'functionApp').body;
    expect(fa).toMatch(/identityId:\s*identity\.outputs\.id/);
    expect(fa).toMatch(/dependsOn:\s*\[\s*rbac\s*\]/); // roles exist before the app first starts
  });
});
