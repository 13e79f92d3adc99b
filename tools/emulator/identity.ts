/**
 * The App Service managed-identity endpoint (protocol 2019-08-01) that @azure/identity's ManagedIdentityCredential
 * (through msal-node) calls when IDENTITY_ENDPOINT and IDENTITY_HEADER are set:
 * `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<resource>[&client_id=<guid>]` with `X-IDENTITY-HEADER`.
 * Success: `{access_token, expires_on, resource, token_type, client_id}` with `expires_on` in epoch seconds as a
 * string, as App Service sends it (msal-node also accepts a number or ISO 8601). Errors use App Service's shape
 * `{statusCode, message, correlationId}`, which msal-node reads.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { TokenStore } from './tokens.js';

export const IDENTITY_PATH = '/msi/token';
export const APP_SERVICE_API_VERSION = '2019-08-01';

export interface IdentitySettings {
  identityHeader: string;
  /** The Graph resource of the emulated cloud, e.g. https://graph.microsoft.com */
  resource: string;
  clientId: string;
  tokenLifetimeSeconds: number;
  tokens: TokenStore;
}

export interface TokenResponse {
  status: number;
  body: object;
  issued: boolean;
}

export function appServiceError(status: number, message: string): object {
  return { statusCode: status, message, correlationId: randomUUID() };
}

export function tokenResponse(method: string, url: URL, headers: IncomingHttpHeaders, settings: IdentitySettings): TokenResponse {
  const fail = (status: number, message: string): TokenResponse => ({ status, body: appServiceError(status, message), issued: false });
  if (url.pathname !== IDENTITY_PATH) return fail(404, `No such endpoint: ${url.pathname}`);
  if (method !== 'GET') return fail(405, `Method ${method} is not allowed: use GET`);

  const secret = headers['x-identity-header'];
  if (typeof secret !== 'string' || secret === '') return fail(400, 'The X-IDENTITY-HEADER header is missing.');
  if (secret !== settings.identityHeader) return fail(401, 'The X-IDENTITY-HEADER header does not match IDENTITY_HEADER.');

  const apiVersion = url.searchParams.get('api-version');
  if (apiVersion !== APP_SERVICE_API_VERSION) {
    return fail(400, `Unsupported api-version '${apiVersion ?? ''}': this endpoint speaks ${APP_SERVICE_API_VERSION}.`);
  }
  const resource = url.searchParams.get('resource');
  if (!resource) return fail(400, "The 'resource' query parameter is missing.");
  if (canonicalResource(resource) !== canonicalResource(settings.resource)) {
    return fail(400, `AADSTS500011: The resource '${resource}' is not available here; this emulator serves '${settings.resource}'.`);
  }
  const clientId = url.searchParams.get('client_id');
  if (clientId !== null && clientId.toLowerCase() !== settings.clientId.toLowerCase()) {
    return fail(400, `No managed identity with client_id '${clientId}' is assigned to this app (it has '${settings.clientId}').`);
  }
  for (const other of ['principal_id', 'object_id', 'mi_res_id']) {
    if (url.searchParams.has(other)) {
      return fail(400, `Selecting the identity by '${other}' is not supported by the emulator: use client_id.`);
    }
  }

  const { token, expiresOn } = settings.tokens.issue(settings.tokenLifetimeSeconds);
  return {
    status: 200,
    issued: true,
    body: {
      access_token: token,
      expires_on: String(expiresOn),
      resource,
      token_type: 'Bearer',
      client_id: settings.clientId,
    },
  };
}

/** App Service accepts the resource with or without a trailing slash. */
function canonicalResource(resource: string): string {
  return resource.replace(/\/+$/, '').toLowerCase();
}
