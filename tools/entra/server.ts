/**
 * A small Entra ID token endpoint for tests and local runs (HTTPS on loopback, with the Graph emulator's certificate):
 * what msal-node, inside @azure/identity's ClientSecretCredential and ClientCertificateCredential, asks of an
 * authority host that is not a Microsoft one.
 *
 * With `disableInstanceDiscovery` (which src/graph/credential.ts sets for such a host), msal-node requests only
 * - `GET /{tenant}/v2.0/.well-known/openid-configuration` (it checks that `issuer` has the authority's origin), then
 * - `POST /{tenant}/oauth2/v2.0/token`, form-encoded, `grant_type=client_credentials`, `scope=<resource>/.default`,
 *   and `client_secret`, or `client_assertion` (a JWT signed with the certificate's key, see ./assertion.ts).
 * Without it, msal-node first asks https://login.microsoftonline.com/common/discovery/instance whether the host is
 * an Entra instance, and refuses the authority when that call fails.
 *
 * Tokens come from the Graph emulator's process-wide TokenStore of the tenant, so the emulator accepts them. Failures
 * are answered as Entra answers them (./errors.ts): unknown tenant, unknown app, wrong or expired secret, unknown
 * certificate, a scope for another resource.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ensureEmulatorCertificate } from '../emulator/certificate.js';
import { readBody } from '../emulator/http.js';
import { TokenStore } from '../emulator/tokens.js';
import { checkAssertion, registerCertificate, type RegisteredCertificate } from './assertion.js';
import { AADSTS, type EntraError } from './errors.js';

export interface EntraApp {
  clientId: string;
  /** Client secrets; one past `expiresAt` is answered AADSTS7000222. */
  secrets?: { value: string; expiresAt?: Date }[];
  /** PEM certificates whose keys may sign a client assertion. */
  certificates?: string[];
}

export interface EntraTenant {
  tenantId: string;
  /** A domain name that also names the tenant (contoso.onmicrosoft.com). */
  domain?: string;
  apps?: EntraApp[];
}

export interface EntraEmulatorOptions {
  /** HTTPS port (default 0: any free port). */
  port?: number;
  /** Where the TLS certificate lives (default: the Graph emulator's, .local/emulator). */
  certificateDir?: string;
  tenants?: EntraTenant[];
  /** The resource tokens are issued for (default https://graph.microsoft.com). */
  resource?: string;
  tokenLifetimeSeconds?: number;
}

export interface EntraRequest {
  method: string;
  path: string;
  status: number;
  /** The AADSTS code of an error answer. */
  code?: number;
}

export interface EntraEmulator {
  /** https://127.0.0.1:<port>: the value for AZURE_AUTHORITY_HOST. */
  readonly authorityHost: string;
  addTenant(tenant: EntraTenant): void;
  addApp(tenantId: string, app: EntraApp): void;
  /** The next `count` token requests are answered `status` (a transient Entra failure). */
  failTokenRequests(count: number, status?: number): void;
  /** Every request so far, oldest first. */
  requests(): EntraRequest[];
  readonly tokensIssued: number;
  close(): Promise<void>;
}

interface KnownApp {
  clientId: string;
  secrets: { value: string; expiresAt?: number }[];
  certificates: RegisteredCertificate[];
}

interface KnownTenant {
  tenantId: string;
  apps: Map<string, KnownApp>;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

export async function startEntraEmulator(options: EntraEmulatorOptions = {}): Promise<EntraEmulator> {
  const { cert, key } = await ensureEmulatorCertificate(options.certificateDir);
  const resource = (options.resource ?? 'https://graph.microsoft.com').replace(/\/+$/, '');
  const lifetime = options.tokenLifetimeSeconds ?? 3600;
  const tenants = new Map<string, KnownTenant>();
  const log: EntraRequest[] = [];
  const failures: number[] = [];
  let tokensIssued = 0;
  let origin = '';

  const addTenant = (tenant: EntraTenant): void => {
    const known: KnownTenant = tenants.get(tenant.tenantId.toLowerCase()) ?? { tenantId: tenant.tenantId, apps: new Map() };
    tenants.set(tenant.tenantId.toLowerCase(), known);
    if (tenant.domain) tenants.set(tenant.domain.toLowerCase(), known);
    for (const app of tenant.apps ?? []) addApp(tenant.tenantId, app);
  };
  const addApp = (tenantId: string, app: EntraApp): void => {
    const tenant = tenants.get(tenantId.toLowerCase());
    if (!tenant) throw new Error(`no tenant ${tenantId}: add it first`);
    tenant.apps.set(app.clientId.toLowerCase(), {
      clientId: app.clientId,
      secrets: (app.secrets ?? []).map((s) => ({ value: s.value, expiresAt: s.expiresAt?.getTime() })),
      certificates: (app.certificates ?? []).map(registerCertificate),
    });
  };
  for (const tenant of options.tenants ?? []) addTenant(tenant);

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const payload = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length, 'cache-control': 'no-store' });
    res.end(payload);
  };
  const fail = (res: ServerResponse, error: EntraError) => {
    send(res, error.status, error.body);
    return (error.body.error_codes as number[])[0];
  };

  const tenantOf = (segment: string): KnownTenant | EntraError => {
    if (!GUID.test(segment) && !DOMAIN.test(segment)) return AADSTS.badTenantFormat(segment);
    return tenants.get(segment.toLowerCase()) ?? AADSTS.unknownTenant(segment);
  };

  const openIdConfiguration = (segment: string) => {
    const base = `${origin}/${segment}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${origin}/${segment}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${origin}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'ver'],
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
    };
  };

  const token = (segment: string, tenant: KnownTenant, form: URLSearchParams): EntraError | object => {
    const grant = form.get('grant_type');
    if (!grant) return AADSTS.missingParameter('grant_type');
    if (grant !== 'client_credentials') return AADSTS.unsupportedGrant(grant);
    const clientId = form.get('client_id');
    if (!clientId) return AADSTS.missingParameter('client_id');
    const scope = form.get('scope') ?? '';
    const scopes = scope.split(/\s+/).filter(Boolean);
    const resourceScope = scopes.find((s) => s.toLowerCase().endsWith('/.default'));
    if (!resourceScope) return AADSTS.invalidScope(scope);
    if (resourceScope.slice(0, -'/.default'.length).replace(/\/+$/, '').toLowerCase() !== resource.toLowerCase()) {
      return AADSTS.unknownResource(resourceScope.slice(0, -'/.default'.length), segment);
    }
    const app = tenant.apps.get(clientId.toLowerCase());
    if (!app) return AADSTS.unknownApp(clientId, segment);

    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null) {
      const match = app.secrets.find((s) => s.value === secret);
      if (!match) return AADSTS.invalidSecret(app.clientId);
      if (match.expiresAt !== undefined && match.expiresAt <= Date.now()) return AADSTS.expiredSecret(app.clientId);
    } else if (assertion !== null) {
      if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
        return AADSTS.missingParameter('client_assertion_type');
      }
      const problem = checkAssertion(assertion, {
        clientId: app.clientId,
        audience: `${origin}/${segment}/oauth2/v2.0/token`,
        certificates: app.certificates,
      });
      if (problem) return problem;
    } else {
      return AADSTS.noCredential();
    }
    const issued = TokenStore.forTenant(tenant.tenantId).issue(lifetime);
    tokensIssued++;
    return { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: issued.token };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number | undefined> => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const parts = url.pathname.split('/').filter(Boolean);
    const method = req.method ?? 'GET';
    const segment = decodeURIComponent(parts[0] ?? '');
    const rest = parts.slice(1).join('/');

    if (method === 'GET' && rest === 'v2.0/.well-known/openid-configuration') {
      const tenant = tenantOf(segment);
      if ('status' in tenant) return fail(res, tenant);
      send(res, 200, openIdConfiguration(segment));
      return undefined;
    }
    if (method === 'POST' && rest === 'oauth2/v2.0/token') {
      const form = new URLSearchParams(await readBody(req, 64 * 1024));
      if (failures.length > 0) return fail(res, AADSTS.injected(failures.shift()!));
      const tenant = tenantOf(segment);
      if ('status' in tenant) return fail(res, tenant);
      const answer = token(segment, tenant, form);
      if ('status' in answer && 'body' in answer) return fail(res, answer as EntraError);
      send(res, 200, answer);
      return undefined;
    }
    send(res, 404, { error: 'not_found', error_description: `No such endpoint: ${method} ${url.pathname}` });
    return undefined;
  };

  const sockets = new Set<Socket>();
  const server = https.createServer({ cert, key }, (req, res) => {
    handle(req, res)
      .then((code) => log.push({ method: req.method ?? 'GET', path: new URL(req.url ?? '/', 'https://x').pathname, status: res.statusCode, code }))
      .catch((error: unknown) => {
        if (!res.headersSent) send(res, 500, { error: 'server_error', error_description: `Entra emulator failure: ${(error as Error).message}` });
        else res.destroy();
      });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    authorityHost: origin,
    addTenant,
    addApp,
    failTokenRequests: (count, status = 503) => {
      for (let i = 0; i < count; i++) failures.push(status);
    },
    requests: () => [...log],
    get tokensIssued() {
      return tokensIssued;
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
