/**
 * Data that exists nowhere else is protected: the tables outlive Graph's retention, so the account is zone- and
 * geo-redundant by default, carries a CanNotDelete lock by default, and the guide says how to lift the lock before
 * uninstalling. The template creates the tables and the run queue that the roles are scoped to.
 */
import { BicepFile, readRepoFile } from './bicep';

const storage = new BicepFile('infra/app/storage.bicep');
const resources = new BicepFile('infra/resources.bicep');
const main = new BicepFile('infra/main.bicep');
const deployGuide = readRepoFile('docs/deploy.md');
const readme = readRepoFile('README.md');

/** The text of a `## Heading` section of the deploy guide. */
function section(heading: string): string {
  const start = deployGuide.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`docs/deploy.md has no "## ${heading}" section`);
  const end = deployGuide.indexOf('\n## ', start + 4);
  return deployGuide.slice(start, end < 0 ? undefined : end);
}

describe('redundancy', () => {
  test('GZRS by default; ZRS, GRS or LRS selectable, the same in every file', () => {
    for (const [file, name] of [
      [storage, 'redundancy'],
      [resources, 'storageRedundancy'],
      [main, 'storageRedundancy'],
    ] as const) {
      const param = file.params().get(name)!;
      expect({ file: file.path, allowed: param.allowed, default: param.defaultValue }).toEqual({
        file: file.path,
        allowed: ['GZRS', 'ZRS', 'GRS', 'LRS'],
        default: 'GZRS',
      });
    }
    expect(storage.block('resource', 'storage').body).toMatch(/sku:\s*\{\s*name:\s*'Standard_\$\{redundancy\}'\s*\}/);
    expect(resources.block('module', 'storage').body).toMatch(/\n\s*redundancy:\s*storageRedundancy\n/);
    expect(JSON.parse(readRepoFile('infra/main.parameters.json')).parameters.storageRedundancy.value).toBe('${RISK_SYNC_STORAGE_REDUNDANCY=GZRS}');
  });

  test('the template no longer claims that LRS is enough because the data can be re-synced from Graph', () => {
    expect(storage.src).not.toMatch(/enough for a copy that can be re-synced/i);
    expect(storage.src).not.toMatch(/Standard_LRS'\s*$/m); // not the default any more
    expect(storage.src).toMatch(/no longer holds/);
    expect(storage.params().get('redundancy')!.description).toMatch(/outlive Graph's retention/);
  });
});

describe('the CanNotDelete lock', () => {
  test('on the storage account, by default; None opts out', () => {
    expect(storage.resources().get('dataDeleteLock')).toMatch(/^Microsoft\.Authorization\/locks@/);
    const lock = storage.block('resource', 'dataDeleteLock');
    expect(lock.header).toMatch(/= if \(dataLock == 'CanNotDelete'\)\s*$/);
    expect(lock.body).toMatch(/\n\s*scope:\s*storage\n/);
    expect(lock.body).toMatch(/level:\s*'CanNotDelete'/);
    for (const [file, name] of [
      [storage, 'dataLock'],
      [resources, 'dataLock'],
      [main, 'dataLock'],
    ] as const) {
      const param = file.params().get(name)!;
      expect({ file: file.path, allowed: param.allowed, default: param.defaultValue }).toEqual({
        file: file.path,
        allowed: ['CanNotDelete', 'None'],
        default: 'CanNotDelete',
      });
    }
    expect(resources.block('module', 'storage').body).toMatch(/\n\s*dataLock:\s*dataLock\n/);
  });

  test('the uninstall section says how to lift the lock before azd down, and the README uninstall line says so too', () => {
    const uninstall = section('Uninstall');
    const lift = uninstall.indexOf('az lock delete');
    const down = uninstall.indexOf('azd down --purge');
    expect(lift).toBeGreaterThan(0);
    expect(down).toBeGreaterThan(lift);
    expect(uninstall).toContain('risk-sync-data-cannot-delete');
    expect(uninstall).toMatch(/User Access Administrator|Owner/);
    const line = readme.split('\n').find((l) => /\*\*Uninstall\*\*/.test(l))!;
    const paragraph = readme.slice(readme.indexOf(line), readme.indexOf('\n\n', readme.indexOf(line)));
    expect(paragraph).toMatch(/lock/i);
    expect(paragraph).toContain('docs/deploy.md#uninstall');
  });

  test('the prerequisites say that creating the lock needs Owner or User Access Administrator', () => {
    const prerequisites = section('Prerequisites');
    expect(prerequisites).toMatch(/User Access Administrator/);
    expect(prerequisites).toMatch(/RISK_SYNC_DATA_LOCK/);
  });
});

describe('the tables and the run queue are created by the template', () => {
  test('one table per TABLE_* setting', () => {
    expect(storage.block('resource', 'tables').header).toMatch(/= \[\s*for tableName in tableNames: $/);
    expect(storage.block('resource', 'tables').body).toMatch(/^\s*parent: tableService\s*name: tableName\s*$/);
    expect(resources.block('module', 'storage').body).toMatch(/\n\s*tableNames:\s*tableNames\n/);
    expect(storage.outputs().get('tableNames')).toBe('[for (tableName, i) in tableNames: tables[i].name]');
  });

  test('the run-request queue and its poison queue, so that the roles can be scoped to them', () => {
    expect(storage.block('resource', 'runsQueue').body).toMatch(/parent:\s*queueService\s*name:\s*runsQueueName/);
    expect(storage.block('resource', 'runsPoisonQueue').body).toMatch(/parent:\s*queueService\s*name:\s*'\$\{runsQueueName\}-poison'/);
    // a queue name has at most 63 characters, '-poison' included
    expect(
      storage
        .params()
        .get('runsQueueName')!
        .decorators.find((d) => d.name === 'maxLength')?.args,
    ).toBe('56');
  });
});
