import { ConfigurationError, loadSettings, redactSecrets, SETTINGS } from '../../src/config/settings';

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
    expect(s.tables).toEqual({ endpoint: 'https://acct.table.core.windows.net', allowInsecureConnection: false });
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
    [{ HTTP_AUTH_LEVEL: 'none' }, 'HTTP_AUTH_LEVEL', /must be function or admin, got 'none'/],
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

describe('loadSettings: credentials, URLs and keys', () => {
  it('the authority host is the cloud’s unless AZURE_AUTHORITY_HOST (https) overrides it', () => {
    expect(loadSettings(base).authorityHost).toBe('https://login.microsoftonline.com');
    expect(loadSettings({ ...base, GRAPH_CLOUD: 'usgov' }).authorityHost).toBe('https://login.microsoftonline.us');
    expect(loadSettings({ ...base, AZURE_AUTHORITY_HOST: 'https://127.0.0.1:8443/' }).authorityHost).toBe('https://127.0.0.1:8443');
    expect(problemsOf({ ...base, AZURE_AUTHORITY_HOST: 'http://127.0.0.1:8443' })).toEqual([
      { setting: 'AZURE_AUTHORITY_HOST', message: expect.stringMatching(/must use https/) },
    ]);
  });

  it('AZURE_TOKEN_CREDENTIALS takes the Azure SDK’s values, in any case', () => {
    expect(loadSettings({ ...base, AZURE_TOKEN_CREDENTIALS: 'managedidentitycredential' }).tokenCredentials).toBe('ManagedIdentityCredential');
    expect(loadSettings({ ...base, AZURE_TOKEN_CREDENTIALS: 'DEV' }).tokenCredentials).toBe('dev');
    expect(problemsOf({ ...base, AZURE_TOKEN_CREDENTIALS: 'VisualStudioCodeCredential' })[0]).toEqual({
      setting: 'AZURE_TOKEN_CREDENTIALS',
      message: expect.stringMatching(/^must be one of prod, dev, EnvironmentCredential, .*, got 'VisualStudioCodeCredential'$/),
    });
    expect(problemsOf({ ...base, AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential' })[0]!.message).toMatch(
      /needs AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH/,
    );
  });

  it.each([
    ['GRAPH_ENDPOINT', 'https://proxy-user:hunter2-pa55word@proxy.example.com', 'hunter2-pa55word', /user name or password/],
    ['AZURE_AUTHORITY_HOST', 'https://u:hunter2-pa55word@login.example.com', 'hunter2-pa55word', /user name or password/],
    ['TABLES_ENDPOINT', 'https://u:hunter2-pa55word@acct.table.core.windows.net', 'hunter2-pa55word', /without a user name, password, query or SAS/],
    ['TABLES_ENDPOINT', 'https://acct.table.core.windows.net/?sv=2024&sig=S1gn4tureS3cret%3D', 'S1gn4tureS3cret', /SAS token/],
    ['GRAPH_ENDPOINT', 'https://proxy.example.com/?code=FunctionK3ySecret', 'FunctionK3ySecret', /origin/],
  ])('%s with a secret in the URL is refused without echoing it', (setting, value, secret, message) => {
    const env = { ...base, [setting]: value, ...(setting === 'TABLES_ENDPOINT' ? { TABLES_CONNECTION_STRING: '' } : {}) };
    const problem = problemsOf(env).find((p) => p.setting === setting);
    expect(problem?.message).toMatch(message);
    expect(problem?.message).toContain('<redacted>');
    try {
      loadSettings(env);
    } catch (error) {
      expect((error as Error).message).not.toContain(secret);
    }
  });

  it('TABLES_ENDPOINT over http only to loopback, and then with allowInsecureConnection', () => {
    const endpoint = (value: string) => loadSettings({ AZURE_TENANT_ID: TENANT, TABLES_ENDPOINT: value }).tables;
    expect(endpoint('http://127.0.0.1:10002/devstoreaccount1')).toEqual({
      endpoint: 'http://127.0.0.1:10002/devstoreaccount1',
      allowInsecureConnection: true,
    });
    expect(endpoint('http://localhost:10002/devstoreaccount1').allowInsecureConnection).toBe(true);
    expect(endpoint('https://acct.table.core.windows.net/').allowInsecureConnection).toBe(false);
    expect(problemsOf({ AZURE_TENANT_ID: TENANT, TABLES_ENDPOINT: 'http://acct.table.core.windows.net' })).toEqual([
      { setting: 'TABLES_ENDPOINT', message: expect.stringMatching(/must use https \(plain http is only accepted for an emulator on loopback\)/) },
    ]);
  });

  it('a connection string: plain http only to loopback; the key is never echoed', () => {
    const tables = (value: string) => loadSettings({ AZURE_TENANT_ID: TENANT, TABLES_CONNECTION_STRING: value }).tables;
    expect(tables('UseDevelopmentStorage=true').allowInsecureConnection).toBe(true);
    expect(
      tables('DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;'),
    ).toMatchObject({ allowInsecureConnection: true });
    expect(tables('DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net').allowInsecureConnection).toBe(
      false,
    );
    for (const value of [
      'DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=Sup3rS3cretK3y==',
      'AccountName=acct;AccountKey=Sup3rS3cretK3y==;TableEndpoint=http://acct.table.core.windows.net',
    ]) {
      const problems = problemsOf({ AZURE_TENANT_ID: TENANT, TABLES_CONNECTION_STRING: value });
      expect(problems).toEqual([
        { setting: 'TABLES_CONNECTION_STRING', message: expect.stringMatching(/would send the account key over plain http to acct/) },
      ]);
      expect(JSON.stringify(problems)).not.toContain('Sup3rS3cretK3y');
    }
  });

  it('API_PUBLIC_BASE_URL: an https origin, or empty for relative next links', () => {
    expect(loadSettings(base).apiPublicBaseUrl).toBeUndefined();
    expect(loadSettings({ ...base, API_PUBLIC_BASE_URL: '' }).apiPublicBaseUrl).toBeUndefined();
    expect(loadSettings({ ...base, API_PUBLIC_BASE_URL: 'https://func-x.azurewebsites.net/' }).apiPublicBaseUrl).toBe(
      'https://func-x.azurewebsites.net',
    );
    expect(loadSettings({ ...base, API_PUBLIC_BASE_URL: 'https://Risk.Contoso.com:8443' }).apiPublicBaseUrl).toBe('https://risk.contoso.com:8443');
    for (const [value, why] of [
      ['http://func-x.azurewebsites.net', /https only/],
      ['func-x.azurewebsites.net', /not an absolute URL/],
      ['https://func-x.azurewebsites.net/api', /no path, query or fragment/],
      ['https://func-x.azurewebsites.net/?code=K3ySecretValue', /no path, query or fragment/],
      ['https://user:K3ySecretValue@func-x.azurewebsites.net', /no user name or password/],
    ] as const) {
      const problems = problemsOf({ ...base, API_PUBLIC_BASE_URL: value });
      expect(problems).toEqual([{ setting: 'API_PUBLIC_BASE_URL', message: expect.stringMatching(why) }]);
      expect(problems[0]!.message).toMatch(/^must be the https origin callers reach the API on, such as https:\/\/func-x.azurewebsites.net/);
      expect(problems[0]!.message).not.toContain('K3ySecretValue');
    }
  });

  it('HTTP_AUTH_LEVEL=anonymous is refused, pointing at HTTP_HEALTH_AUTH_LEVEL; health alone may be anonymous', () => {
    expect(problemsOf({ ...base, HTTP_AUTH_LEVEL: 'anonymous' })).toEqual([
      {
        setting: 'HTTP_AUTH_LEVEL',
        message: expect.stringMatching(/^must be function or admin: the data routes always need a key .*HTTP_HEALTH_AUTH_LEVEL=anonymous/),
      },
    ]);
    expect(loadSettings(base).healthAuthLevel).toBe('function');
    expect(loadSettings({ ...base, HTTP_HEALTH_AUTH_LEVEL: 'anonymous' })).toMatchObject({
      httpAuthLevel: 'function',
      healthAuthLevel: 'anonymous',
    });
    expect(problemsOf({ ...base, HTTP_HEALTH_AUTH_LEVEL: 'admin' })[0]!.setting).toBe('HTTP_HEALTH_AUTH_LEVEL');
  });

  it('redactSecrets blanks userinfo, queries and keys', () => {
    expect(redactSecrets('https://u:p@host.example/x?sig=abc#f')).toBe('https://<redacted>@host.example/x?<redacted>#f');
    expect(redactSecrets('AccountName=a;AccountKey=abc==;SharedAccessSignature=sv=1&sig=x')).toBe(
      'AccountName=a;AccountKey=<redacted>;SharedAccessSignature=<redacted>&sig=<redacted>',
    );
    expect(redactSecrets('0 */10 * * * *')).toBe('0 */10 * * * *');
  });

  it('a configuration error for a local run says where each value came from and where to fix it', () => {
    let error: ConfigurationError | undefined;
    try {
      loadSettings({ ...base, GRAPH_MAX_RPS: 'fast', SYNC_LOOKBACK_MINUTES: '-1', AZURE_TENANT_ID: '' });
    } catch (e) {
      error = e as ConfigurationError;
    }
    const origins: Record<string, string> = { GRAPH_MAX_RPS: '/home/me/app/local.settings.json', SYNC_LOOKBACK_MINUTES: 'the environment' };
    expect(error!.describe((name) => origins[name], '/home/me/app/local.settings.json or the environment').split('\n')).toEqual([
      'Invalid configuration:',
      expect.stringMatching(/^ {2}- AZURE_TENANT_ID: is required\. .*as tenantId$/),
      expect.stringMatching(/^ {2}- GRAPH_MAX_RPS: must be .*, got 'fast' \(set in \/home\/me\/app\/local\.settings\.json\)$/),
      expect.stringMatching(/^ {2}- SYNC_LOOKBACK_MINUTES: must be .* \(set in the environment\)$/),
      'Fix them in /home/me/app/local.settings.json or the environment.',
    ]);
  });
});
