import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface EmulatorCertificate {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

const CERT_FILE = 'cert.pem';
const KEY_FILE = 'key.pem';
const VALID_YEARS = 10;
/** A certificate that expires sooner than this is replaced. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

/**
 * Returns the emulator's self-signed TLS certificate, generating it on first use. It is its own CA
 * (basicConstraints CA:true), so pointing NODE_EXTRA_CA_CERTS at `certPath` makes Node trust the emulator
 * at https://localhost, https://127.0.0.1 and https://[::1].
 */
export async function ensureEmulatorCertificate(dir: string = path.join(process.cwd(), '.local', 'emulator')): Promise<EmulatorCertificate> {
  const certPath = path.join(dir, CERT_FILE);
  const keyPath = path.join(dir, KEY_FILE);

  // Another process may be writing the pair right now (the files are replaced by rename, key first): a
  // mismatching pair is re-read a few times before we generate our own.
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await readUsablePair(certPath, keyPath);
    if (existing === 'missing') break;
    if (existing !== 'unusable') return existing;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const pems = await generate([{ name: 'commonName', value: 'entra-risk-sync Graph emulator' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - 24 * 3600 * 1000),
    notAfterDate: new Date(Date.now() + VALID_YEARS * 365 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
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

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const suffix = `.${process.pid}.${Date.now()}.tmp`;
  await writeFile(keyPath + suffix, pems.private, { mode: 0o600 });
  await writeFile(certPath + suffix, pems.cert, { mode: 0o644 });
  await rename(keyPath + suffix, keyPath);
  await rename(certPath + suffix, certPath);
  return { certPath, keyPath, cert: pems.cert, key: pems.private };
}

async function readUsablePair(certPath: string, keyPath: string): Promise<EmulatorCertificate | 'missing' | 'unusable'> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  try {
    const x509 = new X509Certificate(cert);
    const usable =
      x509.checkPrivateKey(createPrivateKey(key)) &&
      Date.parse(x509.validTo) - Date.now() > RENEW_BEFORE_MS &&
      x509.checkHost('localhost') !== undefined &&
      x509.checkIP('127.0.0.1') !== undefined &&
      x509.checkIP('::1') !== undefined;
    return usable ? { certPath, keyPath, cert, key } : 'unusable';
  } catch {
    return 'unusable';
  }
}
