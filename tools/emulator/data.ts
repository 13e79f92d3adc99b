/**
 * Deterministic, realistic Identity Protection data (seeded PRNG, never Math.random), and a background activity
 * that keeps an emulator's tenant changing like a live one.
 *
 * Users come from the seed: `generateRiskyUsers(n, { seed })` and `generateRiskDetections(m, { seed, users: n })`
 * share the same n users (ids, names, UPNs). `riskyUserTimeline` gives the versions a user went through (its Graph
 * history), `lateOfflineDetections` offline detections that surface long after their lastUpdatedDateTime.
 */
import {
  ADMIN_IDS,
  DOMAINS,
  type EventTypeInfo,
  FIRST_NAMES,
  GUEST_DOMAINS,
  IPV4_FIRST_OCTETS,
  LAST_NAMES,
  LOCATIONS,
  RISK_EVENT_TYPES,
  SHOWCASE_USERS,
  UNFAMILIAR_REASONS,
  USER_AGENTS,
} from './catalog.js';
import type { RiskDetection, RiskyUser, SignInLocation } from './model.js';
import { Prng } from './prng.js';
import type { HistoryNote } from './store.js';
import { formatTicks, ticksOf, ticksOfDate } from './timestamps.js';
import type { GraphEmulator } from './types.js';

export interface UserIdentity {
  id: string;
  userDisplayName: string;
  userPrincipalName: string;
}

export interface RiskyUserGeneratorOptions {
  seed?: number | string;
  /** riskLastUpdatedDateTime range; defaults to the 90 days before `to` (default: now). Pass both for reproducible output. */
  from?: Date;
  to?: Date;
}

export interface RiskDetectionGeneratorOptions {
  seed?: number | string;
  from: Date;
  to: Date;
  /** The users detections belong to: risky users, or how many users to derive from the seed (default count / 4). */
  users?: readonly (RiskyUser | UserIdentity)[] | number;
  /** Share of closed detections whose riskDetail is a member after unknownFutureValue (default 0.1). */
  newEnumMemberRate?: number;
}

const DAY_TICKS = 864_000_000_000n;
const MINUTE_TICKS = 600_000_000n;

/** `count` user identities derived from the seed; the first ones are the showcase names (O'Brien, José Müller, ...). */
export function generateUserIdentities(count: number, seed: number | string = 1): UserIdentity[] {
  const rng = new Prng(`${seed}:users`);
  const upns = new Set<string>();
  const users: UserIdentity[] = [];
  for (let i = 0; i < count; i++) {
    let displayName: string;
    let upn: string;
    if (i < SHOWCASE_USERS.length) {
      ({ displayName, upn } = SHOWCASE_USERS[i]!);
    } else {
      const first = rng.pick(FIRST_NAMES);
      const last = rng.pick(LAST_NAMES);
      displayName = `${first} ${last}`;
      const local = `${first}.${last}`.toLowerCase().replace(/\s+/g, '');
      const guestDomain = rng.chance(0.1) ? rng.pick(GUEST_DOMAINS) : undefined;
      const domain = rng.pick(DOMAINS);
      const make = (suffix: string): string =>
        guestDomain ? `${local}${suffix}_${guestDomain}#EXT#@contoso.onmicrosoft.com` : `${local}${suffix}@${domain}`;
      upn = make('');
      for (let n = 2; upns.has(upn); n++) upn = make(String(n));
    }
    upns.add(upn);
    users.push({ id: rng.guid(), userDisplayName: displayName, userPrincipalName: upn });
  }
  return users;
}

export function generateRiskyUsers(count: number, options: RiskyUserGeneratorOptions = {}): RiskyUser[] {
  const seed = options.seed ?? 1;
  const to = options.to ?? new Date();
  const from = options.from ?? new Date(to.getTime() - 90 * 24 * 3600 * 1000);
  const rng = new Prng(`${seed}:riskyUsers`);
  return generateUserIdentities(count, seed).map((identity) => makeRiskyUser(rng, identity, ticksOfDate(from), ticksOfDate(to)));
}

export function generateRiskDetections(count: number, options: RiskDetectionGeneratorOptions): RiskDetection[] {
  const seed = options.seed ?? 1;
  const rng = new Prng(`${seed}:riskDetections`);
  const users = typeof options.users === 'object' ? options.users : generateUserIdentities(options.users ?? Math.max(1, Math.ceil(count / 4)), seed);
  if (users.length === 0) throw new RangeError('generateRiskDetections needs at least one user');
  const fromTicks = ticksOfDate(options.from);
  const toTicks = ticksOfDate(options.to);
  if (toTicks < fromTicks) throw new RangeError('generateRiskDetections: `to` is before `from`');
  const rate = options.newEnumMemberRate ?? 0.1;
  return Array.from({ length: count }, () => makeDetection(rng, rng.pick(users), fromTicks, toTicks, rate));
}

// ---- records ----

function makeRiskyUser(rng: Prng, identity: UserIdentity, fromTicks: bigint, toTicks: bigint): RiskyUser {
  const hidden = rng.chance(0.02);
  const state = hidden ? 'atRisk' : rng.weighted(USER_STATES);
  const open = state === 'atRisk' || state === 'confirmedCompromised';
  return {
    id: identity.id,
    isDeleted: rng.chance(0.03),
    isProcessing: rng.chance(0.02),
    riskLastUpdatedDateTime: formatTicks(randomTicks(rng, fromTicks, toTicks)),
    riskLevel: hidden ? 'hidden' : state === 'confirmedCompromised' ? 'high' : open ? rng.weighted(LEVELS) : 'none',
    riskState: state,
    riskDetail: hidden ? 'hidden' : riskDetailFor(rng, state, 0.1),
    userDisplayName: identity.userDisplayName,
    userPrincipalName: identity.userPrincipalName,
  };
}

const EVENT_WEIGHTS = RISK_EVENT_TYPES.map((e) => [e, e.weight] as const);
const OFFLINE_EVENT_WEIGHTS = EVENT_WEIGHTS.filter(([e]) => e.timing.includes('offline'));

function makeDetection(
  rng: Prng,
  user: UserIdentity | RiskyUser,
  fromTicks: bigint,
  toTicks: bigint,
  newMemberRate: number,
  events: readonly (readonly [EventTypeInfo, number])[] = EVENT_WEIGHTS,
): RiskDetection {
  const event = rng.weighted(events);
  const timing = rng.chance(0.02) ? 'nearRealtime' : rng.pick(event.timing);
  const hidden = rng.chance(0.04);
  const state = hidden ? 'atRisk' : rng.weighted(DETECTION_STATES);

  const activityTicks = randomTicks(rng, fromTicks, toTicks);
  const delay = timing === 'offline' ? randomTicks(rng, 10n * MINUTE_TICKS, 2n * DAY_TICKS) : randomTicks(rng, 0n, 10n * MINUTE_TICKS);
  const detectedTicks = min(activityTicks + delay, toTicks);
  const change = state === 'atRisk' ? randomTicks(rng, 0n, 5n * MINUTE_TICKS) : randomTicks(rng, MINUTE_TICKS, 7n * DAY_TICKS);
  const lastUpdatedTicks = min(detectedTicks + change, toTicks);
  const signin = event.activity === 'signin';

  return {
    id: rng.hex(64),
    requestId: signin ? rng.guid() : null,
    correlationId: signin ? rng.guid() : null,
    riskEventType: event.type,
    riskState: state,
    riskLevel: hidden ? 'hidden' : rng.weighted(LEVELS),
    riskDetail: hidden ? 'hidden' : riskDetailFor(rng, state, newMemberRate),
    source: event.source,
    detectionTimingType: timing,
    activity: event.activity,
    tokenIssuerType: signin ? rng.weighted(TOKEN_ISSUERS) : 'AzureAD',
    ipAddress: signin ? ipAddress(rng) : null,
    activityDateTime: formatTicks(activityTicks),
    detectedDateTime: formatTicks(detectedTicks),
    lastUpdatedDateTime: formatTicks(lastUpdatedTicks),
    userId: user.id,
    userDisplayName: user.userDisplayName,
    userPrincipalName: user.userPrincipalName,
    additionalInfo: additionalInfo(rng, event),
    location: signin && !rng.chance(0.03) ? location(rng) : null,
  };
}

const LEVELS = [
  ['low', 35],
  ['medium', 40],
  ['high', 25],
] as const;

const USER_STATES = [
  ['atRisk', 55],
  ['remediated', 20],
  ['dismissed', 15],
  ['confirmedCompromised', 5],
  ['confirmedSafe', 5],
] as const;

const DETECTION_STATES = [
  ['atRisk', 50],
  ['remediated', 20],
  ['dismissed', 20],
  ['confirmedCompromised', 6],
  ['confirmedSafe', 4],
] as const;

const TOKEN_ISSUERS = [
  ['AzureAD', 90],
  ['ADFederationServices', 7],
  ['AzureADBackupAuth', 2],
  ['ADFederationServicesMFAAdapter', 0.5],
  ['NPSExtension', 0.5],
] as const;

/**
 * riskDetail values that go with a riskState, with their weights: [members before unknownFutureValue, members after
 * it]. The agent members (adminConfirmedAgentSafe, ...) and the service principal ones never apply to users or their
 * detections: they are in the enums, not here.
 */
const DETAILS: Record<string, readonly [readonly (readonly [string, number])[], readonly (readonly [string, number])[]]> = {
  atRisk: [[['none', 1]], []],
  remediated: [
    [
      ['userPerformedSecuredPasswordReset', 35],
      ['userPassedMFADrivenByRiskBasedPolicy', 30],
      ['userPerformedSecuredPasswordChange', 15],
      ['adminGeneratedTemporaryPassword', 8],
    ],
    [
      ['userChangedPasswordOnPremises', 7],
      ['microsoftRevokedSessions', 5],
    ],
  ],
  dismissed: [
    [
      ['adminDismissedAllRiskForUser', 60],
      ['aiConfirmedSigninSafe', 25],
      ['adminConfirmedSigninSafe', 15],
    ],
    [
      ['adminDismissedRiskForSignIn', 6],
      ['m365DAdminDismissedDetection', 4],
    ],
  ],
  confirmedSafe: [[['adminConfirmedSigninSafe', 1]], [['adminConfirmedAccountSafe', 1]]],
  confirmedCompromised: [
    [
      ['adminConfirmedUserCompromised', 70],
      ['adminConfirmedSigninCompromised', 30],
    ],
    [],
  ],
};

function riskDetailFor(rng: Prng, state: string, newMemberRate: number): string {
  const [known, newer] = DETAILS[state] ?? [[['none', 1]], []];
  return newer.length > 0 && rng.chance(newMemberRate) ? rng.weighted(newer) : rng.weighted(known);
}

const SELF_SERVICE = [
  'userPerformedSecuredPasswordReset',
  'userPerformedSecuredPasswordChange',
  'userPassedMFADrivenByRiskBasedPolicy',
  'userChangedPasswordOnPremises',
];
const BY_MICROSOFT = ['none', 'hidden', 'aiConfirmedSigninSafe', 'microsoftRevokedSessions'];

/** Who a history item says changed the risk: the user (self-service remediation), an admin, or nobody (Microsoft). */
function initiatedByFor(rng: Prng, detail: string | null, userId: string): string | null {
  if (detail === null || BY_MICROSOFT.includes(detail)) return null;
  return SELF_SERVICE.includes(detail) ? userId : rng.pick(ADMIN_IDS);
}

/** Uniform in [from, to]; two draws make 53 random bits, so the sub-millisecond digits are random too. */
function randomTicks(rng: Prng, fromTicks: bigint, toTicks: bigint): bigint {
  const unit = (Math.floor(rng.next() * 2 ** 21) * 2 ** 32 + Math.floor(rng.next() * 2 ** 32)) / 2 ** 53;
  return fromTicks + BigInt(Math.floor(unit * Number(toTicks - fromTicks + 1n)));
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function ipAddress(rng: Prng): string {
  if (rng.chance(0.15)) return `2a01:110:${rng.hex(4)}:${rng.hex(4)}::${rng.int(1, 0xfff).toString(16)}`;
  return `${rng.pick(IPV4_FIRST_OCTETS)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
}

function location(rng: Prng): SignInLocation {
  const place = rng.pick(LOCATIONS);
  const jitter = (value: number): number => Math.round((value + (rng.next() - 0.5) / 10) * 10_000) / 10_000;
  return {
    city: place.city,
    state: place.state,
    countryOrRegion: place.countryOrRegion,
    geoCoordinates: rng.chance(0.1) ? null : { latitude: jitter(place.latitude), longitude: jitter(place.longitude) },
  };
}

/** additionalInfo is a JSON array encoded as a string; Value may be a string or an array. */
function additionalInfo(rng: Prng, event: EventTypeInfo): string {
  const items: { Key: string; Value: unknown }[] = [];
  if (event.type === 'unfamiliarFeatures') {
    items.push({ Key: 'riskReasons', Value: rng.shuffle([...UNFAMILIAR_REASONS]).slice(0, rng.int(1, 3)) });
  }
  if (event.activity === 'signin') items.push({ Key: 'userAgent', Value: rng.pick(USER_AGENTS) });
  if (event.mitre) items.push({ Key: 'mitreTechniques', Value: event.mitre });
  return JSON.stringify(items);
}

// ---- history ----

/** One version of a risky user and what brought it about: upsert them in order and the emulator keeps the history. */
export interface RiskyUserVersion {
  record: RiskyUser;
  history: HistoryNote;
}

export interface TimelineOptions {
  seed?: number | string;
  /** The user's detections: the risk event types behind each rise of risk are taken from them when there are some. */
  detections?: readonly RiskDetection[];
}

/**
 * The versions a risky user went through to reach its current state, oldest first, the last one being `user`
 * itself: detections raising the risk (initiatedBy null, their riskEventTypes), then the remediation by the user
 * (secured password reset, MFA), or the dismissal or confirmation by an admin (initiatedBy an admin's id).
 */
export function riskyUserTimeline(user: RiskyUser, options: TimelineOptions = {}): RiskyUserVersion[] {
  const rng = new Prng(`${options.seed ?? 1}:timeline:${user.id}`);
  const finalTicks = user.riskLastUpdatedDateTime ? ticksOf(user.riskLastUpdatedDateTime) : ticksOfDate(new Date());
  const own = (options.detections ?? []).filter((d) => d.userId === user.id && d.riskEventType);
  const eventTypes = (): string[] => [own.length > 0 ? rng.pick(own).riskEventType! : rng.weighted(EVENT_WEIGHTS).type];
  const state = user.riskState ?? 'atRisk';
  const open = state === 'atRisk';
  const finalLevel = user.riskLevel ?? 'none';

  // Earlier rises of risk: one or two detections, the last one at the level the user was left at.
  const riseLevel = open ? finalLevel : state === 'confirmedCompromised' ? 'high' : rng.weighted(LEVELS);
  const rises = riseLevel !== 'hidden' && rng.chance(0.35) && riseLevel !== 'low' ? [lowerLevel(riseLevel), riseLevel] : [riseLevel];
  const risesBeforeFinal = open ? rises.slice(0, -1) : rises;
  let ticks = finalTicks;
  const versions: RiskyUserVersion[] = [];
  for (let i = risesBeforeFinal.length - 1; i >= 0; i--) {
    ticks -= randomTicks(rng, 10n * MINUTE_TICKS, 14n * DAY_TICKS);
    versions.unshift({
      record: { ...user, riskState: 'atRisk', riskLevel: risesBeforeFinal[i]!, riskDetail: 'none', riskLastUpdatedDateTime: formatTicks(ticks) },
      history: { initiatedBy: null, riskEventTypes: eventTypes(), detail: null },
    });
  }
  const detail = user.riskDetail && user.riskDetail !== 'none' ? user.riskDetail : null;
  versions.push({
    record: { ...user },
    history: open
      ? { initiatedBy: null, riskEventTypes: eventTypes(), detail }
      : { initiatedBy: initiatedByFor(rng, detail, user.id), riskEventTypes: [], detail },
  });
  return versions;
}

/** Upserts each user through its timeline, so that the emulator serves a realistic history for every one of them. */
export function seedRiskyUsers(emulator: GraphEmulator, users: readonly RiskyUser[], options: TimelineOptions = {}): void {
  for (const user of users) {
    for (const version of riskyUserTimeline(user, options)) emulator.upsert('riskyUsers', version.record, { history: version.history });
  }
}

function lowerLevel(level: string): string {
  return level === 'high' ? 'medium' : 'low';
}

// ---- late offline detections ----

export interface LateOfflineOptions {
  seed?: number | string;
  /** Whose detections they are. */
  users: readonly (RiskyUser | UserIdentity)[];
  /**
   * How much older than the moment it surfaces a detection's lastUpdatedDateTime is: a duration, or a [min, max]
   * range. Entra: offline detections can take up to 48 hours to appear.
   */
  lateByMs: number | readonly [number, number];
  /** When they become visible (default: now). To surface them later, upsert with visibleAfterMs = surfacesAt - now. */
  surfacesAt?: Date;
}

/**
 * Offline detections that surface late: when they become visible, their lastUpdatedDateTime (and detectedDateTime)
 * is `lateByMs` in the past, far behind a sync's ordinary lookback. A test can say "this detection surfaces now with
 * a lastUpdatedDateTime 40 hours ago": `emulator.upsert('riskDetections', lateOfflineDetections(1, { users, lateByMs:
 * 40 * 3600_000 }))`.
 */
export function lateOfflineDetections(count: number, options: LateOfflineOptions): RiskDetection[] {
  if (options.users.length === 0) throw new RangeError('lateOfflineDetections needs at least one user');
  const [minLate, maxLate] = typeof options.lateByMs === 'number' ? [options.lateByMs, options.lateByMs] : options.lateByMs;
  if (!(minLate >= 0 && maxLate >= minLate)) throw new RangeError('lateByMs must be a non-negative duration or a [min, max] range with min <= max');
  const rng = new Prng(`${options.seed ?? 1}:lateOffline`);
  const surfaces = ticksOfDate(options.surfacesAt ?? new Date());
  return Array.from({ length: count }, () => {
    const late = BigInt(Math.round(minLate + rng.next() * (maxLate - minLate))) * 10_000n;
    const lastUpdated = surfaces - late - BigInt(rng.int(0, 9999));
    return lateOffline(rng, rng.pick(options.users), lastUpdated);
  });
}

function lateOffline(rng: Prng, user: UserIdentity | RiskyUser, lastUpdatedTicks: bigint): RiskDetection {
  const activityTicks = lastUpdatedTicks - randomTicks(rng, 10n * MINUTE_TICKS, 2n * 60n * MINUTE_TICKS);
  const detection = makeDetection(rng, user, activityTicks, activityTicks, 0, OFFLINE_EVENT_WEIGHTS);
  return {
    ...detection,
    detectionTimingType: 'offline',
    riskState: 'atRisk',
    riskLevel: detection.riskLevel === 'hidden' ? 'medium' : detection.riskLevel,
    riskDetail: 'none',
    activityDateTime: formatTicks(activityTicks),
    detectedDateTime: formatTicks(lastUpdatedTicks),
    lastUpdatedDateTime: formatTicks(lastUpdatedTicks),
  };
}

/**
 * An offline detection re-scored after it surfaced: its riskLevel changes and its new lastUpdatedDateTime is
 * `lateByMs` before the moment the new version surfaces (never before the old one's), so a sync whose lookback is
 * shorter never reads the change.
 */
export function rescoredLate(detection: RiskDetection, options: { seed?: number | string; lateByMs: number; surfacesAt?: Date }): RiskDetection {
  const rng = new Prng(`${options.seed ?? 1}:rescore:${detection.id}`);
  const levels = ['low', 'medium', 'high'].filter((l) => l !== detection.riskLevel);
  const previous = detection.lastUpdatedDateTime ? ticksOf(detection.lastUpdatedDateTime) : 0n;
  const wanted = ticksOfDate(options.surfacesAt ?? new Date()) - BigInt(Math.round(options.lateByMs)) * 10_000n;
  return { ...detection, riskLevel: rng.pick(levels), lastUpdatedDateTime: formatTicks(wanted > previous ? wanted : previous + 1n) };
}

// ---- live activity ----

export interface ActivityOptions {
  seed?: number | string;
  /** Time between two rounds of changes (default 5000 ms). */
  intervalMs?: number;
  /** Up to this many new detections per round (default 3). */
  maxNewDetections?: number;
  /** Share of new detections that surface late, with older timestamps (default 0.25). */
  lateProbability?: number;
  /** Longest delay before a late detection becomes visible (default 3 intervals). */
  maxLateVisibilityMs?: number;
  /** Chance per round that an at-risk user is remediated or dismissed, with their detections (default 0.3). */
  userClosureProbability?: number;
  /** Chance per round that one at-risk detection is dismissed or confirmed safe (default 0.3). */
  detectionClosureProbability?: number;
  /**
   * Chance per round of an offline detection that surfaces up to `maxLateOfflineHours` after its
   * lastUpdatedDateTime (default 0: off). Its timestamps are that many real hours old when it surfaces; the wait
   * before it surfaces is scaled by `lateOfflineTimeScale`.
   */
  lateOfflineProbability?: number;
  /** Largest lateness of those detections, in hours (default 48, Entra's documented bound; the least is 30 min). */
  maxLateOfflineHours?: number;
  /** Real milliseconds waited per millisecond of lateness (default 1/3600: a detection 40 h late surfaces after 40 s). */
  lateOfflineTimeScale?: number;
  /** Chance per round that a visible offline detection is re-scored late, the same way (default 0: off). */
  rescoreProbability?: number;
}

export interface Activity {
  stop(): void;
}

const HOUR_MS = 3600_000;

/**
 * Keeps the emulator's tenant changing: new detections (and their users becoming at risk), some visible only after
 * a delay although their timestamps are older; users remediated or dismissed; detections dismissed; with the options,
 * offline detections surfacing up to 48 h late and offline detections re-scored late. Changed records get their
 * lastUpdatedDateTime / riskLastUpdatedDateTime set to now (late ones: to their lateness), and every change of a
 * user's risk leaves a history item saying what or who changed it. The timer does not keep the process alive.
 */
export function startActivity(emulator: GraphEmulator, options: ActivityOptions = {}): Activity {
  const rng = new Prng(`${options.seed ?? 1}:activity`);
  const intervalMs = options.intervalMs ?? 5000;
  const fallbackUsers = generateUserIdentities(10, options.seed ?? 1);
  const tick = (): void => activityRound(emulator, rng, options, intervalMs, fallbackUsers);
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

function activityRound(emulator: GraphEmulator, rng: Prng, options: ActivityOptions, intervalMs: number, fallbackUsers: UserIdentity[]): void {
  const now = (): bigint => ticksOfDate(new Date()) + BigInt(rng.int(0, 9999));
  const users: (RiskyUser | UserIdentity)[] = emulator.list('riskyUsers');
  const pool = users.length > 0 ? users : fallbackUsers;

  const newCount = rng.int(1, options.maxNewDetections ?? 3);
  for (let i = 0; i < newCount; i++) {
    const user = rng.pick(pool);
    const late = rng.chance(options.lateProbability ?? 0.25);
    const to = now();
    const from = late ? to - 2n * DAY_TICKS : to - 2n * MINUTE_TICKS;
    const detection = makeDetection(rng, user, from, late ? to - 30n * MINUTE_TICKS : to, 0.1);
    Object.assign(detection, { riskState: 'atRisk', riskDetail: 'none' });
    if (!late) detection.lastUpdatedDateTime = formatTicks(to);
    const visibleAfterMs = late ? rng.int(intervalMs, options.maxLateVisibilityMs ?? 3 * intervalMs) : 0;
    emulator.upsert('riskDetections', detection, { visibleAfterMs });
    raiseUserRisk(emulator, user, detection, formatTicks(now()), visibleAfterMs);
  }

  if (rng.chance(options.lateOfflineProbability ?? 0)) {
    const lateByMs = rng.int(30 * 60_000, (options.maxLateOfflineHours ?? 48) * HOUR_MS);
    const visibleAfterMs = Math.round(lateByMs * (options.lateOfflineTimeScale ?? 1 / 3600));
    const surfacesAt = new Date(Date.now() + visibleAfterMs);
    const [detection] = lateOfflineDetections(1, { seed: `${rng.next()}`, users: pool, lateByMs, surfacesAt });
    emulator.upsert('riskDetections', detection!, { visibleAfterMs });
    const owner = pool.find((u) => u.id === detection!.userId)!;
    raiseUserRisk(emulator, owner, detection!, formatTicks(ticksOfDate(surfacesAt)), visibleAfterMs);
  }

  if (rng.chance(options.rescoreProbability ?? 0)) {
    const offline = emulator
      .list('riskDetections', { visibleOnly: true })
      .filter((d) => d.detectionTimingType === 'offline' && d.riskState === 'atRisk');
    if (offline.length > 0) {
      const lateByMs = rng.int(30 * 60_000, (options.maxLateOfflineHours ?? 48) * HOUR_MS);
      const visibleAfterMs = Math.round(lateByMs * (options.lateOfflineTimeScale ?? 1 / 3600));
      const surfacesAt = new Date(Date.now() + visibleAfterMs);
      emulator.upsert('riskDetections', rescoredLate(rng.pick(offline), { seed: `${rng.next()}`, lateByMs, surfacesAt }), { visibleAfterMs });
    }
  }

  if (rng.chance(options.userClosureProbability ?? 0.3)) {
    const atRisk = emulator.list('riskyUsers', { visibleOnly: true }).filter((u) => u.riskState === 'atRisk');
    if (atRisk.length > 0) {
      const user = rng.pick(atRisk);
      const state = rng.chance(0.6) ? 'remediated' : 'dismissed';
      const detail = riskDetailFor(rng, state, 0.1);
      emulator.upsert(
        'riskyUsers',
        { ...user, riskState: state, riskDetail: detail, riskLevel: 'none', riskLastUpdatedDateTime: formatTicks(now()) },
        { history: { initiatedBy: initiatedByFor(rng, detail, user.id), riskEventTypes: [], detail } },
      );
      for (const d of emulator.list('riskDetections', { visibleOnly: true })) {
        if (d.userId === user.id && d.riskState === 'atRisk') {
          emulator.upsert('riskDetections', {
            ...d,
            riskState: state,
            riskDetail: detail,
            lastUpdatedDateTime: formatTicks(maxTicks(now(), d.lastUpdatedDateTime)),
          });
        }
      }
    }
  }

  if (rng.chance(options.detectionClosureProbability ?? 0.3)) {
    const open = emulator.list('riskDetections', { visibleOnly: true }).filter((d) => d.riskState === 'atRisk');
    if (open.length > 0) {
      const detection = rng.pick(open);
      const state = rng.chance(0.7) ? 'dismissed' : 'confirmedSafe';
      emulator.upsert('riskDetections', {
        ...detection,
        riskState: state,
        riskDetail: riskDetailFor(rng, state, 0.2),
        lastUpdatedDateTime: formatTicks(maxTicks(now(), detection.lastUpdatedDateTime)),
      });
    }
  }
}

/** A new detection puts its user at risk (at the higher of the two levels), surfacing with it. */
function raiseUserRisk(emulator: GraphEmulator, user: RiskyUser | UserIdentity, detection: RiskDetection, at: string, visibleAfterMs: number): void {
  const current = emulator.get('riskyUsers', user.id);
  emulator.upsert(
    'riskyUsers',
    {
      ...(current ?? { id: user.id, isDeleted: false, isProcessing: false }),
      userDisplayName: user.userDisplayName,
      userPrincipalName: user.userPrincipalName,
      riskState: 'atRisk',
      riskDetail: 'none',
      riskLevel: higherLevel(current?.riskState === 'atRisk' ? current.riskLevel : null, detection.riskLevel),
      riskLastUpdatedDateTime: at,
    },
    { visibleAfterMs, history: { initiatedBy: null, riskEventTypes: detection.riskEventType ? [detection.riskEventType] : [], detail: null } },
  );
}

const LEVEL_ORDER = ['none', 'low', 'medium', 'high'];

function higherLevel(a: string | null, b: string | null): string {
  const rank = (level: string | null): number => LEVEL_ORDER.indexOf(level ?? 'none');
  return rank(a) >= rank(b) ? (a ?? 'none') : (b ?? 'none');
}

/** now, unless the record's timestamp is (through clock differences) later: lastUpdated never moves back. */
function maxTicks(ticks: bigint, timestamp: string | null): bigint {
  return timestamp && ticksOf(timestamp) > ticks ? ticksOf(timestamp) : ticks;
}
