/**
 * What a tenant's licence and the caller's permissions let it read, as Graph answers them.
 *
 * - riskyUsers and its history need Entra ID P2; riskDetections needs P1 or P2 (Graph reference, "List riskyUsers" and
 *   "List riskDetections" notes). Without the licence: 403 with a code seen in the wild,
 *   `Authentication_RequestFromNonPremiumTenantOrB2CTenant` or `NoLicense` (see the reference notes in
 *   ../shared/reference/graph-identity-protection.md).
 * - A token without the collection's application permission: 403 `Authorization_RequestDenied`.
 * - P1 tenants see premium detections as `generic`, with riskLevel and riskDetail `hidden` (Entra, "What are risk
 *   detections?": "Additional risk detected").
 */
import { isPremiumDetection } from './catalog.js';
import { type CollectionSchema, LICENCES, type Licence } from './model.js';
import type { StoredRecord } from './store.js';

export type UnlicensedCode = 'Authentication_RequestFromNonPremiumTenantOrB2CTenant' | 'NoLicense';

export const UNLICENSED_MESSAGES: Readonly<Record<UnlicensedCode, string>> = {
  Authentication_RequestFromNonPremiumTenantOrB2CTenant: 'Your tenant is not licensed for this feature.',
  NoLicense: 'Tenant does not meet license requirement!',
};

export const FORBIDDEN_CODE = 'Authorization_RequestDenied';
export const FORBIDDEN_MESSAGE = 'Insufficient privileges to complete the operation.';

export function isLicence(value: unknown): value is Licence {
  return typeof value === 'string' && (LICENCES as readonly string[]).includes(value);
}

export function isUnlicensedCode(value: unknown): value is UnlicensedCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(UNLICENSED_MESSAGES, value);
}

/** True when a tenant with `licence` is served the collection. */
export function licensed(schema: CollectionSchema, licence: Licence): boolean {
  return schema.licence === undefined || LICENCES.indexOf(licence) >= LICENCES.indexOf(schema.licence);
}

/** True when a token carrying `permissions` may read the collection (permission names compare case-insensitively). */
export function permitted(schema: CollectionSchema, permissions: readonly string[]): boolean {
  if (schema.permission === undefined) return true;
  const needed = schema.permission.toLowerCase();
  return permissions.some((p) => p.toLowerCase() === needed);
}

/** A record as the tenant sees it: on P1, a premium detection is `generic` with its risk `hidden`. */
export function tenantView(schema: CollectionSchema, record: StoredRecord, licence: Licence): StoredRecord {
  if (licence !== 'P1' || schema.name !== 'riskDetections' || !isPremiumDetection(record.riskEventType as string | null)) return record;
  return { ...record, riskEventType: 'generic', riskLevel: 'hidden', riskDetail: 'hidden' };
}
