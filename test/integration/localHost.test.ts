import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { latestRuns } from '../../src/store/syncRuns';
import { generateRiskDetections, generateRiskyUsers } from '../../tools/emulator';
import { startHarness, type Harness } from '../support/harness';

/**
 * The local commands as a user runs them: a port in use stops them at once, naming it; the host prints one readable
 * line per run and per retry (no JSON); Ctrl+C stops a run that is being retried, checkpointed, and the host exits.
 */
interface Watched {
  child: ChildProcess;
  stderr: () => string;
  /** Resolves once a stderr line matches. */
  line: (pattern: RegExp, timeoutMs?: number) => Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function watch(child: ChildProcess): Watched {
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const line = stderr.split('\n').find((l) => w.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    check();
  });
  child.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stderr: () => stderr,
    exit,
    line: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line ${pattern} within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        check();
      }),
  };
}

const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms).unref())]);

describe('local commands over the wire', () => {
  let h: Harness;
  let blocker: net.Server;
  let busyPort: number;
  const dirs: string[] = [];
  const now = Date.now();
  const users = generateRiskyUsers(30, { seed: 9, from: new Date(now - 3 * 86_400_000), to: new Date(now - 3_600_000) });

  beforeAll(async () => {
    h = await startHarness();
    h.emulator.upsert('riskyUsers', users);
    h.emulator.upsert(
      'riskDetections',
      generateRiskDetections(200, { seed: 9, users, from: new Date(now - 3 * 86_400_000), to: new Date(now - 3_600_000) }),
    );
    blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    busyPort = (blocker.address() as net.AddressInfo).port;
  });
  afterEach(() => h.emulator.faults.clear());
  afterAll(async () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await new Promise((resolve) => blocker?.close(resolve));
    await h?.close();
  });

  /** Every collection is due whenever the one timer fires (--sync-now fires it at start). */
  const due = { SYNC_SCHEDULE_RISK_DETECTIONS: '* * * * * *', SYNC_SCHEDULE_RISKY_USERS: '* * * * * *' };

  const portInUse = new RegExp(`^error: port ${'\\d+'} on 127\\.0\\.0\\.1 is already in use.*--port <n>$`, 'm');

  describe('a port in use ends the command at once, naming the port and --port', () => {
    it.each([
      ['serve', ['serve', '--port']],
      ['start (real settings)', ['start', '--port']],
      ['emulator', ['emulator', '--detections', '10', '--users', '5', '--port']],
    ])('%s', async (_name, args) => {
      const result = await h.cli([...args, String(busyPort)]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(portInUse);
      expect(result.stderr).toContain(`port ${busyPort} `);
      expect(result.stderr).not.toMatch(/local Functions host on|EADDRINUSE|\n\s+at /);
    });

    it('start (the demo): stops what it started, prints no banner and exits non-zero', async () => {
      const cwd = mkdtempSync(path.join(tmpdir(), 'risk-sync-demo-'));
      dirs.push(cwd);
      const result = await h.cli(['start', '--port', String(busyPort)], {}, { cwd, env: 'bare' });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`error: port ${busyPort} on 127.0.0.1 is already in use`);
      expect(result.stderr).toMatch(/the demo stops: its local Functions host could not start/);
      expect(result.stderr).not.toContain('entra-risk-sync demo:');
      expect(existsSync(path.join(cwd, '.local', 'demo', 'settings.json'))).toBe(false);
    }, 120_000);
  });

  it('serve --timers --sync-now prints one readable line per run, and exits on Ctrl+C', async () => {
    h.emulator.faults.add({ kind: 'status', status: 503, count: 1, collection: 'riskyUsers' });
    const host = watch(h.spawnCli(['serve', '--timers', '--sync-now', '--port', '0'], due));
    await host.line(/^local Functions host on http:\/\/127\.0\.0\.1:\d+$/);
    const detections = await host.line(/^riskDetections: /);
    const riskyUsers = await host.line(/^riskyUsers: (succeeded|failed|partial)/);
    // (new / updated / unchanged are the engine's business, tested there: only the line's shape here)
    expect(detections).toMatch(
      /^riskDetections: succeeded in \d+\.\d s, 200 read in 1 page \(\d+ new, \d+ updated, \d+ unchanged\), 0 retries, 0 throttled$/,
    );
    expect(riskyUsers).toMatch(
      /^riskyUsers: succeeded in \d+\.\d s, 30 read in 1 page \(\d+ new, \d+ updated, \d+ unchanged\), 1 retry, 0 throttled$/,
    );
    expect(host.stderr()).toMatch(/^riskyUsers: Graph answered 503 ServiceUnavailable, retry 1 in \d+ ms$/m);
    expect(host.stderr()).not.toMatch(/sync-run \{|^\s*\{/m); // no structured run line (the queue 'sync-run-requests' is named)
    host.child.kill('SIGINT');
    expect(await within(host.exit, 30_000, 'the exit after Ctrl+C')).toEqual({ code: 0, signal: null });
  });

  it('Ctrl+C stops syncs that are being retried within seconds: they checkpoint, their runs are not left running', async () => {
    h.emulator.faults.add({ kind: 'status', status: 503 });
    const host = watch(
      h.spawnCli(['serve', '--timers', '--sync-now', '--port', '0'], { ...due, GRAPH_MAX_RETRIES: '50', GRAPH_RETRY_BASE_MS: '2000' }),
    );
    await host.line(/^riskDetections: Graph answered 503 ServiceUnavailable, retry 2 in /);
    await host.line(/^riskyUsers: Graph answered 503 ServiceUnavailable, retry 2 in /);
    host.child.kill('SIGINT');
    // Generous: the next retry is 8 s away; the runs stop long before it.
    expect(await within(host.exit, 30_000, 'the exit after Ctrl+C')).toEqual({ code: 0, signal: null });
    // Stopped while a request was being retried: the engine records the run as partial or failed (its checkpoint
    // stands either way), never as still running.
    expect(host.stderr()).toMatch(
      /^(error: )?riskDetections: (partial|failed) (in|after) \d+\.\d s, 0 read in 0 pages .*, [23] retries, 0 throttled - (note|error): stopped on request/m,
    );
    expect(host.stderr()).toMatch(/^(error: )?riskyUsers: (partial|failed) /m);
    for (const collection of ['riskDetections', 'riskyUsers']) {
      const [run] = await latestRuns(h.table('SyncRuns'), h.emulator.tenantId, collection);
      expect({ collection, outcome: run?.outcome }).toEqual({ collection, outcome: expect.stringMatching(/^(partial|failed)$/) });
    }
  });
});
