/**
 * Deterministic, realistic Identity Protection data (seeded PRNG, never Math.random), and a background activity
 * that keeps an emulator's tenant changing like a live one.
 *
 * Users come from the seed: `generateRiskyUsers(n, { seed })` and `generateRiskDetections(m, { seed, users: n })`
 * share the same n users (ids, names, UPNs).
 */
import {
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
import type { GraphEmulator } from './server.js';
import { formatTicks, ticksOf, ticksOfDate } from './timestamps.js';

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

function makeDetection(rng: Prng, user: UserIdentity | RiskyUser, fromTicks: bigint, toTicks: bigint, newMemberRate: number): RiskDetection {
  const event = rng.weighted(RISK_EVENT_TYPES.map((e) => [e, e.weight] as const));
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

/** riskDetail values that go with a riskState: [members before unknownFutureValue, members after it]. */
const DETAILS: Record<string, [readonly string[], readonly string[]]> = {
  atRisk: [['none'], []],
  remediated: [
    [
      'userPerformedSecuredPasswordReset',
      'userPassedMFADrivenByRiskBasedPolicy',
      'userPerformedSecuredPasswordChange',
      'adminGeneratedTemporaryPassword',
    ],
    ['userChangedPasswordOnPremises', 'microsoftRevokedSessions'],
  ],
  dismissed: [
    ['adminDismissedAllRiskForUser', 'adminConfirmedSigninSafe', 'aiConfirmedSigninSafe'],
    ['m365DAdminDismissedDetection', 'adminDismissedRiskForSignIn'],
  ],
  confirmedSafe: [['adminConfirmedSigninSafe'], ['adminConfirmedAccountSafe']],
  confirmedCompromised: [['adminConfirmedUserCompromised', 'adminConfirmedSigninCompromised'], []],
};

function riskDetailFor(rng: Prng, state: string, newMemberRate: number): string {
  const [known, newer] = DETAILS[state] ?? [['none'], []];
  return newer.length > 0 && rng.chance(newMemberRate) ? rng.pick(newer) : rng.pick(known);
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
}

export interface Activity {
  stop(): void;
}

/**
 * Keeps the emulator's tenant changing: new detections (and their users becoming at risk), some visible only after
 * a delay although their timestamps are older; users remediated or dismissed; detections dismissed. Changed records
 * get their lastUpdatedDateTime / riskLastUpdatedDateTime set to now. The timer does not keep the process alive.
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
        riskLastUpdatedDateTime: formatTicks(now()),
      },
      { visibleAfterMs },
    );
  }

  if (rng.chance(options.userClosureProbability ?? 0.3)) {
    const atRisk = emulator.list('riskyUsers', { visibleOnly: true }).filter((u) => u.riskState === 'atRisk');
    if (atRisk.length > 0) {
      const user = rng.pick(atRisk);
      const state = rng.chance(0.6) ? 'remediated' : 'dismissed';
      const detail = riskDetailFor(rng, state, 0.1);
      emulator.upsert('riskyUsers', {
        ...user,
        riskState: state,
        riskDetail: detail,
        riskLevel: 'none',
        riskLastUpdatedDateTime: formatTicks(now()),
      });
      for (const d of emulator.list('riskDetections', { visibleOnly: true })) {
        if (d.userId === user.id && d.riskState === 'atRisk') {
          emulator.upsert('riskDetections', { ...d, riskState: state, riskDetail: detail, lastUpdatedDateTime: formatTicks(now()) });
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

const LEVEL_ORDER = ['none', 'low', 'medium', 'high'];

function higherLevel(a: string | null, b: string | null): string {
  const rank = (level: string | null): number => LEVEL_ORDER.indexOf(level ?? 'none');
  return rank(a) >= rank(b) ? (a ?? 'none') : (b ?? 'none');
}

/** now, unless the record's timestamp is (through clock differences) later: lastUpdated never moves back. */
function maxTicks(ticks: bigint, timestamp: string | null): bigint {
  return timestamp && ticksOf(timestamp) > ticks ? ticksOf(timestamp) : ticks;
}
