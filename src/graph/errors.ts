/** A Graph request that failed for good: Graph's status, error code and message, and what to do about it. */
export class GraphRequestError extends Error {
  override readonly name = 'GraphRequestError';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly graphMessage: string,
    readonly details: { url?: string; requestId?: string; retryAfterMs?: number } = {},
  ) {
    super(`Graph answered ${status} ${code}: ${graphMessage}${hint(status)}${details.requestId ? ` (request-id ${details.requestId})` : ''}`);
  }

  get retryable(): boolean {
    return this.status === 429 || this.status >= 500 || this.status === 0;
  }
}

function hint(status: number): string {
  if (status === 401) return ' - the token was refused: check AZURE_TENANT_ID, GRAPH_CLOUD and the identity the app runs as';
  if (status === 403)
    return ' - grant the identity the Graph application roles IdentityRiskEvent.Read.All and IdentityRiskyUser.Read.All (infra/grant-graph-permissions.sh) and check the tenant has Entra ID P1/P2';
  return '';
}

/** The transport failed before Graph answered (reset, timeout, cut body): always worth a retry. */
export class GraphTransportError extends GraphRequestError {
  constructor(message: string, url?: string) {
    super(0, 'TransportError', message, { url });
  }
}

/** Codes of a TLS failure that no retry heals: the server's certificate is not trusted (or not valid for the host). */
export function isTlsTrustFailure(code: string): boolean {
  return /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_UNTRUSTED|ERR_TLS_CERT_ALTNAME_INVALID)$/.test(
    code,
  );
}

/** Graph's endpoint presented a certificate this process does not trust: fails at once, a retry can not help. */
export class GraphCertificateError extends GraphRequestError {
  constructor(origin: string, code: string) {
    super(
      0,
      'UntrustedCertificate',
      `the certificate of ${origin} is not trusted (${code}): check GRAPH_ENDPOINT; for the emulator or a proxy with a private CA, start with NODE_EXTRA_CA_CERTS pointing at its certificate`,
    );
  }

  override get retryable(): boolean {
    return false;
  }
}

/**
 * No token could be had. The message is one line that names the credential and what to fix (see credentialErrors.ts);
 * `retryable` is false when the credential can never work as configured (a wrong secret, an unknown app or tenant, no
 * credential at all), so that a run fails in seconds instead of retrying for minutes.
 */
export class GraphAuthenticationError extends Error {
  override readonly name = 'GraphAuthenticationError';
  readonly kind?: string;
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown; kind?: string },
  ) {
    super(message, options);
    this.kind = options?.kind;
  }
}
