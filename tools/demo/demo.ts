import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEMO_SETTINGS_FILE } from '../../src/config/localSettings';
import {
  ensureEmulatorCertificate,
  generateRiskDetections,
  generateRiskyUsers,
  seedRiskyUsers,
  startActivity,
  startGraphEmulator,
  type ActivityOptions,
  type GraphEmulator,
  type GraphEmulatorSettings,
} from '../emulator';
import { startAzurite, type Azurite } from '../azurite/azurite';
import type { ListeningMessage } from '../host/localHost';

/**
 * `npm start` without real settings: Azurite and the Graph emulator on loopback, seeded with a realistic tenant that
 * keeps changing (new detections, some surfacing late, offline ones up to 48 h late, remediations, dismissals, each
 * change in the users' risk history), and the local Functions host as a child process (as in Azure, the sync runs in
 * its own process) with its timers on fast schedules and the HTTP API.
 */
const DEMO_SCHEDULES = {
  SYNC_TIMER_SCHEDULE: '*/5 * * * * *',
  SYNC_SCHEDULE_RISK_DETECTIONS: '*/30 * * * * *',
  SYNC_SCHEDULE_RISKY_USERS: '15 * * * * *',
};

/**
 * The demo's tenant: like a real one, some offline detections surface hours late (an hour of lateness is a second
 * of waiting here) and some are re-scored late. The phantom last next link is opt-in (`--phantom-next-link`).
 */
const DEMO_ACTIVITY: ActivityOptions = { intervalMs: 10_000, lateOfflineProbability: 0.15, rescoreProbability: 0.05 };

async function seededEmulator(
  options: { port?: number; detections: number; users: number; seed: number; throttling: boolean } & Partial<GraphEmulatorSettings>,
) {
  const { port, detections: detectionCount, users: userCount, seed, throttling, ...settings } = options;
  const emulator = await startGraphEmulator({ ...settings, port, throttling, seed });
  const now = Date.now();
  const from = new Date(now - 90 * 86_400_000);
  const users = generateRiskyUsers(userCount, { seed, from, to: new Date(now - 60_000) });
  const detections = generateRiskDetections(detectionCount, { seed, users, from, to: new Date(now - 60_000) });
  seedRiskyUsers(emulator, users, { seed, detections });
  emulator.upsert('riskDetections', detections);
  return emulator;
}

function emulatorSettings(emulator: GraphEmulator, certPath: string): Record<string, string> {
  return {
    AZURE_TENANT_ID: emulator.tenantId,
    GRAPH_ENDPOINT: emulator.graphUrl,
    IDENTITY_ENDPOINT: emulator.identityEndpoint,
    IDENTITY_HEADER: emulator.identityHeader,
    NODE_EXTRA_CA_CERTS: certPath,
  };
}

/**
 * Resolves with the exit code: 0 after Ctrl+C, non-zero when the local host could not start (a port in use): then
 * everything the demo started is stopped again. The banner is printed only once the API listens.
 */
export async function runDemo(options: { port: number; phantomNextLink?: boolean }): Promise<number> {
  const { certPath } = await ensureEmulatorCertificate();
  let azurite: Azurite | undefined;
  let emulator: GraphEmulator | undefined;
  let activity: { stop(): void } | undefined;
  const settingsFile = path.resolve(DEMO_SETTINGS_FILE);
  try {
    azurite = await startAzurite({ port: 10002, queue: true }).catch(() => startAzurite({ queue: true })); // the queue: POST /api/runs
    emulator = await seededEmulator({ detections: 5000, users: 400, seed: 1, throttling: true, phantomNextLink: options.phantomNextLink === true });
    activity = startActivity(emulator, { ...DEMO_ACTIVITY, seed: 1 });
    const values = {
      ...emulatorSettings(emulator, certPath),
      TABLES_CONNECTION_STRING: azurite.connectionString,
      ...DEMO_SCHEDULES,
      DEMO_PID: String(process.pid),
    };
    mkdirSync(path.dirname(settingsFile), { recursive: true });
    writeFileSync(settingsFile, JSON.stringify({ IsEncrypted: false, Values: values }, null, 2), { mode: 0o600 });

    // The host is a child (as in Azure, the sync runs in its own process), in its own process group so that a Ctrl+C
    // reaches it once, through stop() below; it tells us over IPC when its API listens.
    const host = spawn(
      process.execPath,
      [path.join(__dirname, '..', '..', '..', 'bin', 'risk-sync.js'), 'serve', '--port', String(options.port), '--timers', '--sync-now'],
      { env: { ...process.env, ...values }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true },
    );
    const exited = new Promise<number>((resolve) => host.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
    const listening = new Promise<string>((resolve) =>
      host.on('message', (m: Partial<ListeningMessage>) => m.type === 'listening' && typeof m.url === 'string' && resolve(m.url)),
    );
    const stop = () => host.kill('SIGINT');
    process.on('SIGINT', stop).on('SIGTERM', stop);
    try {
      const first = await Promise.race([listening, exited.then((code) => ({ code }))]);
      if (typeof first !== 'string') {
        process.stderr.write(`the demo stops: its local Functions host could not start (exit code ${first.code}, see above)\n`);
        return first.code || 1;
      }
      process.stderr.write(banner(emulator, azurite, options));
      const code = await exited;
      return code;
    } finally {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      if (host.exitCode === null && host.signalCode === null) host.kill('SIGKILL');
    }
  } finally {
    activity?.stop();
    rmSync(settingsFile, { force: true });
    await emulator?.close();
    await azurite?.stop();
  }
}

function banner(emulator: GraphEmulator, azurite: Azurite, options: { port: number; phantomNextLink?: boolean }): string {
  return [
    '',
    'entra-risk-sync demo: nothing here talks to Azure or Microsoft Graph.',
    `  Graph emulator   ${emulator.graphUrl} (1 request/s per tenant, 429 without Retry-After, data changing every 10 s,`,
    `                   offline detections up to 48 h late${options.phantomNextLink ? ', the phantom last next link' : ''})`,
    `  Azurite          ${azurite.connectionString.replace(/AccountKey=[^;]+/, 'AccountKey=<Azurite dev key>')}`,
    `  HTTP API         http://localhost:${options.port}/api/snapshot  /api/snapshot/riskDetections  /api/health`,
    `  timers           riskDetections '${DEMO_SCHEDULES.SYNC_SCHEDULE_RISK_DETECTIONS}', riskyUsers '${DEMO_SCHEDULES.SYNC_SCHEDULE_RISKY_USERS}'`,
    '  From a second shell: npx risk-sync status   (watermarks move as the timers run)',
    '  Ctrl+C stops everything.',
    '',
  ].join('\n');
}

/** The options of `risk-sync emulator` (tools/cli.ts). */
export interface StandaloneEmulatorOptions {
  port: number;
  detections: number;
  users: number;
  seed: number;
  throttling: boolean;
  activity?: boolean;
  licence: 'P2' | 'P1' | 'none';
  unlicensedCode: 'Authentication_RequestFromNonPremiumTenantOrB2CTenant' | 'NoLicense';
  permissions?: string[];
  phantomNextLink?: boolean;
  historyOnlyCurrent?: boolean;
  lateOffline?: number;
  rescore?: number;
}

export async function runStandaloneEmulator(options: StandaloneEmulatorOptions) {
  const { certPath } = await ensureEmulatorCertificate();
  let emulator: GraphEmulator;
  try {
    emulator = await seededEmulator({
      port: options.port || undefined,
      detections: options.detections,
      users: options.users,
      seed: options.seed,
      throttling: options.throttling,
      licence: options.licence,
      unlicensedCode: options.unlicensedCode,
      ...(options.permissions && { permissions: options.permissions }),
      phantomNextLink: options.phantomNextLink === true,
      historyOnlyCurrent: options.historyOnlyCurrent === true,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    process.stderr.write(
      `error: port ${options.port} on 127.0.0.1 is already in use: stop what listens there, or pick another port with --port <n>\n`,
    );
    process.exitCode = 1;
    return;
  }
  const late = options.lateOffline !== undefined || options.rescore !== undefined;
  const activityOptions: ActivityOptions = {
    seed: options.seed,
    intervalMs: 10_000,
    lateOfflineProbability: options.lateOffline ?? 0,
    rescoreProbability: options.rescore ?? 0,
  };
  const activity = options.activity || late ? startActivity(emulator, activityOptions) : undefined;
  const activityLine = activity
    ? `Activity every ${activityOptions.intervalMs} ms: late offline detections ${activityOptions.lateOfflineProbability}, ` +
      `late re-scoring ${activityOptions.rescoreProbability} per round.\n`
    : '';
  const switches = Object.entries(emulator.settings)
    .filter(([name]) => ['licence', 'permissions', 'phantomNextLink', 'historyOnlyCurrent'].includes(name))
    .map(([name, value]) => `${name}=${Array.isArray(value) ? value.join(',') || '(none)' : String(value)}`)
    .join(' ');
  process.stdout.write(
    `Graph emulator on ${emulator.graphUrl} with ${options.detections} risk detections and ${options.users} risky users` +
      `${options.throttling ? ' (1 request/s)' : ''}; ${switches}.\nPoint the sync at it with:\n\n` +
      Object.entries(emulatorSettings(emulator, certPath))
        .map(([k, v]) => `export ${k}='${v}'`)
        .join('\n') +
      `\nexport TABLES_CONNECTION_STRING='<an Azurite connection string>'\n\n` +
      activityLine +
      `Switches: POST ${emulator.graphUrl}/_emulator/{settings|throttling|faults|revoke|expire-skiptokens|late-offline} (see tools/emulator/README.md). Ctrl+C stops it.\n`,
  );
  await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
  activity?.stop();
  await emulator.close();
}
