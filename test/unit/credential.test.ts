import { loadSettings } from '../../src/config/settings';
import { selectCredential } from '../../src/graph/credential';
import { describeRetry } from '../../src/graph/retryMessage';

/** Which credential the settings select (the real ones are exercised over the wire in test/integration/credentials.test.ts). */
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '0f5e2d3c-6b7a-4c8d-9e0f-1a2b3c4d5e6f';
const base = { AZURE_TENANT_ID: TENANT, TABLES_CONNECTION_STRING: 'UseDevelopmentStorage=true' };
const MI = { IDENTITY_ENDPOINT: 'http://169.254.129.2:8081/msi/token', IDENTITY_HEADER: 'h' };
const plan = (settings: Record<string, string>, env: Record<string, string> = {}) => selectCredential(loadSettings({ ...base, ...settings }), env);

describe('selectCredential', () => {
  it.each([
    ['a client secret', { AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: 's3cret-value' }, MI, 'client-secret', `the client secret of app ${CLIENT}`],
    [
      'a certificate',
      { AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_CERTIFICATE_PATH: '/k.pem' },
      MI,
      'client-certificate',
      `the certificate /k.pem of app ${CLIENT}`,
    ],
    ['the managed identity', {}, MI, 'managed-identity', 'the managed identity (system-assigned) at http://169.254.129.2:8081'],
    [
      'a user-assigned identity',
      { AZURE_CLIENT_ID: CLIENT },
      MI,
      'managed-identity',
      `the managed identity (user-assigned, client id ${CLIENT}) at http://169.254.129.2:8081`,
    ],
    [
      'a workload identity',
      { AZURE_CLIENT_ID: CLIENT },
      { AZURE_FEDERATED_TOKEN_FILE: '/t' },
      'workload-identity',
      `the workload identity of app ${CLIENT}`,
    ],
    ['nothing', {}, {}, 'developer', 'the developer sign-in (Azure CLI, Azure Developer CLI)'],
  ])('%s', (_name, settings, env, kind, label) => {
    expect(plan(settings, env)).toMatchObject({ kind, label, tenantId: TENANT });
    expect(JSON.stringify(plan(settings, env))).not.toContain('s3cret-value');
  });

  it('AZURE_TOKEN_CREDENTIALS narrows the choice as in the Azure SDK', () => {
    const secret = { AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: 'x' };
    expect(plan({ ...secret, AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential' }, MI).kind).toBe('managed-identity');
    expect(plan({ AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential' }, {})).toMatchObject({ kind: 'managed-identity', endpoint: undefined });
    expect(plan({ AZURE_TOKEN_CREDENTIALS: 'prod' }, {}).kind).toBe('managed-identity');
    expect(plan({ ...secret, AZURE_TOKEN_CREDENTIALS: 'prod' }, MI).kind).toBe('client-secret');
    expect(plan({ ...secret, AZURE_TOKEN_CREDENTIALS: 'dev' }, MI)).toMatchObject({
      kind: 'developer',
      tools: ['Azure CLI', 'Azure Developer CLI', 'Azure PowerShell'],
    });
    expect(plan({ AZURE_TOKEN_CREDENTIALS: 'AzureCliCredential' }, MI)).toMatchObject({ kind: 'developer', tools: ['Azure CLI'] });
    expect(plan({ ...secret, AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential' }, MI).kind).toBe('client-secret');
  });

  it("uses the cloud's authority, or AZURE_AUTHORITY_HOST without instance discovery", () => {
    expect(plan({})).toMatchObject({ authorityHost: 'https://login.microsoftonline.com', disableInstanceDiscovery: false });
    expect(plan({ GRAPH_CLOUD: 'usgov' })).toMatchObject({ authorityHost: 'https://login.microsoftonline.us', disableInstanceDiscovery: false });
    expect(plan({ AZURE_AUTHORITY_HOST: 'https://127.0.0.1:9443' })).toMatchObject({
      authorityHost: 'https://127.0.0.1:9443',
      disableInstanceDiscovery: true,
    });
  });
});

describe('describeRetry', () => {
  it.each([
    [{ attempt: 2, status: 429, code: 'TooManyRequests', delayMs: 4080 }, 'riskDetections: Graph answered 429, retry 2 in 4.1 s'],
    [{ attempt: 1, status: 503, code: 'ServiceUnavailable', delayMs: 35 }, 'riskDetections: Graph answered 503 ServiceUnavailable, retry 1 in 35 ms'],
    [
      { attempt: 3, status: 0, code: 'TransportError', reason: 'no answer within 60000 ms', delayMs: 8000 },
      'riskDetections: no answer from Graph (no answer within 60000 ms), retry 3 in 8.0 s',
    ],
    [
      { attempt: 1, status: 0, code: 'GraphAuthenticationError', reason: 'could not get a token with x: y', delayMs: 2000 },
      'riskDetections: no token yet (could not get a token with x: y), retry 1 in 2.0 s',
    ],
  ])('%j', (event, line) => {
    expect(describeRetry('riskDetections', event)).toBe(line);
  });
});
