/** Vocabulary of the data generators: names, risk event types, places, user agents. */

/** Always the first users generated, so every data set has apostrophes, diacritics, CJK and a guest UPN. */
export const SHOWCASE_USERS: readonly { displayName: string; upn: string }[] = [
  { displayName: "Dónal O'Brien", upn: "donal.o'brien@contoso.com" },
  { displayName: 'José Müller', upn: 'josé.müller@contoso.com' },
  { displayName: 'Zoë Faßbender', upn: 'zoe.fassbender@contoso.com' },
  { displayName: '李雷', upn: '李雷@contoso.com' },
  { displayName: "Renée D'Souza (Fabrikam)", upn: "renee.d'souza_fabrikam.com#EXT#@contoso.onmicrosoft.com" },
  { displayName: 'Łukasz Żółkiewski', upn: 'lukasz.zolkiewski@contoso.onmicrosoft.com' },
];

export const FIRST_NAMES = [
  'Adele',
  'Alex',
  'Ana',
  'Björn',
  'Chloé',
  'Diego',
  'Emily',
  'Fatima',
  'François',
  'Grace',
  'Hiroshi',
  'Ingrid',
  'Isaiah',
  'Jörg',
  'Kenji',
  'Lena',
  'Liam',
  'María',
  'Mohammed',
  'Nuno',
  'Olivia',
  'Priya',
  'Raúl',
  'Sakura',
  'Søren',
  'Thandiwe',
  'Wei',
  'Yusuf',
  'Zoë',
  'Ángel',
] as const;

export const LAST_NAMES = [
  "O'Connor",
  "D'Angelo",
  'Andersson',
  'García',
  'Ng',
  'Kowalski',
  'Müller',
  'Nakamura',
  'Okafor',
  'Patel',
  'Rossi',
  'Schäfer',
  'Smith',
  'Jansen',
  'Ødegaard',
  'Núñez',
  'Dubois',
  'Kim',
  'Al-Farsi',
  'van der Berg',
] as const;

export const DOMAINS = ['contoso.com', 'contoso.onmicrosoft.com'] as const;
export const GUEST_DOMAINS = ['fabrikam.com', 'gmail.com', 'outlook.com'] as const;

export interface EventTypeInfo {
  type: string;
  /** Relative frequency in a typical tenant (sign-in properties and anonymous IPs dominate). */
  weight: number;
  source: string;
  timing: readonly string[];
  activity: 'signin' | 'user';
  /**
   * A premium detection: only Entra ID P2 tenants see it as it is; P1 and Free tenants get it as `generic` with
   * riskLevel and riskDetail `hidden` ("Additional risk detected").
   */
  premium: boolean;
  mitre?: string;
}

/**
 * riskEventType values, their timing and whether they are premium, from the Entra page "What are risk detections?"
 * (learn.microsoft.com/entra/id-protection/concept-identity-protection-risks, its two tables "Sign-in risk detections
 * mapped to riskEventType" and "User risk detections mapped to riskEventType": Premium / Nonpremium column).
 * `impossibleTravel` is the older name the Graph reference still lists next to `mcasImpossibleTravel`.
 */
export const RISK_EVENT_TYPES: readonly EventTypeInfo[] = [
  // sign-in detections
  { type: 'unfamiliarFeatures', weight: 22, source: 'IdentityProtection', timing: ['realtime'], activity: 'signin', premium: true, mitre: 'T1078' },
  {
    type: 'anonymizedIPAddress',
    weight: 14,
    source: 'IdentityProtection',
    timing: ['realtime'],
    activity: 'signin',
    premium: false,
    mitre: 'T1090.003',
  },
  { type: 'unlikelyTravel', weight: 10, source: 'IdentityProtection', timing: ['offline'], activity: 'signin', premium: true, mitre: 'T1078' },
  {
    type: 'mcasImpossibleTravel',
    weight: 4,
    source: 'MicrosoftCloudAppSecurity',
    timing: ['offline'],
    activity: 'signin',
    premium: true,
    mitre: 'T1078',
  },
  {
    type: 'impossibleTravel',
    weight: 0.5,
    source: 'MicrosoftCloudAppSecurity',
    timing: ['offline'],
    activity: 'signin',
    premium: true,
    mitre: 'T1078',
  },
  { type: 'maliciousIPAddress', weight: 4, source: 'IdentityProtection', timing: ['offline'], activity: 'signin', premium: true, mitre: 'T1078' },
  {
    type: 'riskyIPAddress',
    weight: 2,
    source: 'MicrosoftCloudAppSecurity',
    timing: ['offline'],
    activity: 'signin',
    premium: true,
    mitre: 'T1090.003',
  },
  {
    type: 'passwordSpray',
    weight: 4,
    source: 'IdentityProtection',
    timing: ['offline', 'realtime'],
    activity: 'signin',
    premium: true,
    mitre: 'T1110.003',
  },
  {
    type: 'anomalousToken',
    weight: 5,
    source: 'IdentityProtection',
    timing: ['realtime', 'offline'],
    activity: 'signin',
    premium: true,
    mitre: 'T1539',
  },
  { type: 'tokenIssuerAnomaly', weight: 1, source: 'IdentityProtection', timing: ['offline'], activity: 'signin', premium: true, mitre: 'T1606.002' },
  { type: 'newCountry', weight: 3, source: 'MicrosoftCloudAppSecurity', timing: ['offline'], activity: 'signin', premium: true },
  { type: 'suspiciousBrowser', weight: 1.5, source: 'IdentityProtection', timing: ['offline'], activity: 'signin', premium: true },
  {
    type: 'suspiciousInboxForwarding',
    weight: 1,
    source: 'MicrosoftCloudAppSecurity',
    timing: ['offline'],
    activity: 'signin',
    premium: true,
    mitre: 'T1114.003',
  },
  {
    type: 'mcasSuspiciousInboxManipulationRules',
    weight: 1,
    source: 'MicrosoftCloudAppSecurity',
    timing: ['offline'],
    activity: 'signin',
    premium: true,
  },
  { type: 'mcasFinSuspiciousFileAccess', weight: 0.5, source: 'MicrosoftCloudAppSecurity', timing: ['offline'], activity: 'signin', premium: true },
  { type: 'nationStateIP', weight: 0.5, source: 'IdentityProtection', timing: ['realtime'], activity: 'signin', premium: true },
  { type: 'authenticatorPhishing', weight: 0.5, source: 'IdentityProtection', timing: ['realtime'], activity: 'signin', premium: true },
  {
    type: 'investigationsThreatIntelligence',
    weight: 1.5,
    source: 'IdentityProtection',
    timing: ['offline', 'realtime'],
    activity: 'signin',
    premium: false,
  },
  { type: 'generic', weight: 0.5, source: 'IdentityProtection', timing: ['offline', 'realtime'], activity: 'signin', premium: false },
  // user detections
  { type: 'leakedCredentials', weight: 8, source: 'IdentityProtection', timing: ['offline'], activity: 'user', premium: false, mitre: 'T1589.001' },
  { type: 'investigationsThreatIntelligence', weight: 1.5, source: 'IdentityProtection', timing: ['offline'], activity: 'user', premium: false },
  { type: 'adminConfirmedUserCompromised', weight: 1.5, source: 'IdentityProtection', timing: ['offline'], activity: 'user', premium: false },
  { type: 'anomalousUserActivity', weight: 1, source: 'IdentityProtection', timing: ['offline'], activity: 'user', premium: true },
  { type: 'attackerinTheMiddle', weight: 1, source: 'IdentityProtection', timing: ['offline'], activity: 'user', premium: true, mitre: 'T1557' },
  { type: 'attemptedPrtAccess', weight: 0.5, source: 'IdentityProtection', timing: ['offline'], activity: 'user', premium: true },
  { type: 'suspiciousAPITraffic', weight: 1, source: 'IdentityProtection', timing: ['offline'], activity: 'user', premium: true },
  { type: 'suspiciousSendingPatterns', weight: 0.5, source: 'IdentityProtection', timing: ['offline'], activity: 'user', premium: true },
  { type: 'userReportedSuspiciousActivity', weight: 1, source: 'IdentityProtection', timing: ['offline'], activity: 'user', premium: true },
];

const PREMIUM = new Set(RISK_EVENT_TYPES.filter((e) => e.premium).map((e) => e.type));

/** Whether P1 and Free tenants see this detection only as `generic` (unknown types count as premium: they are new). */
export function isPremiumDetection(riskEventType: string | null | undefined): boolean {
  if (riskEventType === null || riskEventType === undefined) return false;
  return PREMIUM.has(riskEventType) || !RISK_EVENT_TYPES.some((e) => e.type === riskEventType);
}

/** Object ids of the tenant's security admins: who dismisses risk or confirms compromise in the generated histories. */
export const ADMIN_IDS = [
  '68ca8ec0-11f8-456b-a785-70d9936650d5',
  '3f2a9c1e-7b4d-4e8a-9c51-2d6f0a8b7e13',
  'b71e4d20-5c3a-4f9e-8d2b-91a6c0e4f357',
] as const;

export const LOCATIONS: readonly { city: string; state: string; countryOrRegion: string; latitude: number; longitude: number }[] = [
  { city: 'Redmond', state: 'Washington', countryOrRegion: 'US', latitude: 47.674, longitude: -122.1215 },
  { city: 'New York', state: 'New York', countryOrRegion: 'US', latitude: 40.7128, longitude: -74.006 },
  { city: 'São Paulo', state: 'São Paulo', countryOrRegion: 'BR', latitude: -23.5505, longitude: -46.6333 },
  { city: 'München', state: 'Bayern', countryOrRegion: 'DE', latitude: 48.1351, longitude: 11.582 },
  { city: 'Zürich', state: 'Zürich', countryOrRegion: 'CH', latitude: 47.3769, longitude: 8.5417 },
  { city: 'Kraków', state: 'Małopolskie', countryOrRegion: 'PL', latitude: 50.0647, longitude: 19.945 },
  { city: 'Reykjavík', state: 'Höfuðborgarsvæðið', countryOrRegion: 'IS', latitude: 64.1466, longitude: -21.9426 },
  { city: 'Beijing', state: 'Beijing', countryOrRegion: 'CN', latitude: 39.9042, longitude: 116.4074 },
  { city: 'Lagos', state: 'Lagos', countryOrRegion: 'NG', latitude: 6.5244, longitude: 3.3792 },
  { city: 'Amsterdam', state: 'Noord-Holland', countryOrRegion: 'NL', latitude: 52.3676, longitude: 4.9041 },
  { city: 'Dublin', state: 'Dublin', countryOrRegion: 'IE', latitude: 53.3498, longitude: -6.2603 },
  { city: 'Ho Chi Minh City', state: 'Hồ Chí Minh', countryOrRegion: 'VN', latitude: 10.8231, longitude: 106.6297 },
  { city: 'Montréal', state: 'Quebec', countryOrRegion: 'CA', latitude: 45.5019, longitude: -73.5674 },
  { city: 'Tokyo', state: 'Tokyo', countryOrRegion: 'JP', latitude: 35.6762, longitude: 139.6503 },
  { city: 'Sydney', state: 'New South Wales', countryOrRegion: 'AU', latitude: -33.8688, longitude: 151.2093 },
];

export const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'python-requests/2.32.3',
  'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)',
  'Mozilla/5.0 (compatible; "quoted" agent\\with backslash)',
] as const;

export const UNFAMILIAR_REASONS = ['UnfamiliarASN', 'UnfamiliarBrowser', 'UnfamiliarDevice', 'UnfamiliarIP', 'UnfamiliarLocation'] as const;

/** Public-looking first octets (no private ranges). */
export const IPV4_FIRST_OCTETS = [20, 31, 40, 51, 52, 77, 81, 89, 102, 103, 104, 109, 141, 176, 185, 193, 197, 203, 213] as const;
