/** The Graph emulator: public API. */
export { ensureEmulatorCertificate, type EmulatorCertificate } from './certificate.js';
export {
  startGraphEmulator,
  DEFAULT_CLIENT_ID,
  DEFAULT_RESOURCE,
  DEFAULT_TENANT_ID,
  type GraphEmulator,
  type GraphEmulatorOptions,
  type GraphEmulatorSettings,
  type ListOptions,
} from './server.js';
export { FaultController, type FaultKind, type FaultSpec } from './faults.js';
export type { ThrottlingSettings } from './throttle.js';
export type { UpsertOptions } from './store.js';
export type { EmulatorStats, RequestLogEntry, RouteName } from './stats.js';
export {
  generateRiskDetections,
  generateRiskyUsers,
  generateUserIdentities,
  startActivity,
  type Activity,
  type ActivityOptions,
  type RiskDetectionGeneratorOptions,
  type RiskyUserGeneratorOptions,
  type UserIdentity,
} from './data.js';
export {
  COLLECTION_NAMES,
  SCHEMAS,
  RISK_DETAIL,
  RISK_LEVEL,
  RISK_STATE,
  DETECTION_TIMING_TYPE,
  ACTIVITY,
  TOKEN_ISSUER_TYPE,
  type ApiVersion,
  type CollectionName,
  type RecordInput,
  type RecordOf,
  type RiskDetection,
  type RiskyUser,
  type SignInLocation,
  type GeoCoordinates,
} from './model.js';
export { parseFilter, FilterError, type FilterOptions, type FilterPredicate } from './filter.js';
export { normalizeDateTime } from './timestamps.js';
export { Prng } from './prng.js';
