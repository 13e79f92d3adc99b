/**
 * What our requests say to Graph and what its refusals mean: the first page of a query, next links, licence and
 * permission errors. Facts from the reference (/identityProtection, shared/reference/graph-identity-protection.md).
 */
import { GraphRequestError } from './errors';

export interface PageQuery {
  /** `$filter`; datetime literals unquoted (`lastUpdatedDateTime ge 2026-11-01T00:00:00.0000000Z`). */
  filter?: string;
  /** `$top`: Graph's page size for these resources is at most 500. */
  top: number;
}

/** The absolute URL of the first page of a query. Next pages are Graph's next links, followed verbatim. */
export function firstPageUrl(origin: string, path: string, query: PageQuery): string {
  const parts = [`$top=${query.top}`];
  if (query.filter) parts.push(`$filter=${encodeURIComponent(query.filter).replace(/%24/g, '$')}`);
  return `${origin}/v1.0${path}?${parts.join('&')}`;
}

/**
 * Graph refused a next link (an expired or unknown skip token): a 4xx other than auth, access and throttling. Whether
 * it is one that really expired or the phantom last link of microsoftgraph/microsoft-graph-docs#16332 (a 400 with an
 * empty message after a last page of exactly `$top` records) can not be told from the answer alone; the engine starts
 * the window over, which is right for both (src/sync/plan.ts restartWindow).
 */
export function isRefusedNextLink(error: unknown): boolean {
  return error instanceof GraphRequestError && [400, 404, 410].includes(error.status);
}

/** 403 codes Graph answers for a tenant without the licence a resource needs (seen in the wild; they do not heal). */
export const UNLICENSED_CODES: ReadonlySet<string> = new Set(['Authentication_RequestFromNonPremiumTenantOrB2CTenant', 'NoLicense']);

export interface AccessProblem {
  state: 'unlicensed' | 'forbidden';
  code: string;
  message: string;
  action: string;
}

/**
 * A 403 that no retry can heal: the tenant lacks the licence (`unlicensed`) or the identity the permission
 * (`forbidden`). Undefined for any other error.
 */
export function accessProblem(error: unknown, need: { collection: string; permission: string; licence: string }): AccessProblem | undefined {
  if (!(error instanceof GraphRequestError) || error.status !== 403) return undefined;
  if (UNLICENSED_CODES.has(error.code) || /licen[cs]e|premium/i.test(error.graphMessage)) {
    return {
      state: 'unlicensed',
      code: error.code,
      message: error.graphMessage,
      action: `${need.collection} needs ${need.licence}: the tenant does not have it (Graph: ${error.code}). The other collections keep syncing.`,
    };
  }
  return {
    state: 'forbidden',
    code: error.code,
    message: error.graphMessage,
    action:
      `grant the identity the Microsoft Graph application permission ${need.permission} (admin consent; ` +
      'infra/grant-graph-permissions.sh or .ps1), then run `risk-sync sync` to try again',
  };
}
