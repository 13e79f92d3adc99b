/** `risk-sync emulator` with the switches as flags, driven over HTTPS from this (another) process. */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { json } from './helpers.js';

const BIN = path.join(__dirname, '..', '..', 'bin', 'risk-sync.js');

interface Running {
  child: ChildProcess;
  graphUrl: string;
  stdout: string;
}

function startEmulator(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [BIN, 'emulator', '--no-throttling', '--detections', '60', '--users', '12', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /Graph emulator on (https:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
      if (url && stdout.includes('Ctrl+C')) resolve({ child, graphUrl: url, stdout });
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`risk-sync emulator exited with ${code}: ${stderr}`)));
  });
}

function stop(running: Running): Promise<void> {
  return new Promise((resolve) => {
    running.child.removeAllListeners('exit');
    running.child.once('exit', () => resolve());
    running.child.kill('SIGINT');
  });
}

async function get(graphUrl: string, pathOrUrl: string): Promise<{ status: number; body: any }> {
  const { access_token } = await json(fetch(`${graphUrl}/_emulator/token`, { method: 'POST' }));
  const response = await fetch(pathOrUrl.startsWith('https:') ? pathOrUrl : `${graphUrl}${pathOrUrl}`, {
    headers: { authorization: `Bearer ${access_token}` },
  });
  return { status: response.status, body: await response.json() };
}

describe('risk-sync emulator', () => {
  it('takes the licence, permissions, phantom next link and history switches as flags', async () => {
    const running = await startEmulator(['--licence', 'P1', '--unlicensed-code', 'NoLicense', '--phantom-next-link', '--history-only-current']);
    try {
      expect(running.stdout).toMatch(/licence=P1 .*phantomNextLink=true historyOnlyCurrent=true/);
      const { graphUrl } = running;
      const users = await get(graphUrl, '/v1.0/identityProtection/riskyUsers');
      expect(users.status).toBe(403);
      expect(users.body.error).toMatchObject({ code: 'NoLicense', message: 'Tenant does not meet license requirement!' });
      const first = await get(graphUrl, '/v1.0/identityProtection/riskDetections?$top=30');
      const second = await get(graphUrl, first.body['@odata.nextLink']);
      expect(second.body.value).toHaveLength(30);
      const phantom = await get(graphUrl, second.body['@odata.nextLink']);
      expect(phantom.status).toBe(400);
      expect(phantom.body.error.message).toBe('');
      const detections = [...first.body.value, ...second.body.value] as { riskEventType: string; riskLevel: string }[];
      expect(detections.some((d) => d.riskEventType === 'generic' && d.riskLevel === 'hidden')).toBe(true);
      expect(await json(fetch(`${graphUrl}/_emulator/settings`))).toMatchObject({ licence: 'P1', historyOnlyCurrent: true });
    } finally {
      await stop(running);
    }
  });

  it('grants the permissions it is given, none with an empty list, and refuses a bad licence', async () => {
    const running = await startEmulator(['--permissions', '']);
    try {
      const detections = await get(running.graphUrl, '/v1.0/identityProtection/riskDetections');
      expect(detections.status).toBe(403);
      expect(detections.body.error.code).toBe('Authorization_RequestDenied');
      const ids = (await json(fetch(`${running.graphUrl}/_emulator/data/riskyUsers`))).map((u: { id: string }) => u.id);
      const history = await json(fetch(`${running.graphUrl}/_emulator/history/${ids[0]}`));
      expect(history.length).toBeGreaterThan(0); // seeded with their histories
    } finally {
      await stop(running);
    }
    await expect(startEmulator(['--licence', 'E5'])).rejects.toThrow(/--licence.*E5.*choices/s);
  });

  it('starts the activity with late offline detections and late re-scoring, and refuses a probability over 1', async () => {
    const running = await startEmulator(['--late-offline', '0.5', '--rescore', '0.25']);
    try {
      expect(running.stdout).toContain('Activity every 10000 ms: late offline detections 0.5, late re-scoring 0.25 per round.');
    } finally {
      await stop(running);
    }
    await expect(startEmulator(['--late-offline', '2'])).rejects.toThrow(/expected a probability from 0 to 1/);
  });
});
