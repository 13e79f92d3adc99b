/** The emulated Graph resources, from ../shared/reference/graph-identity-protection.md. */

export type CollectionName = 'riskDetections' | 'riskyUsers';
export const COLLECTION_NAMES: readonly CollectionName[] = ['riskDetections', 'riskyUsers'];
export type ApiVersion = 'v1.0' | 'beta';

export type PropertyType = 'string' | 'datetime' | 'boolean' | 'enum' | 'object';

export interface PropertyDefinition {
  type: PropertyType;
  /** Enum members in wire order; members after `unknownFutureValue` need `Prefer: include-unknown-enum-members`. */
  members?: readonly string[];
  /** Only in /beta. */
  betaOnly?: boolean;
}

export interface CollectionSchema {
  name: CollectionName;
  /** The OData type, for error messages. */
  entityType: string;
  properties: Readonly<Record<string, PropertyDefinition>>;
}

export const RISK_LEVEL = ['low', 'medium', 'high', 'hidden', 'none', 'unknownFutureValue'] as const;
export const RISK_STATE = ['none', 'confirmedSafe', 'remediated', 'dismissed', 'atRisk', 'confirmedCompromised', 'unknownFutureValue'] as const;
export const RISK_DETAIL = [
  'none',
  'adminGeneratedTemporaryPassword',
  'userPerformedSecuredPasswordChange',
  'userPerformedSecuredPasswordReset',
  'adminConfirmedSigninSafe',
  'aiConfirmedSigninSafe',
  'userPassedMFADrivenByRiskBasedPolicy',
  'adminDismissedAllRiskForUser',
  'adminConfirmedSigninCompromised',
  'hidden',
  'adminConfirmedUserCompromised',
  'unknownFutureValue',
  'm365DAdminDismissedDetection',
  'adminConfirmedServicePrincipalCompromised',
  'adminDismissedAllRiskForServicePrincipal',
  'userChangedPasswordOnPremises',
  'adminDismissedRiskForSignIn',
  'adminConfirmedAccountSafe',
  'microsoftRevokedSessions',
] as const;
export const DETECTION_TIMING_TYPE = ['notDefined', 'realtime', 'nearRealtime', 'offline', 'unknownFutureValue'] as const;
export const ACTIVITY = ['signin', 'user', 'unknownFutureValue', 'servicePrincipal'] as const;
export const TOKEN_ISSUER_TYPE = [
  'AzureAD',
  'ADFederationServices',
  'UnknownFutureValue',
  'AzureADBackupAuth',
  'ADFederationServicesMFAAdapter',
  'NPSExtension',
] as const;

export type RiskLevel = (typeof RISK_LEVEL)[number];
export type RiskState = (typeof RISK_STATE)[number];
export type RiskDetail = (typeof RISK_DETAIL)[number];

export interface GeoCoordinates {
  latitude: number | null;
  longitude: number | null;
  [key: string]: unknown;
}

export interface SignInLocation {
  city: string | null;
  state: string | null;
  countryOrRegion: string | null;
  geoCoordinates: GeoCoordinates | null;
  [key: string]: unknown;
}

/** Enum-valued properties are typed as string: Graph adds members, and the emulator serves whatever it holds. */
export interface RiskDetection {
  id: string;
  requestId: string | null;
  correlationId: string | null;
  riskEventType: string | null;
  riskState: string | null;
  riskLevel: string | null;
  riskDetail: string | null;
  source: string | null;
  detectionTimingType: string | null;
  activity: string | null;
  tokenIssuerType: string | null;
  ipAddress: string | null;
  activityDateTime: string | null;
  detectedDateTime: string | null;
  lastUpdatedDateTime: string | null;
  userId: string | null;
  userDisplayName: string | null;
  userPrincipalName: string | null;
  /** A JSON array encoded as a string: `[{"Key":"userAgent","Value":"..."}]`. */
  additionalInfo: string | null;
  location: SignInLocation | null;
  [key: string]: unknown;
}

export interface RiskyUser {
  id: string;
  isDeleted: boolean | null;
  isProcessing: boolean | null;
  riskLastUpdatedDateTime: string | null;
  riskLevel: string | null;
  riskState: string | null;
  riskDetail: string | null;
  userDisplayName: string | null;
  userPrincipalName: string | null;
  [key: string]: unknown;
}

export interface RecordOf {
  riskDetections: RiskDetection;
  riskyUsers: RiskyUser;
}

/** What the data API accepts: `id` is required; missing properties are served as null. */
export type RecordInput<C extends CollectionName> = Partial<RecordOf[C]> & { id: string };

const s: PropertyDefinition = { type: 'string' };
const dt: PropertyDefinition = { type: 'datetime' };
const enumOf = (members: readonly string[]): PropertyDefinition => ({ type: 'enum', members });

export const SCHEMAS: Readonly<Record<CollectionName, CollectionSchema>> = {
  riskDetections: {
    name: 'riskDetections',
    entityType: 'microsoft.graph.riskDetection',
    properties: {
      id: s,
      requestId: s,
      correlationId: s,
      riskEventType: s,
      riskState: enumOf(RISK_STATE),
      riskLevel: enumOf(RISK_LEVEL),
      riskDetail: enumOf(RISK_DETAIL),
      source: s,
      detectionTimingType: enumOf(DETECTION_TIMING_TYPE),
      activity: enumOf(ACTIVITY),
      tokenIssuerType: enumOf(TOKEN_ISSUER_TYPE),
      ipAddress: s,
      activityDateTime: dt,
      detectedDateTime: dt,
      lastUpdatedDateTime: dt,
      userId: s,
      userDisplayName: s,
      userPrincipalName: s,
      additionalInfo: s,
      location: { type: 'object' },
      mitreTechniqueId: { type: 'string', betaOnly: true },
      riskType: { type: 'string', betaOnly: true },
    },
  },
  riskyUsers: {
    name: 'riskyUsers',
    entityType: 'microsoft.graph.riskyUser',
    properties: {
      id: s,
      isDeleted: { type: 'boolean' },
      isProcessing: { type: 'boolean' },
      riskLastUpdatedDateTime: dt,
      riskLevel: enumOf(RISK_LEVEL),
      riskState: enumOf(RISK_STATE),
      riskDetail: enumOf(RISK_DETAIL),
      userDisplayName: s,
      userPrincipalName: s,
    },
  },
};

/** Property names visible in an API version. */
export function propertiesOf(collection: CollectionName, version: ApiVersion): string[] {
  return Object.entries(SCHEMAS[collection].properties)
    .filter(([, def]) => version === 'beta' || !def.betaOnly)
    .map(([name]) => name);
}

/** Case-insensitive lookup of a property name (Graph accepts `LastUpdatedDateTime`), undefined if unknown. */
export function resolveProperty(collection: CollectionName, version: ApiVersion, name: string): string | undefined {
  const lower = name.toLowerCase();
  return propertiesOf(collection, version).find((p) => p.toLowerCase() === lower);
}

/**
 * The value Graph sends for an enum member: members after `unknownFutureValue` (and members this emulator does not
 * know, which can only be newer) become the sentinel unless the client opted in.
 */
export function wireEnumValue(members: readonly string[], value: string, includeUnknownMembers: boolean): string {
  if (includeUnknownMembers) return value;
  const sentinel = members.findIndex((m) => m.toLowerCase() === 'unknownfuturevalue');
  const index = members.indexOf(value);
  return index >= 0 && index < sentinel ? value : members[sentinel]!;
}
