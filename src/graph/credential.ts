import { createHash } from 'node:crypto';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import type { Settings } from '../config/settings';
import { selectCredential, type CredentialPlan } from './credentialPlan';
import { credentialFailure } from './credentialErrors';
import { GraphAuthenticationError } from './errors';

export { selectCredential, type CredentialKind, type CredentialPlan, type DeveloperTool } from './credentialPlan';

export function buildCredential(plan: CredentialPlan, settings: Settings, env: NodeJS.ProcessEnv = process.env): TokenCredential {
  // The identity SDK (with MSAL) loads when a credential is first built, i.e. when the first token is needed: an API
  // instance on a connection string (Azurite), or one that answers from its cache, never pays for it.
  const {
    AzureCliCredential,
    AzureDeveloperCliCredential,
    AzurePowerShellCredential,
    ChainedTokenCredential,
    ClientCertificateCredential,
    ClientSecretCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
  } = require('@azure/identity') as typeof import('@azure/identity');
  const authority = { authorityHost: plan.authorityHost, disableInstanceDiscovery: plan.disableInstanceDiscovery };
  switch (plan.kind) {
    case 'client-secret':
      return new ClientSecretCredential(plan.tenantId, plan.clientId!, settings.clientSecret!, authority);
    case 'client-certificate':
      return new ClientCertificateCredential(plan.tenantId, plan.clientId!, { certificatePath: plan.certificatePath! }, authority);
    case 'workload-identity':
      return new WorkloadIdentityCredential({
        tenantId: plan.tenantId,
        clientId: plan.clientId,
        tokenFilePath: env.AZURE_FEDERATED_TOKEN_FILE?.trim(),
        ...authority,
      });
    case 'managed-identity':
      return new ManagedIdentityCredential(plan.clientId ? { clientId: plan.clientId } : {});
    case 'developer': {
      const tools = plan.tools!.map((tool): TokenCredential => {
        if (tool === 'Azure CLI') return new AzureCliCredential({ tenantId: plan.tenantId });
        if (tool === 'Azure Developer CLI') return new AzureDeveloperCliCredential({ tenantId: plan.tenantId });
        return new AzurePowerShellCredential({ tenantId: plan.tenantId });
      });
      return tools.length === 1 ? tools[0]! : new ChainedTokenCredential(...tools);
    }
  }
}

/** What the Graph reader needs of a credential: tokens, and a way to drop a token Graph refused. */
export interface RenewableCredential extends TokenCredential {
  renew(): void;
}

/** A credential built by `factory`, built again on renew() (for a credential handed in, e.g. by a test). */
export function renewableCredential(factory: () => TokenCredential): RenewableCredential {
  let inner = factory();
  return {
    getToken: (scopes, options) => inner.getToken(scopes, options),
    renew: () => {
      inner = factory();
    },
  };
}

/**
 * The process's credential: a TokenCredential whose failures are one-line GraphAuthenticationErrors (non-retryable
 * when the credential can never work), and that can drop its token cache (renew) when Graph refuses a token.
 */
export class AppCredential implements RenewableCredential {
  /** Built on the first getToken (see buildCredential), and again after renew(). */
  private inner: TokenCredential | undefined;

  constructor(
    readonly plan: CredentialPlan,
    private readonly build: () => TokenCredential,
  ) {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    try {
      this.inner ??= this.build();
      return await this.inner.getToken(scopes, options);
    } catch (error) {
      if (options?.abortSignal?.aborted || error instanceof GraphAuthenticationError) throw error;
      throw await credentialFailure(error, this.plan);
    }
  }

  /** A new credential, without the cached token (after Graph refused it). */
  renew(): void {
    this.inner = undefined;
  }

  /**
   * Gets a token for `scope` now. Resolves with the failure when the credential can never work (the caller stops at
   * once with its message); a transient failure resolves undefined: the reader retries it like any other.
   */
  async check(scope: string): Promise<GraphAuthenticationError | undefined> {
    try {
      await this.getToken(scope);
      return undefined;
    } catch (error) {
      if (error instanceof GraphAuthenticationError && !error.retryable) return error;
      return undefined;
    }
  }
}

/**
 * The credentials of one process: one per tenant and configuration, so that the Graph readers and the Table clients
 * of a tenant share one token cache (and a check made at start-up is the credential the runs use). The composition
 * root (the Functions app, the CLI, the local host) makes one and hands it on.
 */
export class Credentials {
  private readonly byKey = new Map<string, AppCredential>();

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  for(settings: Settings, tenantId?: string): AppCredential {
    const env = this.env;
    const plan = selectCredential(settings, env, tenantId);
    const secret = settings.clientSecret ? createHash('sha256').update(settings.clientSecret).digest('hex') : '';
    const key = JSON.stringify([plan, secret, env.IDENTITY_HEADER ? createHash('sha256').update(env.IDENTITY_HEADER).digest('hex') : '']);
    let credential = this.byKey.get(key);
    if (!credential) this.byKey.set(key, (credential = new AppCredential(plan, () => buildCredential(plan, settings, env))));
    return credential;
  }
}
