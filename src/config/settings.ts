import { Cron } from 'croner';
import { GRAPH_CLOUDS, GRAPH_CLOUD_NAMES, type GraphCloud, type GraphCloudName } from './clouds';
import { DEFAULT_CATALOG, type Catalog } from '../domain/collections';

/**
 * The app settings this project reads. The names are a public contract: ops scripts, the Bicep template and
 * local.settings.example.json use them, and tests check that all of them agree with this list.
 */
export interface SettingInfo {
  name: string;
  /** The value used when the setting is absent or empty; undefined when there is none. */
  default?: string;
  required?: boolean;
  secret?: boolean;
  /** false: never set by the deployment (a secret, or a switch for local runs and tests); infra/app-settings.json leaves it out. */
  deployed?: false;
  description: string;
}

/**
 * The values of AZURE_TOKEN_CREDENTIALS this app understands (the Azure SDK's, case-insensitive). It is the SDK's
 * variable, not one of SETTINGS: the deployment sets it as a platform setting (ManagedIdentityCredential), and
 * loadSettings validates it like the others.
 */
export const TOKEN_CREDENTIALS = [
  'prod',
  'dev',
  'EnvironmentCredential',
  'WorkloadIdentityCredential',
  'ManagedIdentityCredential',
  'AzureCliCredential',
  'AzureDeveloperCliCredential',
  'AzurePowerShellCredential',
] as const;
export type TokenCredentialsChoice = (typeof TOKEN_CREDENTIALS)[number];

/** The settings a catalog's collections add: a schedule (top-level ones), a table, a change table (tracked ones). */
function collectionSettings(catalog: Catalog): SettingInfo[] {
  return catalog.collections.flatMap((c) => [
    ...(c.defaultSchedule
      ? [
          {
            name: `SYNC_SCHEDULE_${c.settingSuffix}`,
            default: c.defaultSchedule,
            description: `NCRONTAB schedule (6 fields, UTC) of the ${c.name} sync`,
          },
        ]
      : []),
    { name: `TABLE_${c.settingSuffix}`, default: c.defaultTable, description: `Table that holds ${c.name}` },
    ...(c.defaultChangesTable
      ? [
          {
            name: `TABLE_${c.settingSuffix}_CHANGES`,
            default: c.defaultChangesTable,
            description: `Table with one row per observed change of a ${c.name} record`,
          },
        ]
      : []),
  ]);
}

/** Every setting of a deployment with this catalog. */
export function settingsFor(catalog: Catalog): readonly SettingInfo[] {
  const [before, after] = [BASE_SETTINGS.slice(0, COLLECTION_SETTINGS_AT), BASE_SETTINGS.slice(COLLECTION_SETTINGS_AT)];
  return [...before, ...collectionSettings(catalog), ...after];
}

const BASE_SETTINGS: readonly SettingInfo[] = [
  { name: 'AZURE_TENANT_ID', required: true, description: 'Tenant (directory) id synced; written on every row as tenantId' },
  {
    name: 'AZURE_CLIENT_ID',
    description: 'Client id of a user-assigned managed identity, or of the app registration used with a secret or certificate',
  },
  {
    name: 'AZURE_CLIENT_SECRET',
    secret: true,
    deployed: false,
    description: 'App registration secret (prefer a managed identity or a certificate)',
  },
  { name: 'AZURE_CLIENT_CERTIFICATE_PATH', deployed: false, description: 'PEM file with the app registration certificate and key' },
  {
    name: 'AZURE_AUTHORITY_HOST',
    deployed: false,
    description: "Overrides the cloud's Entra authority (an https origin, e.g. a test token endpoint); the Azure SDK's variable",
  },
  { name: 'GRAPH_CLOUD', default: 'global', description: `National cloud: ${GRAPH_CLOUD_NAMES.join(', ')}` },
  { name: 'GRAPH_ENDPOINT', deployed: false, description: 'Overrides the Graph root (https origin of a proxy or the emulator)' },
  {
    name: 'TABLES_CONNECTION_STRING',
    secret: true,
    deployed: false,
    description: 'Table Storage connection string (Azurite, local runs); set this or TABLES_ENDPOINT',
  },
  {
    name: 'TABLES_ENDPOINT',
    description:
      'Table Storage account URL (https; http only for a loopback emulator), used with the same Entra credential (Azure); set this or TABLES_CONNECTION_STRING',
  },
  { name: 'GRAPH_MAX_RPS', default: '1', description: 'Graph requests per second for the tenant, shared by all collections' },
  { name: 'GRAPH_MAX_RETRIES', default: '8', description: 'Retries of one Graph request after 429, 5xx or a transport failure' },
  { name: 'GRAPH_RETRY_BASE_MS', default: '2000', description: 'First retry delay; doubles on each retry, with jitter, up to 60 s' },
  { name: 'GRAPH_REQUEST_TIMEOUT_SECONDS', default: '60', description: 'A Graph request with no complete answer by then is retried' },
  { name: 'SYNC_LOOKBACK_MINUTES', default: '30', description: 'Window re-read behind the watermark on every run' },
  {
    name: 'SYNC_INITIAL_DAYS',
    description: 'First run (or --full) reads only this many days back; empty reads everything Graph still holds',
  },
  { name: 'SYNC_TIME_BUDGET_SECONDS', default: '540', description: 'How long one timer run may page before it checkpoints and stops' },
  { name: 'SYNC_LEASE_SECONDS', default: '120', description: 'Lease that keeps two runs of one collection apart; renewed while a run is alive' },
  {
    name: 'SYNC_CHECKPOINT_SECONDS',
    default: '1',
    description: 'Least time between two checkpoints of a pass in progress (0: after every page); a killed run resumes from the last one',
  },
  {
    name: 'SYNC_SWEEP_HOURS',
    default: '6',
    description: 'Every this many hours a run reads SYNC_SWEEP_LOOKBACK_HOURS back instead of the lookback, for records that surface late (0: never)',
  },
  {
    name: 'SYNC_SWEEP_LOOKBACK_HOURS',
    default: '72',
    description: 'How far behind the watermark a sweep reads (offline detections surface up to 48 hours late)',
  },
  {
    name: 'SYNC_UNLICENSED_RETRY_HOURS',
    default: '24',
    description: 'A scheduled run tries a collection the tenant is not licensed or permitted for again after this many hours',
  },
  {
    name: 'SYNC_TIMER_SCHEDULE',
    default: '0 * * * * *',
    description: 'NCRONTAB schedule of the one timer; each tick runs the collections whose own schedule has come round',
  },
  // (the settings of each collection come here: settingsFor)
  { name: 'TABLE_SYNC_STATE', default: 'SyncState', description: 'Table of watermarks, checkpoints, leases and aggregates' },
  { name: 'TABLE_SYNC_RUNS', default: 'SyncRuns', description: 'Table with one row per run' },
  {
    name: 'TABLE_QUARANTINE',
    default: 'SyncQuarantine',
    description: 'Table of the records that could not be stored (raw JSON, reason), tried again on every run',
  },
  {
    name: 'SNAPSHOT_STALE_AFTER_RUNS',
    default: '3',
    description: 'A collection is stale when its last success is older than this many schedule intervals',
  },
  {
    name: 'HTTP_AUTH_LEVEL',
    default: 'function',
    description: 'Key the data routes need: function or admin (never anonymous: the data routes always need a key)',
  },
  {
    name: 'HTTP_HEALTH_AUTH_LEVEL',
    default: 'function',
    description: '/api/health alone: function (a key) or anonymous (for an uptime monitor that can not send one)',
  },
  {
    name: 'API_PUBLIC_BASE_URL',
    description:
      "The API's public https origin (https://<app>.azurewebsites.net) its @odata.nextLink values start with; empty: next links are relative (/api/...)",
  },
  { name: 'RUNS_QUEUE', default: 'sync-run-requests', description: 'Storage queue of run requests (POST /api/runs) that the queue function reads' },
  { name: 'QUEUE_ENDPOINT', description: 'Queue service URL the run requests are sent to with the Entra credential (Azure)' },
];

/** Where in the list the collections' settings go (before the shared tables). */
const COLLECTION_SETTINGS_AT = BASE_SETTINGS.findIndex((s) => s.name === 'TABLE_SYNC_STATE');

/** The settings of a deployment with the default collections. */
export const SETTINGS: readonly SettingInfo[] = settingsFor(DEFAULT_CATALOG);

export interface CollectionSettings {
  /** NCRONTAB schedule; a child collection runs with its parent and has none. */
  schedule?: string;
  /** Milliseconds between two runs of the schedule (the shortest gap seen over the next runs; the parent's for a child). */
  scheduleIntervalMs: number;
  table: string;
  /** The change table, for collections with tracked properties. */
  changesTable?: string;
}

export interface Settings {
  tenantId: string;
  clientId?: string;
  /** AZURE_CLIENT_SECRET, for the credential only (never logged). */
  clientSecret?: string;
  clientCertificatePath?: string;
  /** AZURE_TOKEN_CREDENTIALS: the one credential kind allowed, when set. */
  tokenCredentials?: TokenCredentialsChoice;
  cloudName: GraphCloudName;
  cloud: GraphCloud;
  /** The Entra authority host tokens come from: the cloud's, or AZURE_AUTHORITY_HOST. */
  authorityHost: string;
  /** The Graph origin requests go to: the cloud's root, or GRAPH_ENDPOINT. */
  graphRoot: string;
  /** `allowInsecureConnection` for the Table clients: true only for http to a loopback emulator (Azurite). */
  tables: ({ connectionString: string; endpoint?: undefined } | { endpoint: string; connectionString?: undefined }) & {
    allowInsecureConnection: boolean;
  };
  graphMaxRps: number;
  graphRetry: { retries: number; baseDelayMs: number; maxDelayMs: number; requestTimeoutMs: number };
  lookbackMinutes: number;
  initialDays?: number;
  timeBudgetSeconds: number;
  leaseSeconds: number;
  checkpointSeconds: number;
  /** The collections this deployment syncs. */
  catalog: Catalog;
  collections: Record<string, CollectionSettings>;
  sweepHours: number;
  sweepLookbackHours: number;
  unlicensedRetryHours: number;
  stateTable: string;
  runsTable: string;
  quarantineTable: string;
  staleAfterRuns: number;
  httpAuthLevel: 'function' | 'admin';
  healthAuthLevel: 'function' | 'anonymous';
  timerSchedule: string;
  /** The https origin the API's next links start with; undefined: they are relative (`/api/...`). */
  apiPublicBaseUrl?: string;
  /** The Storage queue of run requests (POST /api/runs), and the queue service (Azure; locally the connection string's). */
  runsQueue: string;
  queueEndpoint?: string;
}

export interface SettingProblem {
  setting: string;
  message: string;
}

/** Thrown at start-up when a setting is missing or malformed; lists every problem, each naming its setting. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
  constructor(readonly problems: SettingProblem[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  - ${p.setting}: ${p.message}`).join('\n')}\n` +
        'Set these as app settings (Azure), in local.settings.json (local runs) or in the environment.',
    );
  }

  /**
   * The message for a local run: each problem says where its value came from (`originOf` answers "the environment",
   * a file's path, or undefined for a setting that is not set anywhere), and the last line where to fix them.
   */
  describe(originOf: (setting: string) => string | undefined, fixIn: string): string {
    const lines = this.problems.map((p) => {
      const origin = originOf(p.setting);
      return `  - ${p.setting}: ${p.message}${origin ? ` (set in ${origin})` : ''}`;
    });
    return `Invalid configuration:\n${lines.join('\n')}\nFix ${this.problems.length === 1 ? 'it' : 'them'} in ${fixIn}.`;
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9]{2,62}$/;

/** A value as error messages show it: cut short, and with what could be a secret blanked out. */
function describe(value: string): string {
  const shown = redactSecrets(value);
  return shown.length > 60 ? `'${shown.slice(0, 57)}...'` : `'${shown}'`;
}

/**
 * Blanks out what may be a secret in a setting's value: the userinfo and the query of a URL (a password, a SAS
 * signature) and the keys of a connection string.
 */
export function redactSecrets(value: string): string {
  return value
    .replace(/(\/\/)[^/?#@\s]*@/g, '$1<redacted>@')
    .replace(/(:\/\/[^\s?#]*)\?[^\s#]*/g, '$1?<redacted>')
    .replace(/((?:AccountKey|SharedAccessSignature|SharedAccessKey|sig)\s*=)[^;&\s]*/gi, '$1<redacted>');
}

/** 127.0.0.0/8, ::1 and localhost: where an emulator (Azurite) listens, the only hosts plain http is accepted for. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The table service URL a connection string points at (its TableEndpoint, or the one it implies). */
export function tableEndpointOf(connectionString: string): URL | undefined {
  const parts = new Map<string, string>();
  for (const pair of connectionString.split(';')) {
    const at = pair.indexOf('=');
    if (at > 0) parts.set(pair.slice(0, at).trim().toLowerCase(), pair.slice(at + 1).trim());
  }
  try {
    if (parts.get('tableendpoint')) return new URL(parts.get('tableendpoint')!);
    // The storage emulator on this machine (its account path does not matter here).
    if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') return new URL('http://127.0.0.1:10002');
    const account = parts.get('accountname');
    if (!account) return undefined;
    const protocol = parts.get('defaultendpointsprotocol') ?? 'https';
    return new URL(`${protocol}://${account}.table.${parts.get('endpointsuffix') ?? 'core.windows.net'}`);
  } catch {
    return undefined;
  }
}

/**
 * A setting's parser: the value it stands for, or what is wrong with it. (Plain functions rather than a schema
 * library: every rule here is custom, and the settings are read at every cold start, where a library's load time counts.)
 */
type Parser<T> = (raw: string) => T | Invalid;

class Invalid {
  constructor(readonly message: string) {}
}

const invalid = (message: string) => new Invalid(message);

/** A parser that accepts the value as it is when `test` holds. */
const accept =
  <T extends string = string>(test: (v: string) => boolean, message: string): Parser<T> =>
  (v) =>
    test(v) ? (v as T) : invalid(message);

const number =
  (opts: { int?: boolean; min: number; max: number; unit?: string }): Parser<number> =>
  (raw) => {
    const value = Number(raw.trim());
    const shape = opts.int ? 'a whole number' : 'a number';
    if (raw.trim() === '' || !Number.isFinite(value) || (opts.int && !Number.isInteger(value)) || value < opts.min || value > opts.max) {
      return invalid(`must be ${shape} from ${opts.min} to ${opts.max}${opts.unit ? ` (${opts.unit})` : ''}, got ${describe(raw)}`);
    }
    return value;
  };

const httpsOrigin: Parser<string> = (raw) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return invalid(`must be an absolute https URL, got ${describe(raw)}`);
  }
  if (url.protocol !== 'https:') return invalid(`must use https (the bearer token is only sent over https), got ${describe(raw)}`);
  if (url.username || url.password) return invalid(`must not carry a user name or password (the part before @), got ${describe(raw)}`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    return invalid(`must be an origin such as https://graph.example.net, without path or query, got ${describe(raw)}`);
  }
  return url.origin;
};

/** The API's public origin (API_PUBLIC_BASE_URL): https, no path, query or user name; what callers reach the app on. */
const publicOrigin: Parser<string> = (raw) => {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  const problem = (why: string) =>
    invalid(`must be the https origin callers reach the API on, such as https://func-x.azurewebsites.net (${why}), got ${describe(raw)}`);
  if (!url) return problem('not an absolute URL');
  if (url.protocol !== 'https:') return problem('https only: the links carry continuation tokens');
  if (url.username || url.password) return problem('no user name or password');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return problem('no path, query or fragment: the links add /api/...');
  return url.origin;
};

/** The URL of a storage service (table, queue): https, or http to an emulator on loopback; no credentials in it. */
const serviceUrl =
  (service: 'table' | 'queue'): Parser<string> =>
  (raw) => {
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || !url.hostname) {
      return invalid(`must be the ${service} service URL, e.g. https://<account>.${service}.core.windows.net, got ${describe(raw)}`);
    }
    if (url.username || url.password || url.search || url.hash) {
      return invalid(
        `must be the plain service URL, without a user name, password, query or SAS token (the app signs in with its Entra credential), got ${describe(raw)}`,
      );
    }
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      return invalid(`must use https (plain http is only accepted for an emulator on loopback), got ${describe(raw)}`);
    }
    return url.href.replace(/\/+$/, '');
  };

const ncrontab: Parser<{ schedule: string; scheduleIntervalMs: number }> = (raw) => {
  const expression = raw.trim();
  const fields = expression.split(/\s+/);
  if (fields.length !== 6) {
    return invalid(
      `must be an NCRONTAB expression with 6 fields (second minute hour day month day-of-week), e.g. '0 */10 * * * *', got ${describe(raw)}`,
    );
  }
  try {
    const cron = new Cron(expression, { paused: true, utcOffset: 0 });
    const runs = cron.nextRuns(6);
    if (runs.length < 2) throw new Error('it never fires twice');
    let interval = Infinity;
    for (let i = 1; i < runs.length; i++) interval = Math.min(interval, runs[i]!.getTime() - runs[i - 1]!.getTime());
    return { schedule: expression, scheduleIntervalMs: interval };
  } catch (error) {
    return invalid(`is not a valid NCRONTAB expression (${(error as Error).message}), got ${describe(raw)}`);
  }
};

const tableName: Parser<string> = (v) => {
  if (!TABLE_NAME.test(v)) return invalid('must be a table name: 3 to 63 letters and digits, starting with a letter');
  if (v.toLowerCase() === 'tables') return invalid("must not be 'Tables', a name Table Storage reserves");
  return v;
};

/** Reads, validates and defaults the settings. Throws ConfigurationError naming every bad setting. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env, catalog: Catalog = DEFAULT_CATALOG): Settings {
  const settings = settingsFor(catalog);
  const problems: SettingProblem[] = [];
  const raw = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const read = <T>(name: string, parse: Parser<T>): T | undefined => {
    const info = settings.find((s) => s.name === name);
    const value = raw(name) ?? info?.default;
    if (value === undefined) {
      if (info?.required) problems.push({ setting: name, message: `is required. ${info.description}` });
      return undefined;
    }
    const result = parse(value);
    if (result instanceof Invalid) {
      problems.push({ setting: name, message: result.message });
      return undefined;
    }
    return result;
  };

  const tenantId = read(
    'AZURE_TENANT_ID',
    accept((v) => GUID.test(v) || DOMAIN.test(v), 'must be the tenant id (a GUID) or its domain name (contoso.onmicrosoft.com)'),
  );
  const clientId = read(
    'AZURE_CLIENT_ID',
    accept((v) => GUID.test(v), 'must be a client id (a GUID)'),
  );
  const clientSecret = raw('AZURE_CLIENT_SECRET');
  const clientCertificatePath = raw('AZURE_CLIENT_CERTIFICATE_PATH');
  if (clientSecret && !raw('AZURE_CLIENT_ID')) {
    problems.push({ setting: 'AZURE_CLIENT_ID', message: 'is required when AZURE_CLIENT_SECRET is set' });
  }
  if (clientCertificatePath && !raw('AZURE_CLIENT_ID')) {
    problems.push({ setting: 'AZURE_CLIENT_ID', message: 'is required when AZURE_CLIENT_CERTIFICATE_PATH is set' });
  }
  const tokenCredentials = read(
    'AZURE_TOKEN_CREDENTIALS',
    (v) =>
      TOKEN_CREDENTIALS.find((c) => c.toLowerCase() === v.toLowerCase()) ??
      invalid(`must be one of ${TOKEN_CREDENTIALS.join(', ')}, got ${describe(v)}`),
  );
  if (tokenCredentials === 'EnvironmentCredential' && !(clientSecret || clientCertificatePath)) {
    problems.push({
      setting: 'AZURE_TOKEN_CREDENTIALS',
      message: 'is EnvironmentCredential, which needs AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH',
    });
  }
  const cloudName = read(
    'GRAPH_CLOUD',
    accept<GraphCloudName>((v) => (GRAPH_CLOUD_NAMES as string[]).includes(v), `must be one of ${GRAPH_CLOUD_NAMES.join(', ')}`),
  );
  const graphEndpoint = read('GRAPH_ENDPOINT', httpsOrigin);
  const authorityHost = read('AZURE_AUTHORITY_HOST', httpsOrigin);

  const connectionString = raw('TABLES_CONNECTION_STRING');
  const endpoint = read('TABLES_ENDPOINT', serviceUrl('table'));
  let tables: Settings['tables'] | undefined;
  if (connectionString && raw('TABLES_ENDPOINT')) {
    problems.push({ setting: 'TABLES_CONNECTION_STRING', message: 'and TABLES_ENDPOINT are both set: set only one' });
  } else if (connectionString) {
    const url = tableEndpointOf(connectionString);
    if (!/(^|;)\s*(AccountName|TableEndpoint|UseDevelopmentStorage)\s*=/i.test(connectionString) || !url) {
      problems.push({
        setting: 'TABLES_CONNECTION_STRING',
        message: 'is not a storage connection string (expected AccountName=...;AccountKey=...;TableEndpoint=... or UseDevelopmentStorage=true)',
      });
    } else if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      problems.push({
        setting: 'TABLES_CONNECTION_STRING',
        message: `would send the account key over plain http to ${url.hostname}: use https (http is only accepted for an emulator on loopback, such as Azurite)`,
      });
    } else tables = { connectionString, allowInsecureConnection: url.protocol === 'http:' };
  } else if (endpoint) {
    tables = { endpoint, allowInsecureConnection: new URL(endpoint).protocol === 'http:' };
  } else if (!raw('TABLES_ENDPOINT')) {
    problems.push({
      setting: 'TABLES_ENDPOINT',
      message: 'or TABLES_CONNECTION_STRING is required: the account URL (Azure, used with the managed identity) or a connection string (Azurite)',
    });
  }

  const graphMaxRps = read('GRAPH_MAX_RPS', number({ min: 0.01, max: 100, unit: 'requests per second' }));
  const retries = read('GRAPH_MAX_RETRIES', number({ int: true, min: 0, max: 50, unit: 'retries' }));
  const baseDelayMs = read('GRAPH_RETRY_BASE_MS', number({ int: true, min: 1, max: 60_000, unit: 'milliseconds' }));
  const requestTimeoutSeconds = read('GRAPH_REQUEST_TIMEOUT_SECONDS', number({ min: 0.1, max: 600, unit: 'seconds' }));
  const lookbackMinutes = read('SYNC_LOOKBACK_MINUTES', number({ int: true, min: 0, max: 7 * 24 * 60, unit: 'minutes' }));
  const initialDays = read('SYNC_INITIAL_DAYS', number({ int: true, min: 1, max: 3650, unit: 'days' }));
  const timeBudgetSeconds = read('SYNC_TIME_BUDGET_SECONDS', number({ int: true, min: 10, max: 86_400, unit: 'seconds' }));
  const leaseSeconds = read('SYNC_LEASE_SECONDS', number({ int: true, min: 3, max: 3600, unit: 'seconds' }));
  const checkpointSeconds = read('SYNC_CHECKPOINT_SECONDS', number({ min: 0, max: 600, unit: 'seconds' }));
  const stateTable = read('TABLE_SYNC_STATE', tableName);
  const runsTable = read('TABLE_SYNC_RUNS', tableName);
  const quarantineTable = read('TABLE_QUARANTINE', tableName);
  const staleAfterRuns = read('SNAPSHOT_STALE_AFTER_RUNS', number({ min: 1, max: 1000, unit: 'schedule intervals' }));
  const httpAuthLevel = read('HTTP_AUTH_LEVEL', (v): 'function' | 'admin' | Invalid => {
    if (v === 'function' || v === 'admin') return v;
    return invalid(
      v === 'anonymous'
        ? 'must be function or admin: the data routes always need a key (to let an uptime monitor call /api/health without one, set HTTP_HEALTH_AUTH_LEVEL=anonymous)'
        : `must be function or admin, got ${describe(v)}`,
    );
  });
  const healthAuthLevel = read(
    'HTTP_HEALTH_AUTH_LEVEL',
    accept<'function' | 'anonymous'>(
      (v) => v === 'function' || v === 'anonymous',
      'must be function (the key, like the data routes) or anonymous (for an uptime monitor)',
    ),
  );
  const timerSchedule = read('SYNC_TIMER_SCHEDULE', ncrontab);
  // Never the Host header of a request: a next link built from it would point wherever a caller (or a proxy) says.
  const apiPublicBaseUrl = read('API_PUBLIC_BASE_URL', publicOrigin);
  const runsQueue = read(
    'RUNS_QUEUE',
    accept(
      (v) => /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/.test(v),
      'must be a queue name: 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit',
    ),
  );
  const queueEndpoint = read('QUEUE_ENDPOINT', serviceUrl('queue'));

  const sweepHours = read('SYNC_SWEEP_HOURS', number({ min: 0, max: 24 * 365, unit: 'hours' }));
  const sweepLookbackHours = read('SYNC_SWEEP_LOOKBACK_HOURS', number({ min: 1, max: 24 * 90, unit: 'hours' }));
  const unlicensedRetryHours = read('SYNC_UNLICENSED_RETRY_HOURS', number({ min: 0, max: 24 * 365, unit: 'hours' }));

  const collections: Record<string, CollectionSettings> = {};
  const tableNames = new Map<string, string>();
  for (const c of catalog.collections) {
    const schedule = c.defaultSchedule ? read(`SYNC_SCHEDULE_${c.settingSuffix}`, ncrontab) : undefined;
    const table = read(`TABLE_${c.settingSuffix}`, tableName);
    const changesTable = c.defaultChangesTable ? read(`TABLE_${c.settingSuffix}_CHANGES`, tableName) : undefined;
    if (table && (schedule || !c.defaultSchedule))
      collections[c.name] = { ...(schedule ?? { scheduleIntervalMs: 0 }), table, ...(changesTable && { changesTable }) };
    if (table) tableNames.set(`TABLE_${c.settingSuffix}`, table);
    if (changesTable) tableNames.set(`TABLE_${c.settingSuffix}_CHANGES`, changesTable);
  }
  // A child collection runs with its parent: it is stale on the parent's schedule.
  for (const c of catalog.collections) {
    const parent = c.parent && collections[c.parent.collection];
    if (parent && collections[c.name]) collections[c.name]!.scheduleIntervalMs = parent.scheduleIntervalMs;
  }
  if (stateTable) tableNames.set('TABLE_SYNC_STATE', stateTable);
  if (runsTable) tableNames.set('TABLE_SYNC_RUNS', runsTable);
  if (quarantineTable) tableNames.set('TABLE_QUARANTINE', quarantineTable);
  const seen = new Map<string, string>();
  for (const [setting, table] of tableNames) {
    const other = seen.get(table.toLowerCase());
    if (other) problems.push({ setting, message: `names the table '${table}', which ${other} uses already: each table needs its own name` });
    seen.set(table.toLowerCase(), setting);
  }

  if (problems.length > 0) throw new ConfigurationError(problems);
  const cloud = GRAPH_CLOUDS[cloudName!];
  return {
    tenantId: tenantId!,
    clientId,
    clientSecret,
    clientCertificatePath,
    tokenCredentials,
    cloudName: cloudName!,
    cloud,
    authorityHost: authorityHost ?? cloud.authorityHost,
    graphRoot: graphEndpoint ?? cloud.graphRoot,
    tables: tables!,
    graphMaxRps: graphMaxRps!,
    graphRetry: {
      retries: retries!,
      baseDelayMs: baseDelayMs!,
      maxDelayMs: Math.max(60_000, baseDelayMs!),
      requestTimeoutMs: requestTimeoutSeconds! * 1000,
    },
    lookbackMinutes: lookbackMinutes!,
    initialDays,
    timeBudgetSeconds: timeBudgetSeconds!,
    leaseSeconds: leaseSeconds!,
    checkpointSeconds: checkpointSeconds!,
    catalog,
    collections,
    sweepHours: sweepHours!,
    sweepLookbackHours: sweepLookbackHours!,
    unlicensedRetryHours: unlicensedRetryHours!,
    stateTable: stateTable!,
    runsTable: runsTable!,
    quarantineTable: quarantineTable!,
    staleAfterRuns: staleAfterRuns!,
    httpAuthLevel: httpAuthLevel!,
    healthAuthLevel: healthAuthLevel!,
    timerSchedule: timerSchedule!.schedule,
    apiPublicBaseUrl,
    runsQueue: runsQueue!,
    queueEndpoint,
  };
}
