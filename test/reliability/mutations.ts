import { generateRiskDetections, generateRiskyUsers, Prng, type GraphEmulator, type RiskDetection, type RiskyUser } from '../../tools/emulator';
import type { Mutation } from './schedule';

/**
 * The tenant's data for a seed, and the changes made to it between runs, as Graph would show them: every change
 * carries a cursor of "now" (later than every cursor before it), except late detections, whose cursor is older than
 * the time they surface.
 */
const DAY = 86_400_000;
const LEVELS = ['low', 'medium', 'high'] as const;

export function seedTenant(emulator: GraphEmulator, seed: number, counts: { users: number; detections: number }, now = Date.now()): void {
  const users = generateRiskyUsers(counts.users, { seed, from: new Date(now - 40 * DAY), to: new Date(now - 3_600_000) });
  emulator.upsert('riskyUsers', users);
  emulator.upsert(
    'riskDetections',
    generateRiskDetections(counts.detections, { seed, users, from: new Date(now - 40 * DAY), to: new Date(now - 3_600_000) }),
  );
}

/** Cursors of changes: now, and strictly later than the previous one. */
export class Clock {
  private last = 0;
  next(): string {
    this.last = Math.max(Date.now(), this.last + 1);
    return new Date(this.last).toISOString();
  }
}

export interface MutationResult {
  /** performance.now() by which every late record is visible. */
  visibleBy: number;
  changed: number;
}

export function applyMutations(emulator: GraphEmulator, mutations: Mutation[], rng: Prng, clock: Clock): MutationResult {
  let visibleBy = 0;
  let changed = 0;
  for (const m of mutations) {
    switch (m.kind) {
      case 'update': {
        if (m.collection === 'riskDetections') {
          const all = emulator.list('riskDetections', { visibleOnly: true });
          for (let i = 0; i < m.n && all.length > 0; i++) {
            const d = rng.pick(all);
            const state = rng.pick(['atRisk', 'dismissed', 'remediated', 'confirmedSafe', 'confirmedCompromised'] as const);
            emulator.upsert('riskDetections', { ...d, riskState: state, riskLevel: rng.pick(LEVELS), lastUpdatedDateTime: clock.next() });
            changed++;
          }
        } else {
          const all = emulator.list('riskyUsers', { visibleOnly: true });
          for (let i = 0; i < m.n && all.length > 0; i++) {
            const u = rng.pick(all);
            emulator.upsert('riskyUsers', { ...u, riskState: 'atRisk', riskLevel: rng.pick(LEVELS), riskLastUpdatedDateTime: clock.next() });
            changed++;
          }
        }
        break;
      }
      case 'add': {
        const users = emulator.list('riskyUsers', { visibleOnly: true });
        const now = Date.now();
        const fresh = generateRiskDetections(m.n, { seed: `${rng.int(0, 1e9)}`, users, from: new Date(now - 10 * 60_000), to: new Date(now) });
        for (const d of fresh) emulator.upsert('riskDetections', { ...d, lastUpdatedDateTime: clock.next() });
        changed += fresh.length;
        break;
      }
      case 'late': {
        const users = emulator.list('riskyUsers', { visibleOnly: true });
        const at = Date.now() - m.minutesBack * 60_000;
        const late = generateRiskDetections(m.n, { seed: `${rng.int(0, 1e9)}`, users, from: new Date(at - 3_600_000), to: new Date(at) });
        for (const d of late)
          emulator.upsert(
            'riskDetections',
            { ...d, detectionTimingType: 'offline', lastUpdatedDateTime: new Date(at).toISOString() },
            { visibleAfterMs: m.visibleAfterMs },
          );
        visibleBy = Math.max(visibleBy, performance.now() + m.visibleAfterMs + 5);
        changed += late.length;
        break;
      }
      case 'dismiss': {
        const atRisk = emulator.list('riskyUsers', { visibleOnly: true }).filter((u) => u.riskState === 'atRisk');
        for (let i = 0; i < m.n && atRisk.length > 0; i++) {
          const user = atRisk.splice(rng.int(0, atRisk.length - 1), 1)[0]!;
          emulator.upsert('riskyUsers', {
            ...user,
            riskState: 'dismissed',
            riskLevel: 'none',
            riskDetail: 'adminDismissedAllRiskForUser',
            riskLastUpdatedDateTime: clock.next(),
          });
          for (const d of emulator.list('riskDetections', { visibleOnly: true })) {
            if (d.userId !== user.id || d.riskState !== 'atRisk') continue;
            emulator.upsert('riskDetections', {
              ...d,
              riskState: 'dismissed',
              riskDetail: 'adminDismissedAllRiskForUser',
              lastUpdatedDateTime: clock.next(),
            });
            changed++;
          }
          changed++;
        }
        break;
      }
      case 'cjk': {
        // A burst in one partition (detected now): a page of them is under 4 MiB in UTF-16 and over it in UTF-8.
        const users = emulator.list('riskyUsers', { visibleOnly: true });
        for (let i = 0; i < m.n; i++) emulator.upsert('riskDetections', cjkDetection(rng, users, clock, m.chars));
        changed += m.n;
        break;
      }
      case 'oversize': {
        const users = emulator.list('riskyUsers', { visibleOnly: true });
        for (let i = 0; i < m.n; i++) emulator.upsert('riskDetections', oversizeDetection(rng, users, clock));
        changed += m.n;
        break;
      }
      case 'odd': {
        const users = emulator.list('riskyUsers', { visibleOnly: true });
        for (let i = 0; i < m.n; i++) {
          emulator.upsert('riskDetections', oddDetection(rng, users, clock));
          changed++;
        }
        if (rng.chance(0.3)) {
          const u = oddUser(rng, clock);
          emulator.upsert('riskyUsers', u);
          changed++;
        }
        break;
      }
    }
  }
  return { visibleBy, changed };
}

const ODD_IDS = [
  (h: string) => `odd/${h}`,
  (h: string) => `odd#${h}?x=1`,
  (h: string) => `~${h}`,
  (h: string) => `odd%25${h}%`,
  (h: string) => `odd\\${h}`,
  (h: string) => `idé-ünï-李-${h}`,
  (h: string) => `${h}\u0001ctl`,
  (h: string) => `${'x'.repeat(300)}${h}`,
];

const ODD_TEXT = [
  'O\'Brien "quoted", comma',
  'Zoë 李雷 👩‍💻 \u{1F600}',
  '=HYPERLINK("x")',
  '',
  ' leading and trailing ',
  '\u202Eright-to-left',
  'line\nbreak\r\ttab',
];

/** A detection that tests the mapping: an id a RowKey can not hold, strings over 32K, hundreds of new properties, enum values Graph adds later. */
export function oddDetection(rng: Prng, users: readonly RiskyUser[], clock: Clock): RiskDetection {
  const hex = Array.from({ length: 16 }, () => rng.int(0, 15).toString(16)).join('');
  const user = users.length > 0 ? rng.pick(users) : undefined;
  const now = Date.now();
  const [base] = generateRiskDetections(1, { seed: hex, users: user ? [user] : 1, from: new Date(now - DAY), to: new Date(now) });
  const record: Record<string, unknown> = { ...base!, id: rng.pick(ODD_IDS)(hex), lastUpdatedDateTime: clock.next() };
  if (rng.chance(0.5)) record.userDisplayName = rng.pick(ODD_TEXT);
  if (rng.chance(0.3)) record.userDisplayName = `${'é'.repeat(31_999)}\u{1F600}${'z'.repeat(rng.int(1, 40_000))}`; // a surrogate pair across the 32K cut
  if (rng.chance(0.3))
    record.additionalInfo = JSON.stringify(Array.from({ length: rng.int(1, 3000) }, (_, k) => ({ Key: `k${k}`, Value: 'v'.repeat(20) })));
  if (rng.chance(0.4)) record.riskLevel = rng.pick(['someFutureLevel', 'unknownFutureValue', 'hidden']);
  if (rng.chance(0.3)) record.riskEventType = `newEventType${rng.int(1, 9)}`;
  if (rng.chance(0.2)) record.detectedDateTime = null;
  if (rng.chance(0.2)) record.location = null;
  // eslint-disable-next-line no-dupe-else-if -- two independent draws
  else if (rng.chance(0.2))
    record.location = {
      city: 'Zürich',
      state: null,
      countryOrRegion: 'CH',
      geoCoordinates: { latitude: -0.5, longitude: 179.999999 },
      district: 'Kreis 1',
    };
  if (rng.chance(0.3)) {
    const extra = rng.chance(0.3) ? rng.int(230, 300) : rng.int(1, 10);
    for (let k = 0; k < extra; k++) {
      const kind = k % 4;
      record[`futureProperty${k}`] = kind === 0 ? `value ${k}` : kind === 1 ? k * 1.5 : kind === 2 ? k % 3 === 0 : rng.pick(ODD_TEXT);
    }
  }
  if (rng.chance(0.2)) record['future-property.with:odd name'] = 'kept in overflow';
  return record as RiskDetection;
}

export function oddUser(rng: Prng, clock: Clock): RiskyUser {
  const hex = Array.from({ length: 12 }, () => rng.int(0, 15).toString(16)).join('');
  return {
    id: rng.pick(ODD_IDS)(hex),
    isDeleted: rng.chance(0.5),
    isProcessing: rng.chance(0.5),
    riskLastUpdatedDateTime: clock.next(),
    riskLevel: rng.pick(['high', 'someFutureLevel']),
    riskState: rng.pick(['atRisk', 'unknownFutureValue', 'someFutureState']),
    riskDetail: 'none',
    userDisplayName: rng.pick(ODD_TEXT),
    userPrincipalName: `${hex}_gäst#EXT#@contoso.onmicrosoft.com`,
  } as RiskyUser;
}

export { Prng };

const CJK = '漢字仮名交じり文風険検出東京都渋谷区北京市海淀区서울특별시강남구';

/** Text of `n` UTF-16 units from CJK scripts (3 bytes each in UTF-8), never ending on half a surrogate pair. */
export function cjkText(rng: Prng, n: number): string {
  let text = '';
  while (text.length < n) text += CJK[rng.int(0, CJK.length - 1)]!;
  return text;
}

/** A detection with long CJK text: a display name and an `additionalInfo` of about `chars` characters, detected now. */
export function cjkDetection(rng: Prng, users: readonly RiskyUser[], clock: Clock, chars: number): RiskDetection {
  const hex = Array.from({ length: 16 }, () => rng.int(0, 15).toString(16)).join('');
  const user = users.length > 0 ? rng.pick(users) : undefined;
  const now = Date.now();
  const [base] = generateRiskDetections(1, { seed: hex, users: user ? [user] : 1, from: new Date(now - 60_000), to: new Date(now) });
  return {
    ...base!,
    id: `cjk-${hex}`,
    userDisplayName: `${cjkText(rng, 12)} ${cjkText(rng, 8)}`,
    additionalInfo: JSON.stringify([{ Key: 'userAgent', Value: cjkText(rng, chars) }]),
    location: { city: '東京', state: '東京都', countryOrRegion: 'JP', geoCoordinates: { latitude: 35.68, longitude: 139.69 } },
    lastUpdatedDateTime: clock.next(),
  } as RiskDetection;
}

/** A detection too large for one entity (over 1 MiB as Table Storage counts it): one huge string, or many long properties. */
export function oversizeDetection(rng: Prng, users: readonly RiskyUser[], clock: Clock): RiskDetection {
  const hex = Array.from({ length: 16 }, () => rng.int(0, 15).toString(16)).join('');
  const user = users.length > 0 ? rng.pick(users) : undefined;
  const now = Date.now();
  const [base] = generateRiskDetections(1, { seed: hex, users: user ? [user] : 1, from: new Date(now - 60_000), to: new Date(now) });
  const record: Record<string, unknown> = { ...base!, id: `big-${hex}`, lastUpdatedDateTime: clock.next() };
  if (rng.chance(0.5)) {
    record.additionalInfo = JSON.stringify(Array.from({ length: rng.int(9000, 14000) }, (_, k) => ({ Key: `k${k}`, Value: cjkText(rng, 20) })));
  } else {
    for (let k = 0; k < rng.int(18, 40); k++) record[`futureBlob${k}`] = rng.chance(0.5) ? cjkText(rng, 31_000) : 'y'.repeat(32_000);
  }
  return record as RiskDetection;
}
