/**
 * The emulated Graph resources, from ../shared/reference/graph-identity-protection.md: the built-in collections'
 * schemas, the risky user history item, and the enum values (shared with the product through src/domain/enums.ts).
 */
import { RISK_DETAIL, RISK_EVENT_TYPE, RISK_LEVEL, RISK_STATE } from '../../src/domain/enums';

export { RISK_DETAIL, RISK_EVENT_TYPE, RISK_LEVEL, RISK_STATE };
export type { RiskDetail, RiskEventType, RiskLevel, RiskState } from '../../src/domain/enums';

/** The collections every emulator serves; more can be defined at run time (see CollectionRegistry). */
export type BuiltInCollection = 'riskDetections' | 'riskyUsers';
export const COLLECTION_NAMES: readonly BuiltInCollection[] = ['riskDetections', 'riskyUsers'];
/** A collection's name: a built-in one or one defined at run time. */
export type CollectionName = BuiltInCollection | (string & {});
export type ApiVersion = 'v1.0' | 'beta';

/** `number` and `collection` (an array of strings) exist for collections defined at run time and for history items. */
export type PropertyType = 'string' | 'datetime' | 'boolean' | 'enum' | 'object' | 'number' | 'collection';

export interface PropertyDefinition {
  type: PropertyType;
  /** Enum members in wire order; members after `unknownFutureValue` need `Prefer: include-unknown-enum-members`. */
  members?: readonly string[];
  /** Only in /beta. */
  betaOnly?: boolean;
}

/** What a tenant has bought: Entra ID P2, P1, or neither (Free). */
export type Licence = 'P2' | 'P1' | 'none';
export const LICENCES: readonly Licence[] = ['none', 'P1', 'P2'];

export interface CollectionSchema {
  name: CollectionName;
  /** The path under the version segment, e.g. `/identityProtection/riskDetections`. */
  path: string;
  /** The OData type, for error messages and @odata.context. */
  entityType: string;
  /** The last-updated property a sync moves its watermark on (informative; every datetime can be filtered). */
  cursor?: string;
  properties: Readonly<Record<string, PropertyDefinition>>;
  /** The application permission a token needs (undefined: none). */
  permission?: string;
  /** The lowest licence that serves the collection (undefined: every tenant). */
  licence?: 'P1' | 'P2';
  /** Page size without `$top` (Graph's default: 20) and the largest `$top` accepted (500). */
  defaultTop: number;
  maxTop: number;
}

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

/** Application permissions (least privileged) of the Identity Protection collections. */
export const PERMISSIONS = {
  riskEvents: 'IdentityRiskEvent.Read.All',
  riskyUsers: 'IdentityRiskyUser.Read.All',
} as const;

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

/** riskUserActivity: what changed a user's risk. `detail` is a riskDetail member. */
export interface RiskUserActivity {
  detail: string | null;
  riskEventTypes: string[];
}

/** riskyUserHistoryItem: a riskyUser as it was after one change, with who or what changed it. */
export interface RiskyUserHistoryItem extends RiskyUser {
  userId: string;
  /** The object id of the actor (an admin, the user); null when Identity Protection itself changed the risk. */
  initiatedBy: string | null;
  activity: RiskUserActivity;
}

export interface RecordOf {
  riskDetections: RiskDetection;
  riskyUsers: RiskyUser;
}

/** A record of a collection defined at run time. */
export type GenericRecord = Record<string, unknown> & { id: string };
export type RecordFor<C extends CollectionName> = C extends keyof RecordOf ? RecordOf[C] : GenericRecord;

/** What the data API accepts: `id` is required; missing properties are served as null. */
export type RecordInput<C extends CollectionName> = Partial<RecordFor<C>> & { id: string };

const s: PropertyDefinition = { type: 'string' };
const dt: PropertyDefinition = { type: 'datetime' };
const bool: PropertyDefinition = { type: 'boolean' };
const enumOf = (members: readonly string[]): PropertyDefinition => ({ type: 'enum', members });

export const SCHEMAS: Readonly<Record<BuiltInCollection, CollectionSchema>> = {
  riskDetections: {
    name: 'riskDetections',
    path: '/identityProtection/riskDetections',
    entityType: 'microsoft.graph.riskDetection',
    cursor: 'lastUpdatedDateTime',
    permission: PERMISSIONS.riskEvents,
    licence: 'P1',
    defaultTop: 20,
    maxTop: 500,
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
    path: '/identityProtection/riskyUsers',
    entityType: 'microsoft.graph.riskyUser',
    cursor: 'riskLastUpdatedDateTime',
    permission: PERMISSIONS.riskyUsers,
    licence: 'P2',
    defaultTop: 20,
    maxTop: 500,
    properties: {
      id: s,
      isDeleted: bool,
      isProcessing: bool,
      riskLastUpdatedDateTime: dt,
      riskLevel: enumOf(RISK_LEVEL),
      riskState: enumOf(RISK_STATE),
      riskDetail: enumOf(RISK_DETAIL),
      userDisplayName: s,
      userPrincipalName: s,
    },
  },
};

/** `/identityProtection/riskyUsers/{id}/history`: riskyUserHistoryItem inherits riskyUser's properties. */
export const HISTORY_SCHEMA: CollectionSchema = {
  name: 'riskyUsers/history',
  path: '/identityProtection/riskyUsers/{id}/history',
  entityType: 'microsoft.graph.riskyUserHistoryItem',
  cursor: 'riskLastUpdatedDateTime',
  permission: PERMISSIONS.riskyUsers,
  licence: 'P2',
  defaultTop: 20,
  maxTop: 500,
  properties: {
    ...SCHEMAS.riskyUsers.properties,
    userId: s,
    initiatedBy: s,
    activity: { type: 'object' },
  },
};

/** Property names visible in an API version. */
export function propertiesOf(schema: CollectionSchema, version: ApiVersion): string[] {
  return Object.entries(schema.properties)
    .filter(([, def]) => version === 'beta' || !def.betaOnly)
    .map(([name]) => name);
}

/** Case-insensitive lookup of a property name (Graph accepts `LastUpdatedDateTime`), undefined if unknown. */
export function resolveProperty(schema: CollectionSchema, version: ApiVersion, name: string): string | undefined {
  const lower = name.toLowerCase();
  return propertiesOf(schema, version).find((p) => p.toLowerCase() === lower);
}

/**
 * The value Graph sends for an enum member: members after `unknownFutureValue` (and members this emulator does not
 * know, which can only be newer) become the sentinel unless the client opted in. An enum without the sentinel (one
 * a test defined) is served as it is.
 */
export function wireEnumValue(members: readonly string[], value: string, includeUnknownMembers: boolean): string {
  const sentinel = members.findIndex((m) => m.toLowerCase() === 'unknownfuturevalue');
  if (includeUnknownMembers || sentinel < 0) return value;
  const index = members.indexOf(value);
  return index >= 0 && index < sentinel ? value : members[sentinel]!;
}
