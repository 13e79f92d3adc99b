import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { ensureEmulatorCertificate } from '../../tools/emulator/index.js';

const DAY_MS = 24 * 3600 * 1000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'emulator-cert-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function withServer<T>(cert: string, key: string, use: (port: number) => Promise<T>): Promise<T> {
  const server = https.createServer({ cert, key }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await use((server.address() as AddressInfo).port);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** A fresh Node process (NODE_EXTRA_CA_CERTS is read at start-up only) that fetches and https.gets each URL. */
function childFetch(urls: string[], extraCaCerts: string | undefined): Promise<string[]> {
  const script = `
    const https = require('node:https');
    const get = (url) => new Promise((resolve) => {
      https.get(url, (res) => { let t = ''; res.on('data', (c) => (t += c)); res.on('end', () => resolve(t)); })
        .on('error', (e) => resolve('error ' + e.code));
    });
    (async () => {
      const out = [];
      for (const url of JSON.parse(process.argv[1])) {
        out.push(await fetch(url).then((r) => r.text(), (e) => 'error ' + (e.cause && e.cause.code)));
        out.push(await get(url));
      }
      process.stdout.write(JSON.stringify(out));
    })();`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  if (extraCaCerts) env.NODE_EXTRA_CA_CERTS = extraCaCerts;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script, JSON.stringify(urls)], { env, timeout: 60_000 }, (error, stdout) =>
      error ? reject(error) : resolve(JSON.parse(stdout) as string[]),
    );
  });
}

describe('ensureEmulatorCertificate', () => {
  it('generates a short-lived leaf certificate for localhost, 127.0.0.1 and ::1 only, not a CA', async () => {
    const pair = await ensureEmulatorCertificate(dir);
    expect(pair.certPath).toBe(path.join(dir, 'cert.pem'));
    const x509 = new X509Certificate(pair.cert);
    expect(x509.ca).toBe(false);
    expect(x509.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkIP('::1')).toBeDefined();
    expect(x509.checkHost('example.com')).toBeUndefined();
    expect(x509.keyUsage).toEqual([SERVER_AUTH]); // extendedKeyUsage: serverAuth only
    const lifetime = Date.parse(x509.validTo) - Date.parse(x509.validFrom);
    expect(lifetime).toBeGreaterThanOrEqual(30 * DAY_MS);
    expect(lifetime).toBeLessThanOrEqual(90 * DAY_MS);
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

  it.each([
    ['the 10-year CA of earlier versions', { cA: true, days: 3650 }],
    ['a leaf about to expire', { cA: false, days: 10 }],
    ['a leaf valid for a year', { cA: false, days: 365 }],
  ])('replaces %s', async (_what, { cA, days }) => {
    const old = await generate([{ name: 'commonName', value: 'old' }], {
      keyType: 'rsa',
      keySize: 2048,
      algorithm: 'sha256',
      notBeforeDate: new Date(Date.now() - DAY_MS),
      notAfterDate: new Date(Date.now() + days * DAY_MS),
      extensions: [
        { name: 'basicConstraints', cA, critical: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
            { type: 7, ip: '::1' },
          ],
        },
      ],
    });
    const own = path.join(dir, `old-${days}`);
    await ensureEmulatorCertificate(own);
    await writeFile(path.join(own, 'key.pem'), old.private);
    await writeFile(path.join(own, 'cert.pem'), old.cert);
    const renewed = await ensureEmulatorCertificate(own);
    expect(renewed.cert).not.toBe(old.cert);
    expect(new X509Certificate(renewed.cert).ca).toBe(false);
  });

  it('gives processes that start at once the one pair written to disk', async () => {
    const fresh = path.join(dir, 'concurrent');
    const pairs = await Promise.all([1, 2, 3, 4].map(() => ensureEmulatorCertificate(fresh)));
    const onDisk = await readFile(path.join(fresh, 'cert.pem'), 'utf8');
    for (const pair of pairs) expect(pair.cert).toBe(onDisk);
    await expect(stat(path.join(fresh, 'generating.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('takes over at once a lock file whose process is gone', async () => {
    const fresh = path.join(dir, 'dead-holder');
    await mkdir(fresh, { recursive: true });
    // A pid that is not running: a child that has exited.
    const gone = await new Promise<number>((resolve) => {
      const child = execFile(process.execPath, ['-e', '0']);
      child.once('exit', () => resolve(child.pid!));
    });
    await writeFile(path.join(fresh, 'generating.lock'), String(gone));
    const pair = await ensureEmulatorCertificate(fresh);
    expect(pair.cert).toBe(await readFile(path.join(fresh, 'cert.pem'), 'utf8'));
  });

  it('takes over a lock file left by a process that died while generating', async () => {
    const fresh = path.join(dir, 'stale-lock');
    await mkdir(fresh, { recursive: true });
    const lockPath = path.join(fresh, 'generating.lock');
    await writeFile(lockPath, '');
    const longAgo = new Date(Date.now() - 60_000);
    await utimes(lockPath, longAgo, longAgo);
    const pair = await ensureEmulatorCertificate(fresh);
    expect(pair.cert).toBe(await readFile(path.join(fresh, 'cert.pem'), 'utf8'));
  });

  it('is trusted by a Node process through NODE_EXTRA_CA_CERTS, for 127.0.0.1 and localhost, by fetch and https', async () => {
    const { cert, key, certPath } = await ensureEmulatorCertificate(dir);
    await withServer(cert, key, async (port) => {
      const urls = [`https://127.0.0.1:${port}/`, `https://localhost:${port}/`];
      expect(await childFetch(urls, certPath)).toEqual(['ok', 'ok', 'ok', 'ok']);
      const untrusted = await childFetch(urls.slice(0, 1), undefined);
      expect(untrusted).toEqual(['error DEPTH_ZERO_SELF_SIGNED_CERT', 'error DEPTH_ZERO_SELF_SIGNED_CERT']);
    });
  });

  it('is not valid for any other name, even when trusted', async () => {
    const { cert, key } = await ensureEmulatorCertificate(dir);
    await withServer(cert, key, async (port) => {
      const outcome = await new Promise<string>((resolve) => {
        https
          .get({ host: '127.0.0.1', port, ca: cert, servername: 'graph.microsoft.com', headers: { host: 'graph.microsoft.com' } }, () =>
            resolve('ok'),
          )
          .on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
      expect(outcome).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    });
  });
});
