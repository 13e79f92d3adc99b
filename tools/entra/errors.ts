import { randomUUID } from 'node:crypto';

/**
 * Entra ID's OAuth error answers, in the shape login.microsoftonline.com sends them:
 * `{error, error_description: "AADSTSnnnn: ...\r\nTrace ID: ...\r\nCorrelation ID: ...\r\nTimestamp: ...", error_codes,
 * timestamp, trace_id, correlation_id, error_uri}`. msal-node reads `error`, `error_description` and `error_codes`.
 */
export interface EntraError {
  status: number;
  body: Record<string, unknown>;
}

export function entraError(status: number, error: string, code: number, message: string, correlationId = randomUUID()): EntraError {
  const traceId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

export const AADSTS = {
  unknownTenant: (tenant: string) =>
    entraError(
      400,
      'invalid_tenant',
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. ` +
        'Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.',
    ),
  badTenantFormat: (tenant: string) =>
    entraError(400, 'invalid_request', 900023, `Specified tenant identifier '${tenant}' is neither a valid DNS name, nor a valid external domain.`),
  unknownApp: (clientId: string, tenant: string) =>
    entraError(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been ` +
        'installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.',
    ),
  invalidSecret: (clientId: string) =>
    entraError(
      401,
      'invalid_client',
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
    ),
  expiredSecret: (clientId: string) =>
    entraError(
      401,
      'invalid_client',
      7000222,
      `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, ` +
        'or consider using certificate credentials for added security: https://aka.ms/certCreds.',
    ),
  noCredential: () =>
    entraError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
  unknownCertificate: (thumbprint: string) =>
    entraError(
      401,
      'invalid_client',
      700027,
      `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}']`,
    ),
  badAssertion: (reason: string) => entraError(401, 'invalid_client', 700027, `Client assertion failed signature validation. [Reason - ${reason}]`),
  assertionTime: () => entraError(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.'),
  assertionIssuer: (issuer: string) =>
    entraError(401, 'invalid_client', 700021, `Client assertion application identifier doesn't match 'client_id' parameter. Issuer: '${issuer}'.`),
  unknownResource: (resource: string, tenant: string) =>
    entraError(
      400,
      'invalid_resource',
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the application has not been installed ` +
        'by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.',
    ),
  invalidScope: (scope: string) =>
    entraError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    ),
  unsupportedGrant: (grant: string) => entraError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant}'.`),
  missingParameter: (name: string) => entraError(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`),
  /** What Entra answers while it has trouble of its own (a fault switched on by failTokenRequests). */
  injected: (status: number) =>
    entraError(status, 'temporarily_unavailable', 90033, `A transient error has occurred. Please try again. (Injected fault: ${status}.)`),
};
