import type { Settings } from '../config/settings';

/**
 * The one credential of a process, shared by the Graph reader and the Table clients, chosen explicitly from the
 * settings instead of DefaultAzureCredential's probing (which turns a credential that can never work into minutes of
 * retries): a client secret, a client certificate, a workload identity, the managed identity, or the developer's
 * sign-in (Azure CLI). AZURE_TOKEN_CREDENTIALS narrows the choice as it does in the Azure SDK. Tokens come from the
 * cloud's authority host, or AZURE_AUTHORITY_HOST; for a host that is not one of Entra's own, msal-node is told not
 * to ask login.microsoftonline.com whether it is an Entra instance (disableInstanceDiscovery).
 */
export type CredentialKind = 'client-secret' | 'client-certificate' | 'workload-identity' | 'managed-identity' | 'developer';

export type DeveloperTool = 'Azure CLI' | 'Azure Developer CLI' | 'Azure PowerShell';

export interface CredentialPlan {
  kind: CredentialKind;
  /** Names the credential in messages ("the client secret of app ..."); never holds a secret. */
  label: string;
  tenantId: string;
  clientId?: string;
  authorityHost: string;
  disableInstanceDiscovery: boolean;
  /** managed-identity: IDENTITY_ENDPOINT (or MSI_ENDPOINT); absent: the instance metadata service of a VM. */
  endpoint?: string;
  /** client-certificate: AZURE_CLIENT_CERTIFICATE_PATH. */
  certificatePath?: string;
  /** developer: the tools tried, in order. */
  tools?: DeveloperTool[];
}

/** Entra's own authority hosts; any other host is a proxy or a test endpoint. */
const ENTRA_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.microsoft.com',
  'login.windows.net',
  'sts.windows.net',
  'login.microsoftonline.us',
  'login.usgovcloudapi.net',
  'login.partner.microsoftonline.cn',
  'login.chinacloudapi.cn',
]);

export function selectCredential(settings: Settings, env: NodeJS.ProcessEnv = process.env, tenantId = settings.tenantId): CredentialPlan {
  const base = {
    tenantId,
    authorityHost: settings.authorityHost,
    disableInstanceDiscovery: !ENTRA_HOSTS.has(new URL(settings.authorityHost).hostname.toLowerCase()),
  };
  const clientId = settings.clientId;
  const secret = clientId && settings.clientSecret ? { ...base, kind: 'client-secret' as const, clientId } : undefined;
  const certificate =
    clientId && settings.clientCertificatePath
      ? { ...base, kind: 'client-certificate' as const, clientId, certificatePath: settings.clientCertificatePath }
      : undefined;
  const tokenFile = env.AZURE_FEDERATED_TOKEN_FILE?.trim();
  const workload = clientId && tokenFile ? { ...base, kind: 'workload-identity' as const, clientId } : undefined;
  const endpoint = env.IDENTITY_ENDPOINT?.trim() || env.MSI_ENDPOINT?.trim() || undefined;
  const managed = () => ({ ...base, kind: 'managed-identity' as const, clientId, endpoint });
  const developer = (tools: DeveloperTool[]) => ({ ...base, kind: 'developer' as const, tools });

  let plan: Omit<CredentialPlan, 'label'>;
  switch (settings.tokenCredentials) {
    case undefined:
      plan = secret ?? certificate ?? workload ?? (endpoint ? managed() : developer(['Azure CLI', 'Azure Developer CLI']));
      break;
    case 'prod':
      plan = secret ?? certificate ?? workload ?? managed();
      break;
    case 'EnvironmentCredential':
      plan = secret ?? certificate ?? unreachable('loadSettings refuses EnvironmentCredential without a secret or a certificate');
      break;
    case 'WorkloadIdentityCredential':
      plan = { ...base, kind: 'workload-identity', clientId };
      break;
    case 'ManagedIdentityCredential':
      plan = managed();
      break;
    case 'dev':
      plan = developer(['Azure CLI', 'Azure Developer CLI', 'Azure PowerShell']);
      break;
    case 'AzureCliCredential':
      plan = developer(['Azure CLI']);
      break;
    case 'AzureDeveloperCliCredential':
      plan = developer(['Azure Developer CLI']);
      break;
    case 'AzurePowerShellCredential':
      plan = developer(['Azure PowerShell']);
      break;
  }
  return { ...plan, label: labelOf(plan) };
}

function unreachable(why: string): never {
  throw new Error(why);
}

function labelOf(plan: Omit<CredentialPlan, 'label'>): string {
  switch (plan.kind) {
    case 'client-secret':
      return `the client secret of app ${plan.clientId}`;
    case 'client-certificate':
      return `the certificate ${plan.certificatePath} of app ${plan.clientId}`;
    case 'workload-identity':
      return `the workload identity of app ${plan.clientId ?? '(AZURE_CLIENT_ID not set)'}`;
    case 'managed-identity': {
      const which = plan.clientId ? `user-assigned, client id ${plan.clientId}` : 'system-assigned';
      return `the managed identity (${which}) ${plan.endpoint ? `at ${originOf(plan.endpoint)}` : 'of the instance metadata service'}`;
    }
    case 'developer':
      return `the developer sign-in (${plan.tools!.join(', ')})`;
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'IDENTITY_ENDPOINT';
  }
}
