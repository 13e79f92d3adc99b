import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  applySettingsSource,
  describeSettingsSource,
  fixIn,
  hasRealSettings,
  originOf,
  resolveSettingsSource,
  startupVariablesToApply,
} from '../../src/config/localSettings';

/** Where local settings come from and how they merge with the environment (Core Tools' rules). */
describe('local settings', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'risk-sync-settings-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (file: string, content: unknown) => {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), typeof content === 'string' ? content : JSON.stringify(content));
  };

  it('the file’s values act as exported; the environment wins per key, and is named', () => {
    write('local.settings.json', {
      Values: { AZURE_TENANT_ID: 'from-file', GRAPH_MAX_RPS: '2', IDENTITY_ENDPOINT: 'http://127.0.0.1:1/msi', EMPTY: '' },
    });
    const env = { AZURE_TENANT_ID: 'from-env', SYNC_LOOKBACK_MINUTES: '5', GRAPH_MAX_RPS: '  ', PATH: '/bin' };
    const source = resolveSettingsSource(dir, env);
    expect(source.kind).toBe('local.settings.json');
    expect(source.env).toMatchObject({
      AZURE_TENANT_ID: 'from-env',
      GRAPH_MAX_RPS: '2',
      IDENTITY_ENDPOINT: 'http://127.0.0.1:1/msi',
      SYNC_LOOKBACK_MINUTES: '5',
    });
    expect(source.fromEnvironment).toEqual(['AZURE_TENANT_ID', 'SYNC_LOOKBACK_MINUTES']); // blanks do not count as set
    expect(describeSettingsSource(source, dir)).toBe(
      'settings: local.settings.json (4 values; from the environment: AZURE_TENANT_ID, SYNC_LOOKBACK_MINUTES)',
    );
    expect(originOf(source, 'AZURE_TENANT_ID')).toBe('the environment');
    expect(originOf(source, 'GRAPH_MAX_RPS')).toBe(path.join(dir, 'local.settings.json'));
    expect(originOf(source, 'SYNC_INITIAL_DAYS')).toBeUndefined();
    expect(fixIn(source)).toBe(`${path.join(dir, 'local.settings.json')} or the environment`);

    const target: NodeJS.ProcessEnv = { ...env };
    applySettingsSource(source, target);
    expect(target).toMatchObject({ AZURE_TENANT_ID: 'from-env', GRAPH_MAX_RPS: '2', IDENTITY_ENDPOINT: 'http://127.0.0.1:1/msi' });
  });

  it('a running demo’s file when there is no local.settings.json; a dead demo’s is ignored', () => {
    write('.local/demo/settings.json', { Values: { AZURE_TENANT_ID: 'demo', DEMO_PID: String(process.pid) } });
    const source = resolveSettingsSource(dir, { AZURE_TENANT_ID: 'exported' });
    expect(source.kind).toBe('demo');
    expect(source.env.AZURE_TENANT_ID).toBe('exported');
    expect(describeSettingsSource(source, dir)).toBe(
      `settings: the running demo (${path.join('.local', 'demo', 'settings.json')}) (2 values; from the environment: AZURE_TENANT_ID)`,
    );
    write('.local/demo/settings.json', { Values: { AZURE_TENANT_ID: 'demo', DEMO_PID: '999999999' } });
    expect(resolveSettingsSource(dir, {}).kind).toBe('environment');
    expect(describeSettingsSource(resolveSettingsSource(dir, {}), dir)).toBe(`settings: the environment (no local.settings.json in ${dir})`);
  });

  it('NODE_EXTRA_CA_CERTS in the file needs a restart unless the process started with it', () => {
    write('local.settings.json', { Values: { NODE_EXTRA_CA_CERTS: '/x/cert.pem', AZURE_TENANT_ID: 't' } });
    expect(startupVariablesToApply(resolveSettingsSource(dir, {}), {})).toEqual(['NODE_EXTRA_CA_CERTS']);
    expect(startupVariablesToApply(resolveSettingsSource(dir, {}), { NODE_EXTRA_CA_CERTS: '/y.pem' })).toEqual([]);
  });

  it('a broken file is an error naming it; real settings are a tenant in the environment or the file', () => {
    write('local.settings.json', '{ "Values": ');
    expect(() => resolveSettingsSource(dir, {})).toThrow(`${path.join(dir, 'local.settings.json')} is not valid JSON`);
    write('local.settings.json', { Values: [] });
    expect(() => resolveSettingsSource(dir, {})).toThrow(/has no "Values" object/);
    write('local.settings.json', { Values: { AZURE_TENANT_ID: ' ' } });
    expect(hasRealSettings(dir, {})).toBe(false);
    expect(hasRealSettings(dir, { AZURE_TENANT_ID: 't' })).toBe(true);
    write('local.settings.json', { Values: { AZURE_TENANT_ID: 't' } });
    expect(hasRealSettings(dir, {})).toBe(true);
  });
});
