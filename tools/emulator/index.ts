/** The Graph emulator: public API. */
export { ensureEmulatorCertificate, type EmulatorCertificate } from './certificate.js';
export { startGraphEmulator, DEFAULT_CLIENT_ID, DEFAULT_RESOURCE, DEFAULT_TENANT_ID } from './server.js';
export type { GraphEmulator, GraphEmulatorOptions, GraphEmulatorSettings, ListOptions } from './types.js';
export type { CollectionSpec, PropertyTypeName } from './collections.js';
export { FaultController, type FaultKind, type FaultSpec } from './faults.js';
export { FORBIDDEN_CODE, FORBIDDEN_MESSAGE, UNLICENSED_MESSAGES, type UnlicensedCode } from './licence.js';
export type { ThrottlingSettings } from './throttle.js';
export type { HistoryNote, UpsertOptions } from './store.js';
export type { EmulatorStats, RequestLogEntry, RouteName } from './stats.js';
export {
  generateRiskDetections,
  generateRiskyUsers,
  generateUserIdentities,
  lateOfflineDetections,
  rescoredLate,
  riskyUserTimeline,
  seedRiskyUsers,
  startActivity,
  type Activity,
  type ActivityOptions,
  type LateOfflineOptions,
  type RiskDetectionGeneratorOptions,
  type RiskyUserGeneratorOptions,
  type RiskyUserVersion,
  type TimelineOptions,
  type UserIdentity,
} from './data.js';
export { ADMIN_IDS, RISK_EVENT_TYPES, isPremiumDetection, type EventTypeInfo } from './catalog.js';
export {
  COLLECTION_NAMES,
  SCHEMAS,
  HISTORY_SCHEMA,
  LICENCES,
  PERMISSIONS,
  RISK_DETAIL,
  RISK_EVENT_TYPE,
  RISK_LEVEL,
  RISK_STATE,
  DETECTION_TIMING_TYPE,
  ACTIVITY,
  TOKEN_ISSUER_TYPE,
  type ApiVersion,
  type BuiltInCollection,
  type CollectionName,
  type CollectionSchema,
  type GenericRecord,
  type Licence,
  type PropertyDefinition,
  type PropertyType,
  type RecordFor,
  type RecordInput,
  type RecordOf,
  type RiskDetection,
  type RiskUserActivity,
  type RiskyUser,
  type RiskyUserHistoryItem,
  type SignInLocation,
  type GeoCoordinates,
} from './model.js';
export { parseFilter, FilterError, type FilterOptions, type FilterPredicate } from './filter.js';
export { normalizeDateTime } from './timestamps.js';
export { Prng } from './prng.js';
