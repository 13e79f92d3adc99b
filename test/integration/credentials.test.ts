import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvocationContext } from '@azure/functions';
import { generate } from 'selfsigned';
import { buildFunctions, SYNC_TIMER, type TimerFunction } from '../../src/app/functions';
import { fixedServices } from '../../src/app/services';
import { generateRiskDetections } from '../../tools/emulator';
import { startEntraEmulator, type EntraEmulator } from '../../tools/entra';
import { quietLogger, startHarness, type CliResult, type Harness } from '../support/harness';

/**
 * A credential that can never work ends `risk-sync sync` within seconds, with one line that names the credential and
 * what to fix, and no SDK dump; one that fails for a while (a 5xx from the token endpoint) is retried. Tokens come
 * from the real @azure/identity credentials, over HTTPS, from tools/entra (client secret, certificate) or the Graph
 * emulator's managed-identity endpoint.
 */
const APP = '6e2b1c90-4d3a-4f5e-8a7b-9c0d1e2f3a4b';
const SECRET = 'the-right-secret-value-0123456789';
const EXPIRED = 'an-expired-secret-value-98765432';

describe('credentials that can never work fail fast with one line (CLI, over the wire)', () => {
  let h: Harness;
  let entra: EntraEmulator;
  let dir: string;
  let registered: string;
  let unregistered: string;

  beforeAll(async () => {
    h = await startHarness();
    h.emulator.upsert(
      'riskDetections',
      generateRiskDetections(50, { seed: 8, from: new Date(Date.now() - 86_400_000), to: new Date(Date.now() - 60_000) }),
    );
    dir = mkdtempSync(path.join(tmpdir(), 'risk-sync-cred-'));
    const pem = async (name: string) => {
      const pair = await generate([{ name: 'commonName', value: name }], { keySize: 2048, algorithm: 'sha256' });
      const file = path.join(dir, `${name}.pem`);
      writeFileSync(file, pair.private + pair.cert, { mode: 0o600 });
      return { file, cert: pair.cert };
    };
    const [good, other] = await Promise.all([pem('registered'), pem('unregistered')]);
    registered = good.file;
    unregistered = other.file;
    entra = await startEntraEmulator({
      tenants: [
        {
          tenantId: h.emulator.tenantId,
          apps: [
            {
              clientId: APP,
              secrets: [{ value: SECRET }, { value: EXPIRED, expiresAt: new Date(Date.now() - 86_400_000) }],
              certificates: [good.cert],
            },
          ],
        },
      ],
    });
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await entra?.close();
    await h?.close();
  });

  /** The harness's settings without the managed identity, and developer tools that find no sign-in. */
  const withoutManagedIdentity = (overrides: Record<string, string>) => {
    const { IDENTITY_ENDPOINT: _e, IDENTITY_HEADER: _h, ...env } = h.env;
    const empty = mkdtempSync(path.join(dir, 'home-'));
    return { ...env, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS!, AZURE_CONFIG_DIR: empty, AZD_CONFIG_DIR: empty, ...overrides };
  };
  const secret = (value: string, extra: Record<string, string> = {}) =>
    withoutManagedIdentity({ AZURE_CLIENT_ID: APP, AZURE_CLIENT_SECRET: value, AZURE_AUTHORITY_HOST: entra.authorityHost, ...extra });
  const sync = (env: Record<string, string>) => h.cli(['sync', '--json'], env, { env: 'bare' });

  /** The rows that runs write: leases and states (SyncState but its `_sync` rows, which name the tables) and SyncRuns. */
  const runRows = async () => {
    const rows: string[] = [];
    for (const table of ['SyncState', 'SyncRuns']) {
      try {
        for await (const e of h.table(table).listEntities())
          if (e.partitionKey !== '_sync') rows.push(`${table} ${e.partitionKey} ${e.rowKey} ${e.etag}`);
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      }
    }
    return rows.sort();
  };
  /** A sync whose credential can never work: its runs began while the token request was out, and wrote nothing. */
  const failingSync = async (env: Record<string, string>) => {
    const before = await runRows();
    const result = await sync(env);
    expect(await runRows()).toEqual(before);
    return result;
  };

  /** Exit 1 and exactly one error line, matching `line`; nothing of the SDK's dumps. */
  const expectOneLine = (result: CliResult, line: RegExp) => {
    const errors = result.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect({ code: result.code, errors }).toEqual({ code: 1, errors: [expect.stringMatching(line)] });
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toMatch(/Trace ID|Correlation ID|\n\s+at |AuthenticationRequiredError|CredentialUnavailableError|Error\(s\)/);
    expect(errors[0]!.length).toBeLessThan(600);
    expect(result.stderr).not.toContain(SECRET);
  };

  it('no credential at all: names what was tried and what to set', async () => {
    expectOneLine(
      await failingSync(withoutManagedIdentity({})),
      /^error: could not get a token with the developer sign-in \(Azure CLI, Azure Developer CLI\): no credential found \(Azure CLI: not (installed|signed in); Azure Developer CLI: not (installed|signed in)\)\. Fix: set AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, or sign in with 'az login'/,
    );
  });

  it.each([
    [
      'a wrong secret',
      () => secret('not-the-secret'),
      /AADSTS7000215, the client secret is not valid\. Fix: set AZURE_CLIENT_SECRET to the secret's Value/,
    ],
    ['an expired secret', () => secret(EXPIRED), /AADSTS7000222, the client secret has expired\. Fix: create a new client secret/],
    [
      'an app the tenant does not have',
      () => secret(SECRET, { AZURE_CLIENT_ID: '0a0a0a0a-1b1b-4c2c-8d3d-4e4e4e4e4e4e' }),
      /AADSTS700016, the tenant has no app with this client id\. Fix: check AZURE_CLIENT_ID and AZURE_TENANT_ID/,
    ],
    [
      'a tenant that does not exist',
      () => secret(SECRET, { AZURE_TENANT_ID: '9f9f9f9f-8e8e-4d7d-8c6c-5b5b5b5b5b5b' }),
      /AADSTS90002, the tenant does not exist\. Fix: check AZURE_TENANT_ID/,
    ],
  ])('%s: the client secret line with the AADSTS code and the fix', async (_name, env, line) => {
    expectOneLine(
      await failingSync(env()),
      new RegExp(`^error: could not get a token with the client secret of app [0-9a-f-]{36}: .*${line.source}`),
    );
  });

  it('a certificate the app does not know, and one that can not be read', async () => {
    const cert = (file: string) =>
      withoutManagedIdentity({ AZURE_CLIENT_ID: APP, AZURE_CLIENT_CERTIFICATE_PATH: file, AZURE_AUTHORITY_HOST: entra.authorityHost });
    expectOneLine(
      await failingSync(cert(unregistered)),
      /^error: could not get a token with the certificate .*unregistered\.pem of app .*: AADSTS700027, the certificate is not registered/,
    );
    expectOneLine(
      await failingSync(cert(path.join(dir, 'missing.pem'))),
      /AZURE_CLIENT_CERTIFICATE_PATH can not be used \(ENOENT\)\. Fix: point it at a PEM file/,
    );
  });

  it('a registered certificate works', async () => {
    const result = await sync(
      withoutManagedIdentity({ AZURE_CLIENT_ID: APP, AZURE_CLIENT_CERTIFICATE_PATH: registered, AZURE_AUTHORITY_HOST: entra.authorityHost }),
    );
    expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
  });

  it('a managed-identity endpoint answering 4xx', async () => {
    const result = await failingSync({ ...h.env, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS!, IDENTITY_HEADER: 'a-stale-identity-header' });
    expectOneLine(
      result,
      /^error: could not get a token with the managed identity \(system-assigned\) at http:\/\/127\.0\.0\.1:\d+: the managed-identity endpoint answered 401 \(.*\)\. Fix: check IDENTITY_HEADER/,
    );
  });

  it('an Entra token endpoint answering 503 a few times is retried, and the sync then succeeds', async () => {
    // @azure/identity retries a 5xx of the token endpoint 3 times itself; past that, msal-node refuses to ask Entra
    // again for 60 s (its throttling cache), and the reader's retries wait that out.
    entra.failTokenRequests(3, 503);
    const before = entra.requests().length;
    const result = await sync(secret(SECRET));
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const token = entra
      .requests()
      .slice(before)
      .filter((r) => r.path.endsWith('/oauth2/v2.0/token'));
    expect(token.map((r) => r.status)).toEqual([503, 503, 503, 200]);
  });

  it('a managed-identity endpoint answering 503 for longer than the SDK retries is retried by the reader, then succeeds', async () => {
    // The check at start uses up 4 (the SDK's own retries), the two readers' first token requests the rest.
    h.emulator.faults.add({ target: 'token', kind: 'status', status: 503, count: 12 });
    const result = await sync({ ...h.env, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS!, GRAPH_RETRY_BASE_MS: '200' });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(result.stderr).toMatch(
      /^risk(Detections|yUsers): no token yet \(could not get a token with the managed identity .*: the managed-identity endpoint answered 503 \(Injected fault: 503\.\)\), retry 1 in /m,
    );
    expect(h.emulator.requestLog().filter((r) => r.listener === 'token' && r.status === 503)).toHaveLength(12);
  });

  it('in Azure (the timer function, no CLI), the runs fail at once with the same line: no retry', async () => {
    // A tenant of its own: nothing has run for it yet, so the one timer finds every collection due.
    const tenant = 'c0ffee00-1111-4222-8333-444455556666';
    entra.addTenant({ tenantId: tenant, apps: [{ clientId: APP, secrets: [{ value: SECRET }] }] });
    const overrides = {
      AZURE_TENANT_ID: tenant,
      AZURE_CLIENT_ID: APP,
      AZURE_CLIENT_SECRET: 'not-the-secret',
      AZURE_AUTHORITY_HOST: entra.authorityHost,
    };
    const settings = h.settings(overrides);
    const service = h.service(overrides);
    h.emulator.resetStats();
    const timer = buildFunctions(settings, fixedServices(service)).find((f): f is TimerFunction => f.name === SYNC_TIMER)!;
    const failure = await timer.handler({ isPastDue: false } as never, new InvocationContext({ logHandler: () => undefined })).catch((e: Error) => e);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(
      /^riskDetections sync failed: could not get a token with the client secret of app .*: AADSTS7000215, the client secret is not valid\. Fix: /,
    );
    expect(h.emulator.stats().accepted).toBe(0);
    const summary = await service.run('riskDetections', { trigger: 'test' }, quietLogger);
    expect(summary).toMatchObject({ outcome: 'failed', errorCode: 'GraphAuthenticationError', retries: 0 });
  });
});
