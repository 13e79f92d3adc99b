/**
 * No keys anywhere: the storage account refuses shared keys, Application Insights refuses instrumentation keys, the
 * app authenticates with its user-assigned identity, basic publishing credentials are off, and the roles it needs
 * are assigned by purpose at the narrowest scope that works (tables, the run queue).
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BicepFile, REPO, objectEntries, stringLiteral } from './bicep';

function bicepFiles(dir = join(REPO, 'infra')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return bicepFiles(path);
    return entry.name.endsWith('.bicep') ? [relative(REPO, path)] : [];
  });
}

/** Built-in role definition ids (Azure built-in roles reference; the same in every cloud). */
const ROLE = {
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  storageQueueDataReader: '19e7f393-937e-4f77-808e-94535e297925',
  storageQueueDataMessageProcessor: '8a0f0c08-91a1-4084-bc3d-661d67233fed',
  storageQueueDataMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
} as const;
/** Not used by the template (it would grant every queue of the account); listed so that a test can refuse it. */
const STORAGE_QUEUE_DATA_CONTRIBUTOR = '974c5e8b-45b9-4653-ba55-5f855dd0fb88';

const files = bicepFiles();
const storage = new BicepFile('infra/app/storage.bicep');
const monitoring = new BicepFile('infra/app/monitoring.bicep');
const functionApp = new BicepFile('infra/app/function-app.bicep');
const rbac = new BicepFile('infra/app/rbac.bicep');

/** The `flex` or `premium` entry of siteShapes in the function-app module: key -> expression. */
function siteShape(shape: string): Map<string, string> {
  const shapes = new Map(objectEntries(functionApp.vars().get('siteShapes')!).map((e) => [e.key, e.value]));
  return new Map(objectEntries(shapes.get(shape)!).map((e) => [e.key, e.value]));
}

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

  test('the function app: https only, TLS 1.2, the user-assigned identity, the azd service tag', () => {
    const site = functionApp.block('resource', 'functionApp').body;
    expect(site).toMatch(/kind:\s*'functionapp,linux'/);
    expect(site).toMatch(/type:\s*'UserAssigned'/);
    expect(site).toMatch(/properties:\s*union\(\s*\{\s*serverFarmId:\s*plan\.id\s*httpsOnly:\s*true\s*\},\s*siteShapes\[hostingPlan\]\s*\)/);
    for (const shape of ['flex', 'premium'])
      expect({ shape, siteConfig: siteShape(shape).get('siteConfig') }).toEqual({
        shape,
        siteConfig: expect.stringMatching(/minTlsVersion:\s*'1\.2'/),
      });
    expect(site).toMatch(/tags:\s*union\(tags, \{ 'azd-service-name': serviceName \}\)/);
    expect(functionApp.params().get('serviceName')!.defaultValue).toBe('api');
  });

  test('no FTP and no SCM basic authentication (basicPublishingCredentialsPolicies), and no ftpsState on Flex Consumption, which rejects it', () => {
    const policies = [...functionApp.resources()].filter(([, type]) => type.startsWith('Microsoft.Web/sites/basicPublishingCredentialsPolicies@'));
    const byName = new Map(
      policies.map(([symbol]) => {
        const body = functionApp.block('resource', symbol).body;
        return [/\n\s*name:\s*'(\w+)'/.exec(body)?.[1], body] as const;
      }),
    );
    expect([...byName.keys()].sort()).toEqual(['ftp', 'scm']);
    for (const [name, body] of byName) {
      expect({ name, parent: /parent:\s*functionApp\b/.test(body), allow: /properties:\s*\{\s*allow:\s*false\s*\}/.test(body) }).toEqual({
        name,
        parent: true,
        allow: true,
      });
    }
    expect(siteShape('flex').get('siteConfig')).not.toMatch(/ftpsState/);
    expect(functionApp.block('resource', 'functionApp').body).not.toMatch(/ftpsState/);
  });
});

describe('role assignments, named by purpose, at the narrowest scope that works', () => {
  const assignments = [...rbac.resources()].filter(([, type]) => type.startsWith('Microsoft.Authorization/roleAssignments@'));
  const roles = new Map(objectEntries(rbac.vars().get('role')!).map((e) => [e.key, stringLiteral(e.value)!]));
  const roleOf = (name: string) => {
    const key = /roleDefinitions',\s*role\.(\w+)\)/.exec(rbac.block('resource', name).body)?.[1];
    return key === undefined ? undefined : roles.get(key);
  };
  const scopeOf = (name: string) => /\n\s*scope:\s*([\w[\]]+)\s*\n/.exec(rbac.block('resource', name).body)?.[1];
  const targetOf = (symbol: string) => rbac.resources().get(symbol.replace(/\[i\]$/, ''));

  test('the built-in role ids are the documented ones', () => {
    expect(Object.fromEntries(roles)).toEqual(ROLE);
  });

  test.each([
    ['dataTableContributor', ROLE.storageTableDataContributor, 'tables[i]', 'Microsoft.Storage/storageAccounts/tableServices/tables@'],
    ['dataAccountTableContributor', ROLE.storageTableDataContributor, 'storage', 'Microsoft.Storage/storageAccounts@'],
    ['runsQueueReader', ROLE.storageQueueDataReader, 'runsQueue', 'Microsoft.Storage/storageAccounts/queueServices/queues@'],
    ['runsQueueProcessor', ROLE.storageQueueDataMessageProcessor, 'runsQueue', 'Microsoft.Storage/storageAccounts/queueServices/queues@'],
    ['runsQueueSender', ROLE.storageQueueDataMessageSender, 'runsQueue', 'Microsoft.Storage/storageAccounts/queueServices/queues@'],
    ['runsPoisonQueueSender', ROLE.storageQueueDataMessageSender, 'runsPoisonQueue', 'Microsoft.Storage/storageAccounts/queueServices/queues@'],
    ['hostBlobOwner', ROLE.storageBlobDataOwner, 'storage', 'Microsoft.Storage/storageAccounts@'],
    ['monitoringMetricsPublisher', ROLE.monitoringMetricsPublisher, 'appInsights', 'Microsoft.Insights/components@'],
  ])('%s assigns %s on %s to the app identity', (name, role, scope, type) => {
    const props = properties(rbac, name);
    const body = rbac.block('resource', name).body;
    expect(roleOf(name)).toBe(role);
    expect(scopeOf(name)).toBe(scope);
    expect(targetOf(scope)).toEqual(expect.stringMatching(new RegExp(`^${type.replace(/[./]/g, '\\$&')}`)));
    const roleKey = [...roles].find(([, id]) => id === role)![0];
    expect(body).toMatch(new RegExp(`name:\\s*guid\\(${scope.replace(/[[\]]/g, '\\$&')}\\.id, appPrincipalId, role\\.${roleKey}\\)`));
    expect(props.get('principalId')).toBe('appPrincipalId');
    expect(props.get('principalType')).toBe("'ServicePrincipal'");
  });

  test('the table roles: one per table by default, or one on the account (tableRoleScope); the tables are the ones the template creates', () => {
    expect(rbac.block('resource', 'dataTableContributor').header).toMatch(
      /= \[\s*for \(tableName, i\) in tableNames: if \(tableRoleScope == 'table'\) $/,
    );
    expect(rbac.block('resource', 'dataAccountTableContributor').header).toMatch(/= if \(tableRoleScope == 'account'\)\s*$/);
    expect(rbac.params().get('tableRoleScope')!.defaultValue).toBe('table');
    expect(rbac.block('resource', 'tables').header).toMatch(/existing = \[\s*for tableName in tableNames: $/);
    expect(rbac.block('resource', 'tables').body).toMatch(/^\s*parent: tableService\s*name: tableName\s*$/);
    const resources = new BicepFile('infra/resources.bicep');
    expect(resources.block('module', 'rbac').body).toMatch(/tableNames:\s*storage\.outputs\.tableNames/);
    expect(resources.vars().get('tableNames')).toBe("map(filter(items(settings), s => startsWith(s.key, 'TABLE_')), s => s.value)");
  });

  test('no Storage Queue role on the account: the queue roles are on the run-request queue and its poison queue only', () => {
    const queueRoles = [
      STORAGE_QUEUE_DATA_CONTRIBUTOR,
      ROLE.storageQueueDataReader,
      ROLE.storageQueueDataMessageProcessor,
      ROLE.storageQueueDataMessageSender,
    ];
    const onQueues = assignments.filter(([name]) => queueRoles.includes(roleOf(name) as (typeof queueRoles)[number]));
    expect(onQueues.map(([name]) => name).sort()).toEqual(['runsPoisonQueueSender', 'runsQueueProcessor', 'runsQueueReader', 'runsQueueSender']);
    for (const [name] of onQueues) expect({ name, scope: scopeOf(name) }).toEqual({ name, scope: expect.stringMatching(/^runs(Poison)?Queue$/) });
    expect(rbac.block('resource', 'runsQueue').body).toMatch(/parent:\s*queueService\s*name:\s*runsQueueName/);
    expect(rbac.block('resource', 'runsPoisonQueue').body).toMatch(/parent:\s*queueService\s*name:\s*runsPoisonQueueName/);
    expect(roles.has('storageQueueDataContributor')).toBe(false);
  });

  test('people: the optional CLI operator gets the same table scope as the app; the package publisher (Premium) the package container only', () => {
    expect(rbac.block('resource', 'operatorTableContributor').header).toMatch(
      /for \(tableName, i\) in tableNames: if \(!empty\(operatorPrincipalId\) && tableRoleScope == 'table'\)/,
    );
    expect(scopeOf('operatorTableContributor')).toBe('tables[i]');
    expect(rbac.block('resource', 'operatorAccountTableContributor').header).toMatch(
      /if \(!empty\(operatorPrincipalId\) && tableRoleScope == 'account'\)/,
    );
    for (const name of ['operatorTableContributor', 'operatorAccountTableContributor']) {
      expect(roleOf(name)).toBe(ROLE.storageTableDataContributor);
      expect(properties(rbac, name).get('principalId')).toBe('operatorPrincipalId');
      expect(properties(rbac, name).get('principalType')).toBe('operatorPrincipalType');
    }
    expect(roleOf('packagePublisherContributor')).toBe(ROLE.storageBlobDataContributor);
    expect(scopeOf('packagePublisherContributor')).toBe('deploymentContainer');
    expect(properties(rbac, 'packagePublisherContributor').get('principalId')).toBe('packagePublisherPrincipalId');
    const resources = new BicepFile('infra/resources.bicep');
    expect(resources.block('module', 'rbac').body).toMatch(
      /packagePublisherPrincipalId:\s*hostingPlan == 'premium' \? packagePublisherPrincipalId : ''/,
    );
  });

  test('every role assignment has a deterministic guid() name, an explicit principal type and a documented role', () => {
    expect(assignments.length).toBeGreaterThanOrEqual(11);
    for (const [name] of assignments) {
      const body = rbac.block('resource', name).body;
      expect({ name, guidName: /\n\s*name:\s*guid\(/.test(body) }).toEqual({ name, guidName: true });
      expect({ name, principalType: properties(rbac, name).has('principalType') }).toEqual({ name, principalType: true });
      expect({ name, knownRole: Object.values(ROLE).includes(roleOf(name) as (typeof ROLE)[keyof typeof ROLE]) }).toEqual({ name, knownRole: true });
      expect({ name, described: /description:\s*'risk-sync: /.test(body) }).toEqual({ name, described: true });
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
