/**
 * infra/grant-graph-permissions.sh against a fake Azure CLI (test/infra/fake-az.js, selected with AZ): it
 * grants exactly the missing Microsoft Graph app roles, looked up by value, in the right national cloud,
 * and explains the failures a deployer meets.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, readRepoFile } from './bicep';

const SCRIPT = join(REPO, 'infra', 'grant-graph-permissions.sh');
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const IDENTITY = '5f0e7c2a-93b1-4d6e-8a47-0c9b1e2d3f40';
const TENANT = '72f988bf-0000-4000-8000-00000000abcd';

/** App role ids differ from the real ones on purpose: the script must look them up by value. */
const ROLES = {
  'IdentityRiskEvent.Read.All': 'a1a1a1a1-1111-4111-8111-111111111111',
  'IdentityRiskyUser.Read.All': 'b2b2b2b2-2222-4222-8222-222222222222',
  'IdentityRiskyServicePrincipal.Read.All': 'c3c3c3c3-3333-4333-8333-333333333333',
  'User.Read.All': 'd4d4d4d4-4444-4444-8444-444444444444',
};

interface FakeState {
  loggedIn: boolean;
  tenant: string;
  cloud: string;
  graphRoot: string;
  graphSpId: string;
  roles: Record<string, string>;
  principals: string[];
  assignments: Array<{ principalId: string; resourceId: string; appRoleId: string }>;
  forbidPost?: boolean;
  calls: string[][];
}

let dir: string;
let fakeAz: string;
let statePath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'grant-graph-'));
  fakeAz = join(dir, 'az');
  copyFileSync(join(__dirname, 'fake-az.js'), fakeAz);
  chmodSync(fakeAz, 0o755);
  statePath = join(dir, 'state.json');
  writeState({});
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeState(overrides: Partial<FakeState>): void {
  const state: FakeState = {
    loggedIn: true,
    tenant: TENANT,
    cloud: 'AzureCloud',
    graphRoot: 'https://graph.microsoft.com',
    graphSpId: '0e0e0e0e-aaaa-4bbb-8ccc-dddddddddddd',
    roles: ROLES,
    principals: [IDENTITY],
    assignments: [],
    calls: [],
    ...overrides,
  };
  writeFileSync(statePath, JSON.stringify(state));
}

function readState(): FakeState {
  return JSON.parse(readFileSync(statePath, 'utf8')) as FakeState;
}

function run(args: string[], env: Record<string, string> = {}) {
  const state = readState();
  state.calls = [];
  writeFileSync(statePath, JSON.stringify(state));
  const result = spawnSync('bash', [SCRIPT, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      AZ: fakeAz,
      FAKE_AZ_STATE: statePath,
      GRANT_WAIT_SECONDS: '0',
      ...env,
    },
  });
  const calls = readState().calls;
  const rest = calls.filter((c) => c[0] === 'rest');
  const method = (c: string[]) => c[c.indexOf('--method') + 1];
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    calls,
    posts: rest.filter((c) => method(c) === 'post'),
    urls: rest.map((c) => c[c.indexOf('--url') + 1]!),
    resources: rest.map((c) => c[c.indexOf('--resource') + 1]!),
  };
}

describe('grant-graph-permissions.sh', () => {
  test('first run grants both permissions, a second run grants nothing', () => {
    const first = run(['--principal-id', IDENTITY]);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.posts).toHaveLength(2);
    expect(first.stdout).toMatch(/^IdentityRiskEvent\.Read\.All: granted$/m);
    expect(first.stdout).toMatch(/^IdentityRiskyUser\.Read\.All: granted$/m);
    expect(
      readState()
        .assignments.map((a) => a.appRoleId)
        .sort(),
    ).toEqual([ROLES['IdentityRiskEvent.Read.All'], ROLES['IdentityRiskyUser.Read.All']].sort());
    for (const a of readState().assignments) {
      expect(a.principalId).toBe(IDENTITY);
      expect(a.resourceId).toBe('0e0e0e0e-aaaa-4bbb-8ccc-dddddddddddd');
    }
    for (const post of first.posts) {
      expect(post[post.indexOf('--url') + 1]).toBe(`https://graph.microsoft.com/v1.0/servicePrincipals/${IDENTITY}/appRoleAssignments`);
    }

    const second = run(['--principal-id', IDENTITY]);
    expect(second.status).toBe(0);
    expect(second.posts).toHaveLength(0);
    expect(second.stdout).toMatch(/^IdentityRiskEvent\.Read\.All: already granted$/m);
    expect(second.stdout).toMatch(/^IdentityRiskyUser\.Read\.All: already granted$/m);
  });

  test('grants only what is missing', () => {
    writeState({
      assignments: [
        { principalId: IDENTITY, resourceId: '0e0e0e0e-aaaa-4bbb-8ccc-dddddddddddd', appRoleId: ROLES['IdentityRiskyUser.Read.All'] },
        // same role id on another resource: not a Graph permission, must not count
        { principalId: IDENTITY, resourceId: 'ffffffff-ffff-4fff-8fff-ffffffffffff', appRoleId: ROLES['IdentityRiskEvent.Read.All'] },
      ],
    });
    const result = run(['--principal-id', IDENTITY]);
    expect(result.status).toBe(0);
    expect(result.posts).toHaveLength(1);
    expect(JSON.parse(result.posts[0]![result.posts[0]!.indexOf('--body') + 1]!)).toEqual({
      principalId: IDENTITY,
      resourceId: '0e0e0e0e-aaaa-4bbb-8ccc-dddddddddddd',
      appRoleId: ROLES['IdentityRiskEvent.Read.All'],
    });
    expect(result.stdout).toMatch(/^IdentityRiskEvent\.Read\.All: granted$/m);
    expect(result.stdout).toMatch(/^IdentityRiskyUser\.Read\.All: already granted$/m);
  });

  test('--dry-run reads and reports but grants nothing', () => {
    const result = run(['--principal-id', IDENTITY, '--dry-run']);
    expect(result.status).toBe(0);
    expect(result.posts).toHaveLength(0);
    expect(result.stdout).toMatch(/^IdentityRiskEvent\.Read\.All: missing \(dry run: would grant\)$/m);
    expect(result.stdout).toMatch(/^IdentityRiskyUser\.Read\.All: missing \(dry run: would grant\)$/m);
    expect(readState().assignments).toEqual([]);
  });

  test('takes its inputs from the azd environment (postprovision hook)', () => {
    writeState({ cloud: 'AzureUSGovernment', graphRoot: 'https://graph.microsoft.us' });
    const result = run([], { MANAGED_IDENTITY_PRINCIPAL_ID: IDENTITY, GRAPH_CLOUD: 'usgov', AZURE_TENANT_ID: TENANT });
    expect(result.stderr).toBe('');
    expect(result.posts).toHaveLength(2);
  });

  test.each([
    ['usgov', 'AzureUSGovernment', 'https://graph.microsoft.us'],
    ['usgovdod', 'AzureUSGovernment', 'https://dod-graph.microsoft.us'],
    ['global', 'AzureCloud', 'https://graph.microsoft.com'],
  ])('cloud %s calls %s Graph at %s only', (cloud, azCloud, root) => {
    writeState({ cloud: azCloud, graphRoot: root });
    const result = run(['--principal-id', IDENTITY, '--cloud', cloud]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.posts).toHaveLength(2);
    expect(result.urls.length).toBeGreaterThan(0);
    for (const url of result.urls) expect(url.startsWith(`${root}/v1.0/`)).toBe(true);
    for (const resource of result.resources) expect(resource).toBe(root);
  });

  test('refuses when the Azure CLI is set to another cloud', () => {
    const result = run(['--principal-id', IDENTITY, '--cloud', 'usgov']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('az cloud set --name AzureUSGovernment');
    expect(result.posts).toHaveLength(0);
  });

  test('explains missing privileges (Privileged Role Administrator or Global Administrator)', () => {
    writeState({ forbidPost: true });
    const result = run(['--principal-id', IDENTITY]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/Privileged Role Administrator or Global Administrator/);
    expect(result.stderr).toContain('Authorization_RequestDenied');
  });

  test('explains a missing sign-in', () => {
    writeState({ loggedIn: false });
    const result = run(['--principal-id', IDENTITY]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/not signed in: run 'az login'/);
  });

  test('refuses to run signed in to another tenant', () => {
    const result = run(['--principal-id', IDENTITY, '--tenant', '11111111-2222-4333-8444-555555555555']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('az login --tenant 11111111-2222-4333-8444-555555555555');
    expect(result.posts).toHaveLength(0);
  });

  test('explains an unknown identity (for example a client id passed instead of the object id)', () => {
    const result = run(['--principal-id', '99999999-9999-4999-8999-999999999999']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/no service principal with object id 99999999-9999-4999-8999-999999999999/);
    expect(result.stderr).toContain('MANAGED_IDENTITY_PRINCIPAL_ID');
  });

  test('rejects bad input before calling Azure', () => {
    for (const [args, message] of [
      [[], /no managed identity given/],
      [['--principal-id', 'not-a-guid'], /is not an object id/],
      [['--principal-id', IDENTITY, '--cloud', 'china'], /unknown cloud 'china'/],
      [['--bogus'], /unknown argument/],
    ] as const) {
      const result = run([...args]);
      expect({ args, status: result.status }).toEqual({ args, status: 1 });
      expect(result.stderr).toMatch(message);
      expect(result.calls).toEqual([]);
    }
  });

  test("hard-codes no app role id: the only GUID in either script is Microsoft Graph's appId", () => {
    for (const file of ['infra/grant-graph-permissions.sh', 'infra/grant-graph-permissions.ps1']) {
      const text = readRepoFile(file);
      const guids = new Set(text.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi) ?? []);
      expect({ file, guids: [...guids] }).toEqual({ file, guids: [GRAPH_APP_ID] });
      expect(text).toContain('IdentityRiskEvent.Read.All');
      expect(text).toContain('IdentityRiskyUser.Read.All');
      expect(text).toContain('MANAGED_IDENTITY_PRINCIPAL_ID');
      expect(text).toContain('GRAPH_CLOUD');
      expect(text).toContain('https://graph.microsoft.us');
      expect(text).toContain('https://dod-graph.microsoft.us');
      expect(text).toMatch(/Privileged Role Administrator or Global Administrator/);
    }
  });

  const shellcheck = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
  (shellcheck.status === 0 ? test : test.skip)('is shellcheck-clean', () => {
    const result = spawnSync('shellcheck', [SCRIPT], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
