import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureEmulatorCertificate, generateRiskDetections, generateRiskyUsers } from '../../tools/emulator';
import { startEntraEmulator, type EntraEmulator } from '../../tools/entra';
import { startHarness, type Harness } from '../support/harness';

/**
 * Settings that live only in local.settings.json (or a running demo's settings file) reach everything, the Azure SDK's
 * credential included, as if exported; the environment wins per key and is named on stderr. Each CLI here starts
 * with none of the settings in its environment, NODE_EXTRA_CA_CERTS included (the file brings it).
 */
const APP = '3c1f7a52-8d2e-4b6a-9f10-2a4b6c8d0e1f';
const SECRET = 'local-settings-secret-0123456789';

describe('settings in local.settings.json reach the credential (CLI, over the wire)', () => {
  let h: Harness;
  let entra: EntraEmulator;
  let certPath: string;
  const dirs: string[] = [];
  const now = Date.now();
  const users = generateRiskyUsers(20, { seed: 5, from: new Date(now - 5 * 86_400_000), to: new Date(now - 3_600_000) });

  beforeAll(async () => {
    h = await startHarness();
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert(
      'riskDetections',
      generateRiskDetections(300, { seed: 5, users, from: new Date(now - 5 * 86_400_000), to: new Date(now - 3_600_000) }),
    );
    entra = await startEntraEmulator({ tenants: [{ tenantId: h.emulator.tenantId, apps: [{ clientId: APP, secrets: [{ value: SECRET }] }] }] });
    ({ certPath } = await ensureEmulatorCertificate());
  });
  afterAll(async () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await entra?.close();
    await h?.close();
  });

  /** A working directory holding `file` (relative path) with these Values. */
  const workdir = (values: Record<string, string>, file = 'local.settings.json') => {
    const dir = mkdtempSync(path.join(tmpdir(), 'risk-sync-local-'));
    dirs.push(dir);
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), JSON.stringify({ IsEncrypted: false, Values: { FUNCTIONS_WORKER_RUNTIME: 'node', ...values } }));
    return dir;
  };
  const common = () => ({
    AZURE_TENANT_ID: h.emulator.tenantId,
    GRAPH_ENDPOINT: h.emulator.graphUrl,
    TABLES_CONNECTION_STRING: h.azurite.connectionString,
    GRAPH_MAX_RPS: '50',
    GRAPH_RETRY_BASE_MS: '20',
    SYNC_LEASE_SECONDS: '5',
    NODE_EXTRA_CA_CERTS: certPath,
  });
  const managedIdentity = () => ({ IDENTITY_ENDPOINT: h.emulator.identityEndpoint, IDENTITY_HEADER: h.emulator.identityHeader });
  const clientSecret = () => ({ AZURE_CLIENT_ID: APP, AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: entra.authorityHost });

  const syncIn = async (cwd: string, env: Record<string, string> = {}) => {
    const result = await h.cli(['sync', '--json'], env, { cwd, env: 'bare' });
    const summaries = result.stdout ? (JSON.parse(result.stdout) as { outcome: string }[]) : [];
    return { ...result, outcomes: summaries.map((s) => s.outcome) };
  };

  it('with the managed-identity endpoint given only in the file, a sync succeeds', async () => {
    const values = { ...common(), ...managedIdentity() };
    const result = await syncIn(workdir(values));
    expect(result.stderr).toContain(`settings: local.settings.json (${Object.keys(values).length + 1} values)\n`);
    expect({ code: result.code, outcomes: result.outcomes }).toEqual({ code: 0, outcomes: ['succeeded', 'succeeded', 'succeeded'] });
    expect(await h.stored('riskDetections')).toEqual(h.expected('riskDetections'));
    expect(await h.stored('riskyUsers')).toEqual(h.expected('riskyUsers'));
  });

  it('with a client secret and the authority host given only in the file, a sync succeeds', async () => {
    const before = entra.tokensIssued;
    const result = await syncIn(workdir({ ...common(), ...clientSecret() }));
    expect({ code: result.code, outcomes: result.outcomes, stderr: result.stderr }).toMatchObject({
      code: 0,
      outcomes: ['succeeded', 'succeeded', 'succeeded'],
    });
    expect(entra.tokensIssued).toBe(before + 1); // one credential for the process, its token cached
    expect(result.stderr).not.toContain(SECRET);
  });

  it('an exported AZURE_TENANT_ID does not switch the file off: merged per key, and named on stderr', async () => {
    // The emulator serves any tenant id it is asked for; the runs are recorded under the one the sync used.
    const AZURE_TENANT_ID = 'aaaaaaaa-1111-4222-8333-444444444444';
    const result = await syncIn(workdir({ ...common(), ...managedIdentity() }), { AZURE_TENANT_ID });
    expect(result.stderr).toMatch(/^settings: local\.settings\.json \(\d+ values; from the environment: AZURE_TENANT_ID\)$/m);
    expect({ code: result.code, outcomes: result.outcomes }).toEqual({ code: 0, outcomes: ['succeeded', 'succeeded', 'succeeded'] });
    const rows = await h
      .table('SyncRuns')
      .listEntities({ queryOptions: { filter: `PartitionKey eq '${AZURE_TENANT_ID}_riskDetections'` } })
      .next();
    expect(rows.done).toBe(false);
  });

  it("a bad value is reported where it came from: the file's path, or the environment", async () => {
    const dir = workdir({ ...common(), ...managedIdentity(), GRAPH_MAX_RPS: 'fast' });
    const file = await syncIn(dir);
    expect(file.code).toBe(2);
    expect(file.stderr).toContain(
      `GRAPH_MAX_RPS: must be a number from 0.01 to 100 (requests per second), got 'fast' (set in ${path.join(dir, 'local.settings.json')})`,
    );
    expect(file.stderr).toContain(`Fix it in ${path.join(dir, 'local.settings.json')} or the environment.`);

    const env = await syncIn(workdir({ ...common(), ...managedIdentity() }), { SYNC_LOOKBACK_MINUTES: 'soon' });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/SYNC_LOOKBACK_MINUTES: must be a whole number .*got 'soon' \(set in the environment\)/);
  });

  it("without a local.settings.json, a running demo's settings file is used, also with AZURE_TENANT_ID exported", async () => {
    const values = { ...common(), ...managedIdentity(), DEMO_PID: String(process.pid) };
    const dir = workdir(values, path.join('.local', 'demo', 'settings.json'));
    const result = await syncIn(dir, { AZURE_TENANT_ID: h.emulator.tenantId });
    expect(result.stderr).toMatch(
      new RegExp(
        `^settings: the running demo \\(\\.local/demo/settings\\.json\\) \\(${Object.keys(values).length + 1} values; from the environment: AZURE_TENANT_ID\\)$`,
        'm',
      ),
    );
    expect({ code: result.code, outcomes: result.outcomes }).toEqual({ code: 0, outcomes: ['succeeded', 'succeeded', 'succeeded'] });
  });
});
