import { randomBytes } from 'node:crypto';

export type TokenCheck = 'valid' | 'missing' | 'unknown' | 'expired' | 'revoked';

interface IssuedToken {
  expiresAt: number;
  revoked: boolean;
}

/**
 * Access tokens of one tenant: opaque random strings, remembered with their expiry.
 *
 * One store per tenant id for the whole process (module instance), shared by every emulator of that tenant:
 * msal-node caches managed-identity tokens (and the App Service endpoint) in static fields, so a second emulator
 * started in the same Jest file is handed the token the first one issued. As in Entra, a token is valid for the
 * tenant, whichever Graph front end receives it.
 */
export class TokenStore {
  private static readonly tenants = new Map<string, TokenStore>();
  private readonly tokens = new Map<string, IssuedToken>();

  static forTenant(tenantId: string): TokenStore {
    const key = tenantId.toLowerCase();
    let store = TokenStore.tenants.get(key);
    if (!store) TokenStore.tenants.set(key, (store = new TokenStore()));
    return store;
  }

  issue(lifetimeSeconds: number): { token: string; expiresOn: number } {
    this.dropExpired();
    const token = `emu.${randomBytes(32).toString('base64url')}`;
    const expiresAt = Date.now() + lifetimeSeconds * 1000;
    this.tokens.set(token, { expiresAt, revoked: false });
    return { token, expiresOn: Math.floor(expiresAt / 1000) };
  }

  check(token: string | undefined): TokenCheck {
    if (!token) return 'missing';
    const issued = this.tokens.get(token);
    if (!issued) return 'unknown';
    if (issued.revoked) return 'revoked';
    return issued.expiresAt <= Date.now() ? 'expired' : 'valid';
  }

  /** Invalidates every token issued so far; later requests get new, valid ones. */
  revokeAll(): void {
    for (const issued of this.tokens.values()) issued.revoked = true;
  }

  private dropExpired(): void {
    // Keep expired tokens a while so that a client presenting one is told "expired", not "unknown".
    const horizon = Date.now() - 24 * 3600 * 1000;
    for (const [token, issued] of this.tokens) if (issued.expiresAt < horizon) this.tokens.delete(token);
  }
}
