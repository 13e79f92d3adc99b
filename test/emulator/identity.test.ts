/** The managed-identity endpoint, exercised through the real @azure/identity credentials and the Graph JS SDK. */
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { Client } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { type GraphEmulator, generateRiskDetections, startGraphEmulator } from '../../tools/emulator/index.js';
import { graphGet, json } from './helpers.js';

const SCOPE = 'https://graph.microsoft.com/.default';
const DETECTIONS = '/v1.0/identityProtection/riskDetections';
/** Variables that would make @azure/identity pick another credential or managed-identity source. */
const CLEARED = [
  'AZURE_CLIENT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_USERNAME',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_TOKEN_CREDENTIALS',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'IMDS_ENDPOINT',
  'IDENTITY_SERVER_THUMBPRINT',
];

let emulator: GraphEmulator;
const savedEnv = { ...process.env };

beforeAll(async () => {
  emulator = await startGraphEmulator({ throttling: false });
  emulator.upsert(
    'riskDetections',
    generateRiskDetections(12, { seed: 4, from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-02-01T00:00:00Z') }),
  );
  for (const name of CLEARED) delete process.env[name];
  process.env.IDENTITY_ENDPOINT = emulator.identityEndpoint;
  process.env.IDENTITY_HEADER = emulator.identityHeader;
  process.env.AZURE_TENANT_ID = emulator.tenantId;
});
afterAll(async () => {
  for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
  Object.assign(process.env, savedEnv);
  await emulator.close();
});
beforeEach(() => emulator.faults.clear());

const tokenUrl = (query: string): string => `${emulator.identityEndpoint}?${query}`;
const appServiceGet = (query: string, headers: Record<string, string> = { 'X-IDENTITY-HEADER': emulator.identityHeader }) =>
  fetch(tokenUrl(query), { headers });
const GOOD_QUERY = 'api-version=2019-08-01&resource=https%3A%2F%2Fgraph.microsoft.com';

describe('managed-identity endpoint with @azure/identity', () => {
  it('DefaultAzureCredential gets a token that Graph accepts', async () => {
    const before = emulator.stats().tokensIssued;
    const credential = new DefaultAzureCredential();
    const token = await credential.getToken(SCOPE);
    expect(token.token).toMatch(/^emu\./);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3500_000);
    expect(token.expiresOnTimestamp).toBeLessThan(Date.now() + 3700_000);
    expect(emulator.stats().tokensIssued).toBe(before + 1);
    const response = await graphGet(emulator, DETECTIONS, { token: token.token });
    expect(response.status).toBe(200);
  });

  it('a user-assigned ManagedIdentityCredential sends client_id', async () => {
    const token = await new ManagedIdentityCredential({ clientId: emulator.clientId }).getToken(SCOPE);
    expect((await graphGet(emulator, DETECTIONS, { token: token.token })).status).toBe(200);
    const last = emulator
      .requestLog()
      .filter((e) => e.listener === 'token')
      .at(-1)!;
    expect(new URL(last.url, 'http://x').searchParams.get('client_id')).toBe(emulator.clientId);
    await expect(new ManagedIdentityCredential({ clientId: '11111111-1111-4111-8111-111111111111' }).getToken(SCOPE)).rejects.toThrow(/client_id/);
  });

  it('the Graph JS SDK reaches the emulator with that credential (customHosts)', async () => {
    const client = Client.initWithMiddleware({
      baseUrl: emulator.graphUrl,
      customHosts: new Set(['127.0.0.1']),
      authProvider: new TokenCredentialAuthenticationProvider(new DefaultAzureCredential(), { scopes: [SCOPE] }),
    });
    const page = await client.api('/identityProtection/riskDetections').header('Prefer', 'include-unknown-enum-members').top(5).get();
    expect(page.value).toHaveLength(5);
    const next = await client.api(page['@odata.nextLink']).get();
    expect(next.value).toHaveLength(5);
  });

  it('a second emulator of the tenant reuses the identity port and accepts tokens cached by msal', async () => {
    // msal-node keeps the endpoint and its tokens in static fields: see TokenStore and startGraphEmulator.
    const cached = await new DefaultAzureCredential().getToken(SCOPE);
    const port = new URL(emulator.identityEndpoint).port;
    await emulator.close();
    emulator = await startGraphEmulator({ throttling: false });
    expect(new URL(emulator.identityEndpoint).port).toBe(port);
    expect(emulator.identityHeader).toBe(process.env.IDENTITY_HEADER);
    const token = await new DefaultAzureCredential().getToken(SCOPE);
    expect(token.token).toBe(cached.token);
    expect((await graphGet(emulator, DETECTIONS, { token: token.token })).status).toBe(200);
  });
});

describe('managed-identity endpoint protocol', () => {
  it('answers {access_token, expires_on (epoch seconds, string), resource, token_type, client_id}', async () => {
    const response = await appServiceGet(GOOD_QUERY);
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body).toEqual({
      access_token: expect.stringMatching(/^emu\./),
      expires_on: expect.stringMatching(/^\d{10}$/),
      resource: 'https://graph.microsoft.com',
      token_type: 'Bearer',
      client_id: emulator.clientId,
    });
    expect(Number(body.expires_on) - Date.now() / 1000).toBeGreaterThan(3590);
    expect((await appServiceGet('api-version=2019-08-01&resource=https://graph.microsoft.com/')).status).toBe(200);
  });

  it.each([
    ['a missing header', GOOD_QUERY, {}, 400],
    ['a wrong header', GOOD_QUERY, { 'X-IDENTITY-HEADER': 'wrong' }, 401],
    ['another resource', 'api-version=2019-08-01&resource=https://management.azure.com', undefined, 400],
    ['the scope instead of the resource', `api-version=2019-08-01&resource=${encodeURIComponent(SCOPE)}`, undefined, 400],
    ['a missing resource', 'api-version=2019-08-01', undefined, 400],
    ['another api-version', 'api-version=2017-09-01&resource=https://graph.microsoft.com', undefined, 400],
    ['an unknown client_id', `${GOOD_QUERY}&client_id=11111111-1111-4111-8111-111111111111`, undefined, 400],
  ])('refuses %s', async (_what, query, headers, status) => {
    const response = await appServiceGet(query, headers);
    expect(response.status).toBe(status);
    expect(await json(response)).toEqual({ statusCode: status, message: expect.any(String), correlationId: expect.any(String) });
  });

  it('serves other clouds when configured', async () => {
    const gov = await startGraphEmulator({ resource: 'https://graph.microsoft.us', identityPort: 0 });
    try {
      const ok = await fetch(`${gov.identityEndpoint}?api-version=2019-08-01&resource=https://graph.microsoft.us`, {
        headers: { 'X-IDENTITY-HEADER': gov.identityHeader },
      });
      expect(ok.status).toBe(200);
      const global = await fetch(`${gov.identityEndpoint}?api-version=2019-08-01&resource=https://graph.microsoft.com`, {
        headers: { 'X-IDENTITY-HEADER': gov.identityHeader },
      });
      expect(global.status).toBe(400);
    } finally {
      await gov.close();
    }
  });

  it('can fail for a while (faults target the token endpoint)', async () => {
    emulator.faults.add({ kind: 'status', status: 500, target: 'token', count: 2 });
    expect((await appServiceGet(GOOD_QUERY)).status).toBe(500);
    expect((await graphGet(emulator, DETECTIONS)).status).toBe(200); // Graph is not affected
    expect((await appServiceGet(GOOD_QUERY)).status).toBe(500);
    expect((await appServiceGet(GOOD_QUERY)).status).toBe(200);
    expect(emulator.stats().faults.token).toEqual({ status: 2 });

    emulator.faults.add({ kind: 'reset', target: 'token', count: 1 });
    await expect(appServiceGet(GOOD_QUERY)).rejects.toThrow();
  });

  it('issues tokens that revokeTokens() invalidates; the next token works', async () => {
    const first = (await json(appServiceGet(GOOD_QUERY))).access_token as string;
    expect((await graphGet(emulator, DETECTIONS, { token: first })).status).toBe(200);
    emulator.revokeTokens();
    expect((await graphGet(emulator, DETECTIONS, { token: first })).status).toBe(401);
    const second = (await json(appServiceGet(GOOD_QUERY))).access_token as string;
    expect((await graphGet(emulator, DETECTIONS, { token: second })).status).toBe(200);
  });
});
