/**
 * The Graph collections we sync, declared as data. One engine (./engine.ts) runs them all: adding a collection
 * is a declaration here, plus its settings, which are derived from `settingSuffix`.
 */

/** How a Graph property is stored in Table Storage. */
export type ColumnType =
  | 'string'
  | 'datetime' // typed Edm.DateTime, full 7-digit precision kept
  | 'boolean'
  | 'double'
  | 'json' // a Graph property that is already a JSON string (additionalInfo): kept as that string
  | 'location'; // flattened to locationCity, locationState, locationCountryOrRegion, locationLatitude, locationLongitude

/**
 * PartitionKey = `<tenantId>` or `<tenantId>_<yyyy-MM of an immutable datetime property>`. It must be derived from
 * properties that never change for a given id: an upsert into another partition would leave the old row behind.
 */
export type PartitionScheme = { by: 'tenant' } | { by: 'month'; property: string };

export interface CollectionDefinition<Name extends string = string> {
  name: Name;
  /** Graph path under the version segment. */
  path: string;
  /** Primary key property; becomes the RowKey. */
  key: 'id';
  /** The last-updated property the watermark moves on. */
  cursor: string;
  partition: PartitionScheme;
  /** The Graph properties we know and their storage types; properties Graph adds later are kept as well. */
  columns: Record<string, ColumnType>;
  /** Enum-valued properties: the values we know (Graph adds more; unknown values are stored as they come). */
  enums: Record<string, readonly string[]>;
  /** Columns the sync keeps running counts of, for the snapshot API. */
  aggregateBy: readonly string[];
  /** Upper-case stem of this collection's settings: SYNC_SCHEDULE_<stem>, TABLE_<stem>. */
  settingSuffix: string;
  defaultTable: string;
  defaultSchedule: string;
}

const RISK_LEVEL = ['low', 'medium', 'high', 'hidden', 'none', 'unknownFutureValue'] as const;
const RISK_STATE = ['none', 'confirmedSafe', 'remediated', 'dismissed', 'atRisk', 'confirmedCompromised', 'unknownFutureValue'] as const;

const riskDetections: CollectionDefinition<'riskDetections'> = {
  name: 'riskDetections',
  path: '/identityProtection/riskDetections',
  key: 'id',
  cursor: 'lastUpdatedDateTime',
  partition: { by: 'month', property: 'detectedDateTime' },
  columns: {
    requestId: 'string',
    correlationId: 'string',
    riskEventType: 'string',
    riskState: 'string',
    riskLevel: 'string',
    riskDetail: 'string',
    source: 'string',
    detectionTimingType: 'string',
    activity: 'string',
    tokenIssuerType: 'string',
    ipAddress: 'string',
    activityDateTime: 'datetime',
    detectedDateTime: 'datetime',
    lastUpdatedDateTime: 'datetime',
    userId: 'string',
    userDisplayName: 'string',
    userPrincipalName: 'string',
    additionalInfo: 'json',
    location: 'location',
  },
  enums: { riskLevel: RISK_LEVEL, riskState: RISK_STATE },
  aggregateBy: ['riskLevel', 'riskState'],
  settingSuffix: 'RISK_DETECTIONS',
  defaultTable: 'RiskDetections',
  defaultSchedule: '0 */10 * * * *',
};

const riskyUsers: CollectionDefinition<'riskyUsers'> = {
  name: 'riskyUsers',
  path: '/identityProtection/riskyUsers',
  key: 'id',
  cursor: 'riskLastUpdatedDateTime',
  partition: { by: 'tenant' },
  columns: {
    isDeleted: 'boolean',
    isProcessing: 'boolean',
    riskLastUpdatedDateTime: 'datetime',
    riskLevel: 'string',
    riskState: 'string',
    riskDetail: 'string',
    userDisplayName: 'string',
    userPrincipalName: 'string',
  },
  enums: { riskLevel: RISK_LEVEL, riskState: RISK_STATE },
  aggregateBy: ['riskLevel', 'riskState'],
  settingSuffix: 'RISKY_USERS',
  defaultTable: 'RiskyUsers',
  defaultSchedule: '0 5,35 * * * *',
};

export const COLLECTIONS = { riskDetections, riskyUsers } as const;
export type CollectionName = keyof typeof COLLECTIONS;
export type Collection = (typeof COLLECTIONS)[CollectionName];
export const COLLECTION_NAMES = Object.keys(COLLECTIONS) as CollectionName[];

export function isCollectionName(value: string): value is CollectionName {
  return Object.prototype.hasOwnProperty.call(COLLECTIONS, value);
}
