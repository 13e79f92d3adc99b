import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
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
const LOCK_FILE = 'generating.lock';
/** A lock file older than this is left over from a process that died while generating. */
const STALE_LOCK_MS = 30_000;
const DAY_MS = 24 * 3600 * 1000;
/** Validity of a new certificate. */
export const CERTIFICATE_VALID_DAYS = 60;
/** A certificate that expires sooner than this, or that is valid longer than allowed, is replaced. */
const RENEW_BEFORE_MS = 20 * DAY_MS;
const LONGEST_VALIDITY_MS = 90 * DAY_MS;

/**
 * Returns the emulator's TLS certificate, generating it on first use and renewing it when it has less than 20 days
 * left. It is a self-signed leaf, not a CA: basicConstraints CA:false, keyUsage without keyCertSign, extendedKeyUsage
 * serverAuth, subjectAltName localhost, 127.0.0.1 and ::1 only, valid 60 days. Trusting it (NODE_EXTRA_CA_CERTS at
 * `certPath`: OpenSSL takes a self-signed certificate in the trust store as its own anchor) trusts this one server
 * certificate for loopback names and nothing else: its key cannot issue certificates that a client would accept.
 *
 * A certificate from an earlier version (a CA valid 10 years), or any certificate that is a CA, may sign, or is
 * valid longer than 90 days, is replaced.
 */
export async function ensureEmulatorCertificate(dir: string = path.join(process.cwd(), '.local', 'emulator')): Promise<EmulatorCertificate> {
  const certPath = path.join(dir, CERT_FILE);
  const keyPath = path.join(dir, KEY_FILE);

  const existing = await readUsablePair(certPath, keyPath);
  if (typeof existing === 'object') return existing;

  // Several processes may start at once on a fresh checkout (a test run beside the demo, parallel soak shards):
  // one generates the pair under a lock file, the others wait for it and read what it wrote, so every emulator
  // serves the certificate that its clients are told to trust.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 5; attempt++) {
    const release = await lock(path.join(dir, LOCK_FILE));
    try {
      const written = await readUsablePair(certPath, keyPath);
      if (typeof written === 'object') return written;
      await generatePair(certPath, keyPath);
      // What is on disk is what clients trust: return that, not what we generated (a lock taken over from a process
      // thought dead could have let another writer in).
      const onDisk = await readUsablePair(certPath, keyPath);
      if (typeof onDisk === 'object') return onDisk;
    } finally {
      await release();
    }
  }
  throw new Error(`could not write a usable certificate and key to ${dir}: delete that directory and start again`);
}

async function generatePair(certPath: string, keyPath: string): Promise<EmulatorCertificate> {
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: 'entra-risk-sync Graph emulator (localhost)' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 3600 * 1000),
    notAfterDate: new Date(now + CERTIFICATE_VALID_DAYS * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
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
    return isUsable(new X509Certificate(cert), key) ? { certPath, keyPath, cert, key } : 'unusable';
  } catch {
    return 'unusable';
  }
}

/** A leaf for the loopback names only, matching the key, not about to expire and not valid for too long. */
function isUsable(x509: X509Certificate, key: string): boolean {
  const validFrom = Date.parse(x509.validFrom);
  const validTo = Date.parse(x509.validTo);
  const names = (x509.subjectAltName ?? '').split(',').map((n) => n.trim());
  return (
    x509.checkPrivateKey(createPrivateKey(key)) &&
    !x509.ca &&
    validTo - Date.now() > RENEW_BEFORE_MS &&
    validTo - validFrom <= LONGEST_VALIDITY_MS &&
    names.length === 3 &&
    x509.checkHost('localhost') !== undefined &&
    x509.checkIP('127.0.0.1') !== undefined &&
    x509.checkIP('::1') !== undefined
  );
}

/**
 * Takes the lock file (created exclusively, holding our pid), waiting while another live process holds it; resolves
 * with its release, which removes the file only while it is still ours. A lock whose process is gone (killed while
 * generating), or older than STALE_LOCK_MS, is taken over.
 */
async function lock(lockPath: string): Promise<() => Promise<void>> {
  const ours = String(process.pid);
  for (;;) {
    try {
      await writeFile(lockPath, ours, { flag: 'wx', mode: 0o600 });
      return async () => {
        if ((await readFile(lockPath, 'utf8').catch(() => undefined)) === ours) await unlink(lockPath).catch(() => undefined);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const [held, holder] = await Promise.all([stat(lockPath).catch(() => undefined), readFile(lockPath, 'utf8').catch(() => undefined)]);
    if (held && (Date.now() - held.mtimeMs > STALE_LOCK_MS || (holder !== undefined && holder !== '' && !isAlive(Number(holder))))) {
      await unlink(lockPath).catch(() => undefined);
    } else {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
