/**
 * Risky user history (`/identityProtection/riskyUsers/{id}/history`): one riskyUserHistoryItem per change of a
 * user's risk, kept as the riskyUsers upserts happen.
 *
 * Ids follow the Graph reference's sample (riskyuser-list-history): the current item's id is the user's id, and the
 * older items' ids are the user's id followed by the .NET ticks of their riskLastUpdatedDateTime
 * (`41a31b00-...-6d4f14e74c69636901020140973557`). So the item that is current today gets another id once a newer
 * change supersedes it. The list comes current item first, then the older ones from the oldest, as in that sample.
 */
import { type ApiVersion, RISK_DETAIL, type RiskUserActivity, wireEnumValue } from './model.js';
import type { HistoryNote, StoredRecord, UpsertOptions } from './store.js';
import { ticksOf } from './timestamps.js';

interface Entry {
  item: StoredRecord;
  visibleAt: number;
}

/** .NET ticks (100 ns since 0001-01-01) of the Unix epoch. */
const DOTNET_EPOCH_TICKS = 621_355_968_000_000_000n;
const RISK_PROPERTIES = ['riskLevel', 'riskState', 'riskDetail'] as const;
const USER_PROPERTIES = [
  'isDeleted',
  'isProcessing',
  'riskLastUpdatedDateTime',
  'riskLevel',
  'riskState',
  'riskDetail',
  'userDisplayName',
  'userPrincipalName',
];

export class HistoryStore {
  private readonly data = new Map<string, Entry[]>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Appends an item for a riskyUsers version when its risk changed (or a note says why it should). */
  record(user: StoredRecord, previous: StoredRecord | undefined, options: UpsertOptions, visibleAt: number): void {
    if (options.history === false) return;
    const changed = !previous || RISK_PROPERTIES.some((p) => (previous[p] ?? null) !== (user[p] ?? null));
    if (!changed && options.history === undefined) return;
    const entries = this.data.get(user.id) ?? [];
    const item = historyItem(user, options.history ?? {});
    item.id = uniqueId(user.id, user.riskLastUpdatedDateTime, entries);
    entries.push({ item, visibleAt });
    this.data.set(user.id, entries);
  }

  remove(userId: string): void {
    this.data.delete(userId);
  }

  clear(): void {
    this.data.clear();
  }

  /**
   * The items served for a user (`user` is the riskyUser version served now): the current item first, with the
   * user's id as its id, then the older ones from the oldest. `onlyCurrent` reproduces
   * microsoftgraph/microsoft-graph-docs#16407 (history holds the current state only).
   */
  served(user: StoredRecord, options: { onlyCurrent: boolean; visibleOnly: boolean }): StoredRecord[] {
    const now = this.now();
    const entries = (this.data.get(user.id) ?? []).filter((e) => !options.visibleOnly || e.visibleAt <= now);
    if (entries.length === 0) return [{ ...historyItem(user, {}), id: user.id }];
    const items = entries.map((e) => e.item);
    const current = { ...items[items.length - 1]!, id: user.id };
    return options.onlyCurrent ? [current] : [current, ...items.slice(0, -1)];
  }
}

function historyItem(user: StoredRecord, note: HistoryNote): StoredRecord {
  const item: StoredRecord = { id: user.id };
  for (const property of USER_PROPERTIES) item[property] = user[property] ?? null;
  const riskDetail = typeof user.riskDetail === 'string' ? user.riskDetail : null;
  const activity: RiskUserActivity = {
    detail: note.detail !== undefined ? note.detail : riskDetail === 'none' ? null : riskDetail,
    riskEventTypes: [...(note.riskEventTypes ?? [])],
  };
  return { ...item, userId: user.id, initiatedBy: note.initiatedBy ?? null, activity };
}

function uniqueId(userId: string, timestamp: unknown, entries: readonly Entry[]): string {
  let ticks = typeof timestamp === 'string' ? ticksOf(timestamp) + DOTNET_EPOCH_TICKS : DOTNET_EPOCH_TICKS;
  const taken = new Set(entries.map((e) => e.item.id));
  while (taken.has(`${userId}${ticks}`)) ticks++;
  return `${userId}${ticks}`;
}

/** `activity` as Graph sends it: `detail` is a riskDetail member (hidden after the sentinel); beta adds `eventTypes`. */
export function wireActivity(value: unknown, version: ApiVersion, includeUnknownEnums: boolean): unknown {
  if (!value || typeof value !== 'object') return value ?? null;
  const activity = value as Partial<RiskUserActivity>;
  const detail = typeof activity.detail === 'string' ? wireEnumValue(RISK_DETAIL, activity.detail, includeUnknownEnums) : (activity.detail ?? null);
  const riskEventTypes = [...(activity.riskEventTypes ?? [])];
  return version === 'beta' ? { eventTypes: riskEventTypes, riskEventTypes, detail } : { riskEventTypes, detail };
}
