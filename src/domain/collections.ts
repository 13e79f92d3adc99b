/**
 * The Graph collections this deployment syncs, declared as data (./collection.ts says what a declaration holds).
 * One engine runs them all; settings, tables and API routes are derived from the declarations.
 */
import { catalogOf, type Catalog, type CollectionDefinition } from './collection';
import { RISK_DETAIL, RISK_EVENT_TYPE, RISK_LEVEL, RISK_STATE } from './enums';

export type { ApiFilter, Catalog, CollectionDefinition, ColumnType, PartitionScheme, ReadStyle } from './collection';
export { catalogOf } from './collection';

/** Identity Protection and Conditional Access share one budget: 1 request per second per tenant, for all apps. */
export const IDENTITY_PROTECTION = 'identityProtection';


const riskDetections: CollectionDefinition = {
  name: 'riskDetections',
  path: '/identityProtection/riskDetections',
  key: 'id',
  cursor: 'lastUpdatedDateTime',
  read: 'incremental',
  pageSize: 500,
  permission: 'IdentityRiskEvent.Read.All',
  licence: 'Microsoft Entra ID P1 or P2 (P1 sees premium detections as generic, with hidden risk)',
  rateBudget: IDENTITY_PROTECTION,
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
  enums: { riskLevel: RISK_LEVEL, riskState: RISK_STATE, riskDetail: RISK_DETAIL, riskEventType: RISK_EVENT_TYPE },
  aggregateBy: ['riskLevel', 'riskState'],
  tracked: ['riskState', 'riskLevel', 'riskDetail', 'riskEventType'],
  apiFilters: [
    { name: 'riskLevel', kind: 'enum' },
    { name: 'riskState', kind: 'enum' },
    { name: 'userId', kind: 'guid', column: 'userId' },
    { name: 'userPrincipalName', kind: 'text', column: 'userPrincipalName' },
  ],
  settingSuffix: 'RISK_DETECTIONS',
  defaultTable: 'RiskDetections',
  defaultChangesTable: 'RiskDetectionChanges',
  defaultSchedule: '0 */10 * * * *',
};

const riskyUsers: CollectionDefinition = {
  name: 'riskyUsers',
  path: '/identityProtection/riskyUsers',
  key: 'id',
  cursor: 'riskLastUpdatedDateTime',
  read: 'incremental',
  pageSize: 500,
  permission: 'IdentityRiskyUser.Read.All',
  licence: 'Microsoft Entra ID P2',
  rateBudget: IDENTITY_PROTECTION,
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
  enums: { riskLevel: RISK_LEVEL, riskState: RISK_STATE, riskDetail: RISK_DETAIL },
  aggregateBy: ['riskLevel', 'riskState'],
  tracked: ['riskState', 'riskLevel', 'riskDetail'],
  apiFilters: [
    { name: 'riskLevel', kind: 'enum' },
    { name: 'riskState', kind: 'enum' },
    // A risky user's id is the user's object id.
    { name: 'userId', kind: 'guid', column: 'id' },
    { name: 'userPrincipalName', kind: 'text', column: 'userPrincipalName' },
  ],
  settingSuffix: 'RISKY_USERS',
  defaultTable: 'RiskyUsers',
  defaultChangesTable: 'RiskyUserChanges',
  defaultSchedule: '0 5,35 * * * *',
};

/** The collections of a deployment unless told otherwise. */
export const DEFAULT_CATALOG: Catalog = catalogOf([riskDetections, riskyUsers]);

/** A collection's name (the declared names are checked at run time, against the catalog in use). */
export type CollectionName = string;

/** The default catalog's declarations by name, and their names. */
export const COLLECTIONS: Readonly<Record<string, CollectionDefinition>> = Object.fromEntries(DEFAULT_CATALOG.collections.map((c) => [c.name, c]));
export const COLLECTION_NAMES: readonly string[] = DEFAULT_CATALOG.names;

export function isCollectionName(value: string, catalog: Catalog = DEFAULT_CATALOG): boolean {
  return catalog.get(value) !== undefined;
}
