/**
 * The world every test, the bench and the soak run the sync in: Azurite (a child process, in memory) and the Graph
 * emulator (HTTPS on loopback, with its managed-identity endpoint), the app settings that point the sync at them, and
 * the environment of a child process that must see those settings and nothing of the caller's own.
 */
import { startAzurite, type Azurite, type AzuriteOptions } from '../azurite/azurite';
import { ensureEmulatorCertificate, startGraphEmulator, type GraphEmulator, type GraphEmulatorOptions } from '../emulator';

export interface World {
  azurite: Azurite;
  emulator: GraphEmulator;
  /** The emulator's certificate, for NODE_EXTRA_CA_CERTS. */
  certPath: string;
  close(): Promise<void>;
}

/** The variables this project reads (settings, credentials, the trusted certificate): never inherited by a child. */
export const SETTING_VARIABLES = /^(AZURE_|GRAPH_|SYNC_|TABLE|HTTP_|API_|SNAPSHOT_|IDENTITY_|MSI_|QUEUE_|RUNS_|NODE_EXTRA_CA_CERTS$|DEMO_)/;

/**
 * Starts Azurite (`azuriteOptions.queue`: its queue service too) and the emulator side by side; if one fails, the
 * other is stopped before the failure is thrown.
 */
export async function startWorld(emulatorOptions: GraphEmulatorOptions = {}, azuriteOptions: AzuriteOptions = {}): Promise<World> {
  const { certPath } = await ensureEmulatorCertificate();
  const [a, e] = await Promise.allSettled([startAzurite(azuriteOptions), startGraphEmulator({ throttling: false, ...emulatorOptions })]);
  if (a.status === 'rejected' || e.status === 'rejected') {
    await Promise.allSettled([a.status === 'fulfilled' && a.value.stop(), e.status === 'fulfilled' && e.value.close()]);
    throw a.status === 'rejected' ? a.reason : (e as PromiseRejectedResult).reason;
  }
  const azurite = a.value;
  const emulator = e.value;
  return { azurite, emulator, certPath, close: async () => void (await Promise.allSettled([azurite.stop(), emulator.close()])) };
}

/** The app settings of a sync against this emulator and the given Table endpoint (Azurite, or a proxy in front of it). */
export function worldSettings(emulator: GraphEmulator, tablesConnectionString: string): Record<string, string> {
  return {
    AZURE_TENANT_ID: emulator.tenantId,
    IDENTITY_ENDPOINT: emulator.identityEndpoint,
    IDENTITY_HEADER: emulator.identityHeader,
    GRAPH_ENDPOINT: emulator.graphUrl,
    TABLES_CONNECTION_STRING: tablesConnectionString,
  };
}

/**
 * A child process's environment: the caller's own without any variable this project reads, then `settings` (the
 * world's, or only a test's own for a child whose settings must come from a file) and NODE_EXTRA_CA_CERTS when a
 * certificate is given.
 */
export function childEnvironment(settings: Record<string, string>, certPath?: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) if (!SETTING_VARIABLES.test(key)) env[key] = value;
  return { ...env, ...settings, ...(certPath ? { NODE_EXTRA_CA_CERTS: certPath } : {}) };
}
