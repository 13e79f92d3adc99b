import { constants, createHash, verify, X509Certificate } from 'node:crypto';
import { AADSTS, type EntraError } from './errors.js';

/**
 * Checks a `client_assertion` (RFC 7523 JWT) as Entra does for certificate credentials: msal-node signs it with the
 * certificate's key (PS256 with an `x5t#S256` thumbprint header, or RS256 with `x5t`), `aud` = the token endpoint,
 * `iss` = `sub` = the client id, `nbf`/`exp` around now.
 */
export interface RegisteredCertificate {
  x509: X509Certificate;
  sha1: string;
  sha256: string;
}

export function registerCertificate(pem: string): RegisteredCertificate {
  const x509 = new X509Certificate(pem);
  return {
    x509,
    sha1: createHash('sha1').update(x509.raw).digest('base64url'),
    sha256: createHash('sha256').update(x509.raw).digest('base64url'),
  };
}

const CLOCK_SKEW_SECONDS = 300;

export function checkAssertion(
  assertion: string,
  expected: { clientId: string; audience: string; certificates: readonly RegisteredCertificate[] },
): EntraError | undefined {
  const parts = assertion.split('.');
  if (parts.length !== 3) return AADSTS.badAssertion('The assertion is not a JWT.');
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return AADSTS.badAssertion('The assertion header or payload is not JSON.');
  }
  const thumbprint = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : typeof header.x5t === 'string' ? header.x5t : undefined;
  if (!thumbprint) return AADSTS.badAssertion('The assertion carries no x5t or x5t#S256 header.');
  const certificate = expected.certificates.find((c) => c.sha256 === thumbprint || c.sha1 === thumbprint);
  if (!certificate) return AADSTS.unknownCertificate(Buffer.from(thumbprint, 'base64url').toString('hex').toUpperCase());

  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2]!, 'base64url');
  const key = certificate.x509.publicKey;
  const valid =
    header.alg === 'PS256'
      ? verify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature)
      : header.alg === 'RS256'
        ? verify('sha256', data, key, signature)
        : false;
  if (!valid) return AADSTS.badAssertion(`The signature does not verify with the registered certificate (alg ${String(header.alg)}).`);

  if (payload.aud !== expected.audience) return AADSTS.badAssertion(`The audience '${String(payload.aud)}' is not the token endpoint.`);
  if (payload.iss !== expected.clientId || payload.sub !== expected.clientId) return AADSTS.assertionIssuer(String(payload.iss));
  const now = Date.now() / 1000;
  const nbf = typeof payload.nbf === 'number' ? payload.nbf : 0;
  const exp = typeof payload.exp === 'number' ? payload.exp : 0;
  if (nbf - CLOCK_SKEW_SECONDS > now || exp + CLOCK_SKEW_SECONDS < now) return AADSTS.assertionTime();
  return undefined;
}
