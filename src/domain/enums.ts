/**
 * The enum values Identity Protection is known to send, shared by the product and the Graph emulator so the two agree.
 * All of them are evolvable: Graph adds members, and a value missing here is still a valid value to store as it comes.
 *
 * Sources: the Microsoft Graph reference (riskLevel, riskState, riskDetail enum types; riskDetection.riskEventType) and
 * the Entra "What are risk detections?" page (the riskEventType column of its two tables), as of 2026.
 */

/** riskLevel, in wire order. */
export const RISK_LEVEL = ['low', 'medium', 'high', 'hidden', 'none', 'unknownFutureValue'] as const;

/** riskState, in wire order. */
export const RISK_STATE = ['none', 'confirmedSafe', 'remediated', 'dismissed', 'atRisk', 'confirmedCompromised', 'unknownFutureValue'] as const;

/**
 * riskDetail, in wire order. Members after `unknownFutureValue` are sent only to clients that send
 * `Prefer: include-unknown-enum-members`; the others get `unknownFutureValue` instead. The agent members come from the
 * riskDetail enum as the beta reference lists it (risky agents); v1.0 shares the enum type.
 */
export const RISK_DETAIL = [
  'none',
  'adminGeneratedTemporaryPassword',
  'userPerformedSecuredPasswordChange',
  'userPerformedSecuredPasswordReset',
  'adminConfirmedSigninSafe',
  'aiConfirmedSigninSafe',
  'userPassedMFADrivenByRiskBasedPolicy',
  'adminDismissedAllRiskForUser',
  'adminConfirmedSigninCompromised',
  'hidden',
  'adminConfirmedUserCompromised',
  'unknownFutureValue',
  'adminConfirmedServicePrincipalCompromised',
  'adminDismissedAllRiskForServicePrincipal',
  'm365DAdminDismissedDetection',
  'userChangedPasswordOnPremises',
  'adminDismissedRiskForSignIn',
  'adminConfirmedAccountSafe',
  'adminConfirmedAgentSafe',
  'adminConfirmedAgentCompromised',
  'adminDismissedRiskForAgent',
  'microsoftRevokedSessions',
] as const;

/**
 * riskEventType is a plain string on the wire (no unknownFutureValue): new detections appear as new strings. These are
 * the values the Entra detection tables map to, plus the older names the Graph reference still lists
 * (impossibleTravel, malwareInfectedIPAddress, suspiciousIPAddress, ...).
 */
export const RISK_EVENT_TYPE = [
  'adminConfirmedUserCompromised',
  'anomalousToken',
  'anomalousUserActivity',
  'anonymizedIPAddress',
  'attackerinTheMiddle',
  'attemptedPrtAccess',
  'authenticatorPhishing',
  'generic',
  'impossibleTravel',
  'investigationsThreatIntelligence',
  'investigationsThreatIntelligenceSigninLinked',
  'leakedCredentials',
  'maliciousIPAddress',
  'maliciousIPAddressValidCredentialsBlockedIP',
  'malwareInfectedIPAddress',
  'mcasFinSuspiciousFileAccess',
  'mcasImpossibleTravel',
  'mcasSuspiciousInboxManipulationRules',
  'nationStateIP',
  'newCountry',
  'passwordSpray',
  'riskyIPAddress',
  'suspiciousAPITraffic',
  'suspiciousBrowser',
  'suspiciousInboxForwarding',
  'suspiciousIPAddress',
  'suspiciousSendingPatterns',
  'tokenIssuerAnomaly',
  'unfamiliarFeatures',
  'unlikelyTravel',
  'userReportedSuspiciousActivity',
] as const;

export type RiskLevel = (typeof RISK_LEVEL)[number];
export type RiskState = (typeof RISK_STATE)[number];
export type RiskDetail = (typeof RISK_DETAIL)[number];
export type RiskEventType = (typeof RISK_EVENT_TYPE)[number];
