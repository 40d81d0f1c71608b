/**
 * Lifetimes and limits of the interactive flows, in one place. The ones an operator may need
 * to change are also config keys (tokens.*); the rest are deliberate security choices.
 */

/** RFC 6749 §4.1.2 recommends at most 10 minutes; codes are redeemed within seconds in practice. */
export const AUTHORIZATION_CODE_TTL_SECONDS = 60;
/** Refresh tokens (offline_access / online_access), unless tokens.refresh_token_ttl says otherwise. */
export const REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
/** How long a signed-in browser skips the login page. */
export const SESSION_TTL_SECONDS = 30 * 60;
/** How long a user may take between the authorize request and pressing Allow/Deny. */
export const INTERACTION_TTL_SECONDS = 10 * 60;

// The sign-in lockout thresholds are config keys (`login_protection`, defaults in
// config/schema.ts LOGIN_PROTECTION_DEFAULTS). The delay below is not: it only slows guessing.
/** Each failure so far adds this much delay to the next failed answer, up to the cap. */
export const FAILURE_DELAY_STEP_MS = 200;
export const FAILURE_DELAY_CAP_MS = 2000;

/** Longest state / nonce accepted: they are echoed back and stored, so they must stay small. */
export const MAX_STATE_LENGTH = 1024;
export const MAX_NONCE_LENGTH = 512;
