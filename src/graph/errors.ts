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

/** No token could be had: the credential chain found nothing, or refused. */
export class GraphAuthenticationError extends Error {
  override readonly name = 'GraphAuthenticationError';
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(
      `Could not get a token for Microsoft Graph: ${message} - in Azure, give the Function App a managed identity (AZURE_CLIENT_ID for a user-assigned one); ` +
        'locally, set AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, or sign in with az login',
      options,
    );
  }
}
