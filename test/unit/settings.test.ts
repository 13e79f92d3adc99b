import { ConfigurationError, loadSettings, SETTINGS } from '../../src/config/settings';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const base = { AZURE_TENANT_ID: TENANT, TABLES_CONNECTION_STRING: 'UseDevelopmentStorage=true' };

function problemsOf(env: Record<string, string>): { setting: string; message: string }[] {
  try {
    loadSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as ConfigurationError).problems;
  }
  throw new Error('expected a ConfigurationError');
}

describe('loadSettings', () => {
  it('applies the documented defaults', () => {
    const s = loadSettings(base);
    expect(s.tenantId).toBe(TENANT);
    expect(s.cloudName).toBe('global');
    expect(s.graphRoot).toBe('https://graph.microsoft.com');
    expect(s.cloud.scope).toBe('https://graph.microsoft.com/.default');
    expect(s.graphMaxRps).toBe(1);
    expect(s.lookbackMinutes).toBe(30);
    expect(s.initialDays).toBeUndefined();
    expect(s.timeBudgetSeconds).toBe(540);
    expect(s.collections.riskDetections).toEqual({
      schedule: '0 */10 * * * *',
      scheduleIntervalMs: 600_000,
      table: 'RiskDetections',
      changesTable: 'RiskDetectionChanges',
    });
    expect(s.collections.riskyUsers.table).toBe('RiskyUsers');
    expect(s.collections.riskyUsers.scheduleIntervalMs).toBe(30 * 60_000);
    expect(s.stateTable).toBe('SyncState');
    expect(s.runsTable).toBe('SyncRuns');
    expect(s.httpAuthLevel).toBe('function');
  });

  it('every documented default is accepted as an explicit value', () => {
    const env: Record<string, string> = { ...base };
    for (const setting of SETTINGS) if (setting.default !== undefined) env[setting.name] = setting.default;
    expect(() => loadSettings(env)).not.toThrow();
  });

  it('sets Graph root, authority and scope together for national clouds', () => {
    const gov = loadSettings({ ...base, GRAPH_CLOUD: 'usgov' });
    expect(gov.graphRoot).toBe('https://graph.microsoft.us');
    expect(gov.cloud.authorityHost).toBe('https://login.microsoftonline.us');
    const dod = loadSettings({ ...base, GRAPH_CLOUD: 'usgovdod' });
    expect(dod.cloud.scope).toBe('https://dod-graph.microsoft.us/.default');
  });

  it('GRAPH_ENDPOINT overrides the root but keeps the cloud scope', () => {
    const s = loadSettings({ ...base, GRAPH_ENDPOINT: 'https://127.0.0.1:8443/' });
    expect(s.graphRoot).toBe('https://127.0.0.1:8443');
    expect(s.cloud.scope).toBe('https://graph.microsoft.com/.default');
  });

  it('reads a table endpoint for identity-based access', () => {
    const s = loadSettings({ AZURE_TENANT_ID: 'contoso.onmicrosoft.com', TABLES_ENDPOINT: 'https://acct.table.core.windows.net' });
    expect(s.tables).toEqual({ endpoint: 'https://acct.table.core.windows.net' });
  });

  it.each([
    [{ AZURE_TENANT_ID: '' }, 'AZURE_TENANT_ID', /required/],
    [{ AZURE_TENANT_ID: 'not a tenant' }, 'AZURE_TENANT_ID', /GUID/],
    [{ GRAPH_CLOUD: 'china' }, 'GRAPH_CLOUD', /global, usgov, usgovdod/],
    [{ GRAPH_ENDPOINT: 'http://127.0.0.1:8443' }, 'GRAPH_ENDPOINT', /https/],
    [{ GRAPH_ENDPOINT: 'https://proxy.example.com/graph' }, 'GRAPH_ENDPOINT', /origin/],
    [{ GRAPH_ENDPOINT: 'not a url' }, 'GRAPH_ENDPOINT', /absolute https URL/],
    [{ GRAPH_MAX_RPS: 'fast' }, 'GRAPH_MAX_RPS', /number from 0.01 to 100.*'fast'/],
    [{ GRAPH_MAX_RPS: '0' }, 'GRAPH_MAX_RPS', /number/],
    [{ SYNC_LOOKBACK_MINUTES: '-5' }, 'SYNC_LOOKBACK_MINUTES', /whole number from 0/],
    [{ SYNC_LOOKBACK_MINUTES: '2.5' }, 'SYNC_LOOKBACK_MINUTES', /whole number/],
    [{ SYNC_INITIAL_DAYS: '0' }, 'SYNC_INITIAL_DAYS', /from 1/],
    [{ SYNC_TIME_BUDGET_SECONDS: 'soon' }, 'SYNC_TIME_BUDGET_SECONDS', /whole number/],
    [{ SYNC_SCHEDULE_RISK_DETECTIONS: '*/5 * * * *' }, 'SYNC_SCHEDULE_RISK_DETECTIONS', /6 fields/],
    [{ SYNC_SCHEDULE_RISKY_USERS: '0 */70 * * * *' }, 'SYNC_SCHEDULE_RISKY_USERS', /NCRONTAB/],
    [{ TABLE_RISK_DETECTIONS: 'risk-detections' }, 'TABLE_RISK_DETECTIONS', /table name/],
    [{ TABLE_RISKY_USERS: 'RiskDetections' }, 'TABLE_RISKY_USERS', /already/],
    [{ TABLE_SYNC_RUNS: 'tables' }, 'TABLE_SYNC_RUNS', /reserves/],
    [{ HTTP_AUTH_LEVEL: 'none' }, 'HTTP_AUTH_LEVEL', /function, admin or anonymous/],
    [{ AZURE_CLIENT_ID: 'abc' }, 'AZURE_CLIENT_ID', /GUID/],
    [{ AZURE_CLIENT_SECRET: 's3cret' }, 'AZURE_CLIENT_ID', /required when AZURE_CLIENT_SECRET/],
    [{ TABLES_CONNECTION_STRING: 'hello' }, 'TABLES_CONNECTION_STRING', /not a storage connection string/],
    [{ TABLES_CONNECTION_STRING: '', TABLES_ENDPOINT: '' }, 'TABLES_ENDPOINT', /required/],
    [{ TABLES_ENDPOINT: 'https://acct.table.core.windows.net' }, 'TABLES_CONNECTION_STRING', /both set/],
    [{ TABLES_CONNECTION_STRING: '', TABLES_ENDPOINT: 'ftp://x' }, 'TABLES_ENDPOINT', /table service URL/],
  ])('%j is refused, naming %s', (override, setting, message) => {
    const problems = problemsOf({ ...base, ...override });
    const problem = problems.find((p) => p.setting === setting);
    expect(problem).toBeDefined();
    expect(problem!.message).toMatch(message);
  });

  it('reports every problem at once and never echoes a secret', () => {
    try {
      loadSettings({
        AZURE_CLIENT_SECRET: 'sup3r-s3cret-value',
        GRAPH_MAX_RPS: 'x',
        TABLES_CONNECTION_STRING: 'AccountName=a;AccountKey=k3y-v4lue',
        TABLES_ENDPOINT: 'https://x',
      });
      throw new Error('expected a ConfigurationError');
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toMatch(/AZURE_TENANT_ID/);
      expect(message).toMatch(/GRAPH_MAX_RPS/);
      expect(message).not.toContain('sup3r-s3cret-value');
      expect(message).not.toContain('k3y-v4lue');
    }
  });
});
