import type { CredentialPlan } from './credentialPlan';
import { GraphAuthenticationError, isTlsTrustFailure } from './errors';

/**
 * Turns what @azure/identity throws into one line that names the credential and what to fix, and says whether a
 * retry can help. What the SDK gives (measured with @azure/identity 4.13 / msal-node 5):
 * - Entra refusing a secret, a certificate, an app or a tenant: an error whose message reads
 *   `invalid_client: Error(s): 7000215 - Timestamp: ... - Description: AADSTS7000215: ... Trace ID: ...` (no status).
 * - An unknown tenant, and an authority that can not be reached, both: `endpoints_resolution_error` (msal-node drops
 *   the answer of the OpenID configuration request), so that request is made again here to tell them apart.
 * - A managed-identity endpoint answering an error: CredentialUnavailableError whose cause (msal's ServerError)
 *   carries the HTTP status; unreachable: a cause with errorCode `network_error`.
 * - The developer tools missing or signed out: CredentialUnavailableError, several in an AggregateAuthenticationError.
 */

/** What to say about the AADSTS codes a first run meets; the rest are shown with Entra's own words. */
const AADSTS_ADVICE: Record<number, { problem: string; fix: string; transient?: boolean }> = {
  7000215: {
    problem: 'the client secret is not valid',
    fix: "set AZURE_CLIENT_SECRET to the secret's Value (not its Secret ID) of a current secret of the app registration",
  },
  7000222: { problem: 'the client secret has expired', fix: 'create a new client secret for the app registration and set AZURE_CLIENT_SECRET to it' },
  7000218: { problem: 'no secret or certificate was sent', fix: 'set AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH' },
  700016: {
    problem: 'the tenant has no app with this client id',
    fix: 'check AZURE_CLIENT_ID and AZURE_TENANT_ID (an app registered in another tenant or national cloud is unknown here)',
  },
  90002: { problem: 'the tenant does not exist', fix: 'check AZURE_TENANT_ID, and GRAPH_CLOUD for a tenant in a national cloud' },
  900023: { problem: 'the tenant id is not valid', fix: 'set AZURE_TENANT_ID to the directory id (a GUID) or its domain name' },
  700027: {
    problem: 'the certificate is not registered on the app, or the assertion it signed is not valid',
    fix: 'upload the public certificate to the app registration, or point AZURE_CLIENT_CERTIFICATE_PATH at the registered one',
  },
  700024: { problem: 'the client assertion is outside its valid time range', fix: "check this machine's clock" },
  7000112: { problem: 'the app is disabled', fix: 'enable the app registration (its service principal) in the tenant' },
  500011: {
    problem: 'Microsoft Graph is not known in the tenant for this cloud',
    fix: 'check GRAPH_CLOUD (global, usgov, usgovdod) against the cloud of the tenant',
  },
  1002012: { problem: 'the scope is not valid', fix: 'check GRAPH_CLOUD' },
  53003: { problem: 'Conditional Access blocked the sign-in', fix: 'exclude this workload identity from the policy, or run where the policy allows' },
  90033: { problem: 'Entra had a transient error', fix: 'it is retried', transient: true },
};

/** OAuth errors that a retry can heal. */
const TRANSIENT_OAUTH = new Set(['temporarily_unavailable', 'server_error']);

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  errors?: unknown[];
  cause?: { name?: string; status?: number; errorCode?: string; errorMessage?: string };
}

export async function credentialFailure(error: unknown, plan: CredentialPlan): Promise<GraphAuthenticationError> {
  const e = (error ?? {}) as SdkError;
  const message = String(e.message ?? error);
  const fail = (text: string, retryable: boolean) =>
    new GraphAuthenticationError(`could not get a token with ${plan.label}: ${text}`, retryable, { cause: error, kind: plan.kind });

  if (plan.kind === 'managed-identity') {
    const status = e.cause?.status;
    const detail = /Description: (.*?)(?: - Correlation ID:| - Trace ID:|$)/.exec(message)?.[1]?.trim();
    if (typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return fail(`the managed-identity endpoint answered ${status}${detail ? ` (${detail})` : ''}. ${managedIdentityFix(status, plan)}`, false);
    }
    if (typeof status === 'number') return fail(`the managed-identity endpoint answered ${status}${detail ? ` (${detail})` : ''}`, true);
    if (e.cause?.errorCode === 'network_error' || /network/i.test(message)) {
      return fail(`the managed-identity endpoint ${plan.endpoint ? `${endpointOrigin(plan.endpoint)} ` : ''}did not answer`, true);
    }
  }

  if (/endpoints_resolution_error/.test(message)) return fail(...(await probeAuthority(plan)));

  const oauth = /^(\w+): Error\(s\): ([\d, ]+)/.exec(message) ?? undefined;
  const code = Number(oauth?.[2]?.split(',')[0] ?? /AADSTS(\d+)/.exec(message)?.[1] ?? NaN);
  if (Number.isFinite(code)) {
    const advice = AADSTS_ADVICE[code];
    const transient = advice?.transient ?? (oauth ? TRANSIENT_OAUTH.has(oauth[1]!) : false);
    if (advice) return fail(`AADSTS${code}, ${advice.problem}${transient ? '' : `. Fix: ${advice.fix}`}`, transient);
    return fail(`AADSTS${code}: ${entraDescription(message)}`, transient);
  }

  if (plan.kind === 'client-certificate' && (/^E[A-Z]+$/.test(e.code ?? '') || /PEM|private key|certificate/i.test(message))) {
    return fail(
      `AZURE_CLIENT_CERTIFICATE_PATH can not be used (${e.code ?? firstSentence(message)}). Fix: point it at a PEM file holding the certificate and its private key`,
      false,
    );
  }

  const unavailable = e.name === 'CredentialUnavailableError' || (e.errors?.length && e.errors.every(isUnavailable));
  if (unavailable) return fail(noCredentialFound(plan, e), false);

  return fail(firstSentence(message), true);
}

function isUnavailable(error: unknown): boolean {
  return (error as SdkError | undefined)?.name === 'CredentialUnavailableError';
}

function managedIdentityFix(status: number, plan: CredentialPlan): string {
  if (status === 400 && plan.clientId) return 'Fix: check AZURE_CLIENT_ID: it must be the client id of a user-assigned identity assigned to this app';
  if (status === 401 || status === 403) return 'Fix: check IDENTITY_HEADER (the platform sets it with IDENTITY_ENDPOINT; a copied value goes stale)';
  if (status === 404) return 'Fix: turn on a managed identity for the app, or check IDENTITY_ENDPOINT';
  return 'Fix: check IDENTITY_ENDPOINT, IDENTITY_HEADER and AZURE_CLIENT_ID';
}

function noCredentialFound(plan: CredentialPlan, e: SdkError): string {
  const reasons = (e.errors?.length ? e.errors : [e]).map((x) => toolState(String((x as SdkError).message ?? '')));
  const tried =
    plan.kind === 'developer' && plan.tools?.length
      ? ` (${plan.tools.map((tool, i) => `${tool}: ${reasons[i] ?? reasons[0] ?? 'not available'}`).join('; ')})`
      : ` (${firstSentence(String(e.message ?? ''))})`;
  return (
    `no credential found${tried}. Fix: set AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, or sign in with 'az login'; ` +
    'in Azure the app uses its managed identity (IDENTITY_ENDPOINT)'
  );
}

function toolState(message: string): string {
  if (/could not be found|couldn't be found|not installed|not found on path|ENOENT/i.test(message)) return 'not installed';
  if (/login|logged in|Connect-AzAccount|sign in/i.test(message)) return 'not signed in';
  return firstSentence(message);
}

/** Asks the authority for the tenant's OpenID configuration, as msal-node did, to learn why that failed. */
async function probeAuthority(plan: CredentialPlan): Promise<[string, boolean]> {
  const url = `${plan.authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(plan.tenantId)}/v2.0/.well-known/openid-configuration`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? (error as Error).name;
    if (isTlsTrustFailure(code)) {
      return [
        `the certificate of ${plan.authorityHost} is not trusted (${code}). Fix: check AZURE_AUTHORITY_HOST, or trust its CA with NODE_EXTRA_CA_CERTS`,
        false,
      ];
    }
    return [`the authority ${plan.authorityHost} could not be reached (${code})`, true];
  }
  const body = (await response.json().catch(() => undefined)) as { error_codes?: number[]; error_description?: string } | undefined;
  const code = body?.error_codes?.[0];
  if (response.status >= 400 && response.status < 500) {
    const advice = code === undefined ? undefined : AADSTS_ADVICE[code];
    if (advice) return [`AADSTS${code}, ${advice.problem}. Fix: ${advice.fix}`, false];
    const what = code === undefined ? `${response.status}` : `${response.status} AADSTS${code}: ${entraDescription(body?.error_description ?? '')}`;
    return [
      `the authority ${plan.authorityHost} refused the tenant's OpenID configuration (${what}). Fix: check AZURE_TENANT_ID and GRAPH_CLOUD`,
      false,
    ];
  }
  if (response.status >= 500) return [`the authority ${plan.authorityHost} answered ${response.status}`, true];
  return [`the OpenID configuration of the tenant at ${plan.authorityHost} could not be used`, true];
}

function endpointOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'IDENTITY_ENDPOINT';
  }
}

/** Entra's description without its trace and correlation ids. */
function entraDescription(message: string): string {
  const description =
    /Description: (?:AADSTS\d+: )?(.*?)(?: Trace ID:| - Correlation ID:|$)/.exec(message)?.[1] ?? message.replace(/^AADSTS\d+: /, '');
  return firstSentence(description.replace(/\s*Trace ID:.*$/, ''));
}

function firstSentence(text: string): string {
  const line = text.split('\n')[0]!.trim();
  const sentence = /^(.{20,}?[.!?])(\s|$)/.exec(line)?.[1] ?? line;
  return sentence.length > 240 ? `${sentence.slice(0, 237)}...` : sentence;
}
