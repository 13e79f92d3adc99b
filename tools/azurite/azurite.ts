import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Azurite's well-known development account (public, documented; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  /** The table service's port. */
  port: number;
  /** The queue service's port, when it was asked for (`startAzurite({ queue: true })`). */
  queuePort?: number;
  /** The account's connection string: TableEndpoint, and QueueEndpoint with the queue service. */
  connectionString: string;
  /** Stops the process (SIGTERM, then SIGKILL); data is gone with it (in-memory). */
  stop(): Promise<void>;
  process: ChildProcess;
}

export function azuriteConnectionString(port: number, queuePort?: number): string {
  const queue = queuePort === undefined ? '' : `QueueEndpoint=http://127.0.0.1:${queuePort}/${AZURITE_ACCOUNT};`;
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};TableEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT};${queue}`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface AzuriteOptions {
  /** The table service's port (default: a free one). */
  port?: number;
  /** Also run the queue service (the run requests of POST /api/runs), a second child process beside the tables'. */
  queue?: boolean | { port?: number };
}

/** Starts Azurite's table service (and with `queue`, its queue service) in memory on free loopback ports, telemetry off. */
export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const table = await launchOnFreePort('table', options.port);
  if (!options.queue) return { ...table, connectionString: azuriteConnectionString(table.port) };
  let queue: Service;
  try {
    queue = await launchOnFreePort('queue', typeof options.queue === 'object' ? options.queue.port : undefined);
  } catch (error) {
    await table.stop();
    throw error;
  }
  return {
    port: table.port,
    queuePort: queue.port,
    connectionString: azuriteConnectionString(table.port, queue.port),
    process: table.process,
    stop: async () => {
      await Promise.all([table.stop(), queue.stop()]);
    },
  };
}

type ServiceName = 'table' | 'queue';
type Service = Omit<Azurite, 'connectionString' | 'queuePort'>;

async function launchOnFreePort(service: ServiceName, fixedPort: number | undefined): Promise<Service> {
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    try {
      return await launch(service, port);
    } catch (error) {
      if (fixedPort !== undefined || attempt >= 5 || !String((error as Error).message).includes('EADDRINUSE')) throw error;
    }
  }
}

/**
 * An Azurite service (its own main module: azurite/dist/src/<service>/main.js) as a child that dies with its parent: when the parent goes away (even by SIGKILL), the
 * child's stdin closes and it exits, so no emulator is ever left behind.
 */
const CHILD = `
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
const main = require.resolve('azurite/dist/src/' + process.env.AZURITE_SERVICE + '/main.js', { paths: [process.env.AZURITE_RESOLVE_FROM] });
process.argv = [process.argv[0], main, ...process.argv.slice(1)];
require(main);
`;

async function launch(service: ServiceName, port: number): Promise<Service> {
  const workspace = mkdtempSync(path.join(tmpdir(), 'azurite-'));
  const child = spawn(
    process.execPath,
    [
      '-e',
      CHILD,
      '--',
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--loose',
      `--${service}Host`,
      '127.0.0.1',
      `--${service}Port`,
      String(port),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'], cwd: workspace, env: { ...process.env, AZURITE_RESOLVE_FROM: __dirname, AZURITE_SERVICE: service } },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Azurite's ${service} service did not start within 30 s: ${output}`)), 30_000);
    const onData = (data: Buffer) => {
      output += data.toString();
      if (/successfully (listening|listens|started)/i.test(output)) {
        clearTimeout(timer);
        resolve();
      } else if (/EADDRINUSE|error/i.test(output)) {
        clearTimeout(timer);
        reject(new Error(`Azurite's ${service} service failed to start on port ${port}: ${output.trim()}`));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with ${code}: ${output.trim()}`));
    });
  });
  child.stdout!.removeAllListeners('data').resume();
  child.stderr!.removeAllListeners('data').resume();
  child.removeAllListeners('exit');
  return {
    port,
    process: child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      child.stdin?.destroy();
      rmSync(workspace, { recursive: true, force: true });
    },
  };
}
