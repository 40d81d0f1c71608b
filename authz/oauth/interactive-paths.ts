import { OAUTH_PATHS } from './paths.js';

/** Where the login and consent forms post to, and where their stylesheet is served. */
export const INTERACTIVE_PATHS = {
  login: `${OAUTH_PATHS.authorize}/login`,
  consent: `${OAUTH_PATHS.authorize}/consent`,
} as const;
