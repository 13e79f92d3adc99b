import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ensureEmulatorCertificate } from '../../tools/emulator/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'emulator-cert-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('ensureEmulatorCertificate', () => {
  it('generates a long-lived CA certificate for localhost, 127.0.0.1 and ::1, with a private key file', async () => {
    const pair = await ensureEmulatorCertificate(dir);
    expect(pair.certPath).toBe(path.join(dir, 'cert.pem'));
    const x509 = new X509Certificate(pair.cert);
    expect(x509.ca).toBe(true);
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkIP('::1')).toBeDefined();
    expect(Date.parse(x509.validTo) - Date.now()).toBeGreaterThan(5 * 365 * 24 * 3600 * 1000);
    expect((await stat(pair.keyPath)).mode & 0o777).toBe(0o600);
  });

  it('reuses the files, and replaces them when they are unusable', async () => {
    const first = await ensureEmulatorCertificate(dir);
    expect(await ensureEmulatorCertificate(dir)).toEqual(first);
    await writeFile(first.certPath, 'garbage');
    const replaced = await ensureEmulatorCertificate(dir);
    expect(replaced.cert).not.toBe(first.cert);
    expect(replaced.cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('is trusted as a CA for TLS to 127.0.0.1 and localhost', async () => {
    const { cert, key } = await ensureEmulatorCertificate(dir);
    const server = https.createServer({ cert, key }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (const host of ['127.0.0.1', 'localhost']) {
        const body = await new Promise<string>((resolve, reject) => {
          https
            .get({ host: '127.0.0.1', port, ca: cert, ...(host === 'localhost' && { servername: host }) }, (res) => {
              let text = '';
              res.on('data', (chunk: Buffer) => (text += chunk.toString()));
              res.on('end', () => resolve(text));
            })
            .on('error', reject);
        });
        expect(body).toBe('ok');
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
